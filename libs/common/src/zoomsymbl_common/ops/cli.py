"""``zoomsymbl``: the operator's command (replay, status)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.ops.replay import ReplayRequest, replay, reset_group
from zoomsymbl_common.ops.status import format_history, format_listing, list_meetings, meeting_history
from zoomsymbl_common.settings import InfraSettings, load_settings


def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="zoomsymbl", description="Operate a zoomsymbl pipeline.")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="re-publish retained events, or rewind a consumer group")
    rp.add_argument("--topic", required=True, help="e.g. zoom.recording-completed.v1 or audio.mixed.v1.dlq")
    rp.add_argument("--since", type=_when, help="ISO time (UTC when no offset is given)")
    rp.add_argument("--until", type=_when, help="ISO time")
    rp.add_argument("--tenant")
    rp.add_argument("--meeting", help="meeting UUID")
    rp.add_argument("--dry-run", action="store_true", help="count only")
    rp.add_argument("--force", action="store_true", help="reprocess under a new generation")
    rp.add_argument("--group", help="instead of re-publishing, move this (stopped) consumer group to --since")
    st = sub.add_parser("status", help="recent meetings, or one meeting's history")
    st.add_argument("--meeting", help="show this meeting's full history")
    st.add_argument("--tenant")
    st.add_argument("--stage")
    st.add_argument("--failed", action="store_true")
    st.add_argument("--limit", type=int, default=50)
    return parser


async def _replay(infra: InfraSettings, args: argparse.Namespace) -> int:
    if args.group:
        offsets = await reset_group(infra, args.group, args.topic, args.since)
        print(f"group {args.group!r} on {args.topic!r} moved to offsets {offsets}")
        return 0
    request = ReplayRequest(
        topic=args.topic,
        since=args.since,
        until=args.until,
        tenant=args.tenant,
        meeting=args.meeting,
        dry_run=args.dry_run,
        force=args.force,
    )
    mongo = make_mongo(infra) if args.force else None
    try:
        counts = await replay(infra, mongo, request)
    finally:
        if mongo:
            await mongo.close()
    mode = "dry run" if args.dry_run else ("forced" if args.force else "idempotent")
    print(
        f"replay ({mode}): scanned={counts.scanned} matched={counts.matched} published={counts.published}"
        f" skipped={counts.skipped} (same event retained twice)"
    )
    return 0


async def _status(infra: InfraSettings, args: argparse.Namespace) -> int:
    mongo = make_mongo(infra)
    try:
        if args.meeting:
            history = await meeting_history(mongo, args.meeting, args.tenant)
            if history is None:
                print(f"no meeting {args.meeting!r}", file=sys.stderr)
                return 1
            print(format_history(history))
            return 0
        docs = await list_meetings(mongo, tenant=args.tenant, stage=args.stage, failed=args.failed, limit=args.limit)
        print(format_listing(docs))
        return 0
    finally:
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zoomsymbl`` console script."""
    args = build_parser().parse_args(argv)
    infra = load_settings(InfraSettings)
    runner = _replay if args.command == "replay" else _status
    return asyncio.run(runner(infra, args))


if __name__ == "__main__":
    raise SystemExit(main())
