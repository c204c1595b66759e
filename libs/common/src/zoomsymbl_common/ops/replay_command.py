"""``zoomsymbl replay``: re-publish retained Kafka events, or rewind a stopped consumer group.

Without ``--force`` handlers do nothing twice. With ``--force`` each selected meeting is processed
again under a new generation (a new provider job, an e-mail marked as an update), so ``--force``
needs a selection (``--tenant``, ``--meeting``, ``--since``/``--until``) or ``--yes``: without them
the command only counts what it would reprocess and exits with code 4. A forced replay prints its
id on stderr first; when it stops part-way (a server gone, Ctrl-C), the same command with
``--resume <id>`` finishes it: meetings it already reprocessed keep their generation (no second
update e-mail), the others get a new one.

Only the pipeline's event topics and their ``.dlq`` topics are replayed, each onto itself or, for
``.dlq``, onto the topic its name says: messages that are not a valid event of that topic
(``invalid``) and dead letters naming another topic (``misrouted``) are counted and skipped. A
replay that a server or a send stops part-way reports its counts so far with the error. A ``--dry-run`` reads
MongoDB's tombstones as the run would: it counts the events of forgotten meetings (``forgotten``) and those
retained twice (``skipped``) as the run would, and ``would_publish`` what is left. ``--group``
moves the whole group to ``--since`` and nothing else, so it refuses ``--dry-run``, ``--tenant``,
``--meeting``, ``--until``, ``--force``, ``--yes`` and ``--resume`` (exit code 2) rather than ignore them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict, replace

from zoomsymbl_common.kafka import probe_bootstrap
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.ops.command import EXIT_REFUSED, Command, Result, UsageError, utc_time
from zoomsymbl_common.ops.replay import (
    REPLAY_ID,
    ReplayCounts,
    ReplayRequest,
    new_replay_id,
    progress,
    replay,
    unfiltered,
    would_publish,
)
from zoomsymbl_common.ops.replay_source import destination, refuse_force, reset_group
from zoomsymbl_common.settings import InfraSettings, load_settings

EXAMPLES = (
    "zoomsymbl replay --topic zoom.recording-completed.v1 --since 2026-06-01T00:00 --until 2026-06-02T00:00 --dry-run",
    "zoomsymbl replay --topic audio.mixed.v1 --meeting 'aBcD1234+xyz==' --force",
    "zoomsymbl replay --topic audio.mixed.v1 --tenant acme --since 2026-06-01T00:00 --force --resume 3f9c2a7d1b6e4c08",
    "zoomsymbl replay --topic audio.mixed.v1.dlq --since 2026-06-01T00:00 --tenant acme",
    "zoomsymbl replay --topic audio.mixed.v1 --group zoomsymbl-submitter --since 2026-06-01T00:00",
)
# What --group would ignore (it moves the whole group to --since), as (argument, option): refused, not ignored.
NOT_WITH_GROUP = (
    ("dry_run", "--dry-run"),
    ("tenant", "--tenant"),
    ("meeting", "--meeting"),
    ("until", "--until"),
    ("force", "--force"),
    ("yes", "--yes"),
    ("resume", "--resume"),
)


def _replay_id(value: str) -> str:
    if not REPLAY_ID.fullmatch(value):
        raise argparse.ArgumentTypeError("a replay id is 1 to 64 letters, digits, '-' or '_' (as printed by --force)")
    return value


def arguments(parser: argparse.ArgumentParser) -> None:
    """The selection, the mode, and the confirmation."""
    parser.add_argument("--topic", required=True, help="e.g. zoom.recording-completed.v1 or audio.mixed.v1.dlq")
    parser.add_argument("--since", type=utc_time, help="ISO time (UTC when no offset is given)")
    parser.add_argument("--until", type=utc_time, help="ISO time")
    parser.add_argument("--tenant")
    parser.add_argument("--meeting", help="meeting UUID")
    parser.add_argument("--dry-run", action="store_true", help="count only")
    parser.add_argument(
        "--force",
        action="store_true",
        help="reprocess under a new generation (zoom.recording-completed.v1 or audio.mixed.v1, or their .dlq)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm --force without a selection (every event)")
    parser.add_argument(
        "--resume",
        type=_replay_id,
        metavar="ID",
        help="finish the forced replay ID that stopped part-way (meetings it reprocessed are not reprocessed again)",
    )
    parser.add_argument(
        "--group",
        help="instead of re-publishing, move this (stopped) consumer group to --since (no other option)",
    )


def _request(args: argparse.Namespace) -> ReplayRequest:
    return ReplayRequest(
        topic=args.topic,
        since=args.since,
        until=args.until,
        tenant=args.tenant,
        meeting=args.meeting,
        dry_run=args.dry_run,
        force=args.force,
        replay_id=args.resume,
    )


def _counted(request: ReplayRequest, counts: ReplayCounts, mode: str) -> dict[str, object]:
    counted: dict[str, object] = {"topic": request.topic, "mode": mode, **asdict(counts)}
    if mode in ("dry run", "refused"):  # published nothing: what the run would publish
        counted["would_publish"] = would_publish(counts)
    return counted


def _line(mode: str, counts: ReplayCounts) -> str:
    planned = f" would_publish={would_publish(counts)}" if mode == "dry run" else ""
    return (
        f"replay ({mode}): {progress(counts)}{planned} (skipped: the same event retained twice;"
        " invalid: not a valid event of the topic; misrouted: a dead letter naming another topic;"
        " forgotten: a meeting erased with zoomsymbl forget, never re-published)"
    )


def refuse_conflicts(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` for options that would be ignored: see :func:`refuse_group_conflicts`,
    ``--resume`` without ``--force`` or with ``--dry-run``; and for a window that ends before it starts."""
    refuse_group_conflicts(args)
    if args.since and args.until and args.until < args.since:
        raise UsageError(
            f"--until {args.until.isoformat()} is before --since {args.since.isoformat()}: the window selects nothing"
        )
    if args.resume and (not args.force or args.dry_run):
        raise UsageError("--resume finishes a forced replay: it needs --force and cannot be a --dry-run")


def refuse_group_conflicts(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` when ``--group`` comes with an option it would ignore (a dry run that moves it)."""
    ignored = [option for name, option in NOT_WITH_GROUP if getattr(args, name)]
    if args.group and ignored:
        raise UsageError(
            f"--group cannot be combined with {', '.join(ignored)}: it moves the whole group to --since, with no"
            " dry run, filter, --until or --force; drop them, or drop --group to re-publish instead"
        )


async def _run(infra: InfraSettings, args: argparse.Namespace) -> Result:
    request = _request(args)
    if not args.group:
        destination(infra, request.topic)  # a topic that is not an event topic is refused before connecting
    if request.force:
        refuse_force(infra, request.topic)
    await probe_bootstrap(infra.kafka_bootstrap)
    if args.group:
        offsets = await reset_group(infra, args.group, request.topic, request.since)
        data = {"topic": request.topic, "group": args.group, "offsets": {str(p): o for p, o in offsets.items()}}
        return Result(data=data, text=f"group {args.group!r} on {request.topic!r} moved to offsets {offsets}")
    # Every replay reads the tombstones (a forgotten meeting is never re-published), a dry run too: it counts what
    # the run would do. MongoDB is opened after Kafka answered, and reached only once an event is matched.
    mongo = make_mongo(infra)
    try:
        return await _replayed(infra, mongo, args, request)
    finally:
        await mongo.close()


async def _replayed(infra: InfraSettings, mongo: Mongo, args: argparse.Namespace, request: ReplayRequest) -> Result:
    if request.force and not request.dry_run and unfiltered(request) and not args.yes:
        counts = await replay(infra, mongo, replace(request, dry_run=True, force=False))
        message = (
            f"refused: --force with no --tenant, --meeting, --since or --until would reprocess all"
            f" {would_publish(counts)} retained events of {request.topic!r} (a new provider job and e-mail each);"
            " add a filter, or --yes to reprocess them all"
        )
        text = _line("dry run", counts)
        return Result(data=_counted(request, counts, "refused"), text=text, code=EXIT_REFUSED, message=message)
    mode = "dry run" if request.dry_run else ("forced" if request.force else "idempotent")
    if request.force and not request.dry_run:
        request = replace(request, replay_id=request.replay_id or new_replay_id())
        verb = "resuming" if args.resume else "starting"
        print(
            f"zoomsymbl replay: {verb} forced replay {request.replay_id}; if it stops part-way, run the same"
            f" command with --resume {request.replay_id}",
            file=sys.stderr,
            flush=True,
        )
    counts = await replay(infra, mongo, request)
    return Result(data=_counted(request, counts, mode), text=_line(mode, counts))


def run(args: argparse.Namespace) -> Result:
    """Replay or rewind as ``args`` ask."""
    refuse_conflicts(args)
    return asyncio.run(_run(load_settings(InfraSettings), args))


def register() -> Command:
    """The ``replay`` subcommand."""
    return Command(
        name="replay",
        summary="re-publish retained events, or rewind a consumer group",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
