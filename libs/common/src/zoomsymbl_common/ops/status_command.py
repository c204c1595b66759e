"""``zoomsymbl status``: recent meetings with their stage and age, or one meeting's whole history.

Topics, e-mail addresses and failure reasons come from outside (Zoom, the provider): the human
output shows them with terminal escape sequences removed and control characters made visible;
``--json`` escapes them the JSON way.
"""

from __future__ import annotations

import argparse
import asyncio

from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, positive_int
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.ops.reconciled import format_never_archived, never_archived
from zoomsymbl_common.ops.status import format_history, format_listing, list_meetings, meeting_history
from zoomsymbl_common.records import STAGE_ORDER
from zoomsymbl_common.settings import InfraSettings, load_settings

EXAMPLES = (
    "zoomsymbl status --failed",
    "zoomsymbl status --tenant acme --limit 20",
    "zoomsymbl status --meeting 'aBcD1234+xyz==' --json",
)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The listing's filters, or one meeting."""
    parser.add_argument("--meeting", help="show this meeting's full history")
    parser.add_argument("--tenant")
    parser.add_argument("--stage", choices=[*STAGE_ORDER, "failed"])
    parser.add_argument("--failed", action="store_true", help="failed meetings only (as --stage failed)")
    parser.add_argument("--limit", type=positive_int, default=50, help="most recently updated first (default: 50)")


async def _run(infra: InfraSettings, args: argparse.Namespace) -> Result:
    mongo = make_mongo(infra)
    try:
        if args.meeting:
            history = await meeting_history(mongo, args.meeting, args.tenant)
            if history is None:
                of_tenant = f" of tenant {args.tenant!r}" if args.tenant else ""
                missing = f"no meeting {printable(args.meeting)!r}{of_tenant}"
                return Result(data={"meeting": None}, text="", code=EXIT_FAILED, message=missing)
            return Result(data=history.as_json(), text=format_history(history))
        listing = await list_meetings(mongo, tenant=args.tenant, stage=args.stage, failed=args.failed, limit=args.limit)
        data = {
            "items": [meeting.model_dump(mode="json") for meeting in listing.meetings],
            "malformed": listing.malformed,
        }
        skipped = len(listing.malformed)
        note = f"{skipped} document(s) do not have the meeting shape and are not shown" if skipped else None
        text = format_listing(listing.meetings)
        if args.failed or args.stage == "failed":  # and the meetings reconciliation found never archived
            flagged = await never_archived(mongo, tenant=args.tenant, limit=args.limit)
            data["never_archived"] = [r.model_dump(mode="json", by_alias=True) for r in flagged]
            text += "\n" + format_never_archived(flagged)
        return Result(data=data, text=text, message=note)
    finally:
        await mongo.close()


def run(args: argparse.Namespace) -> Result:
    """The listing or the history ``args`` ask for."""
    return asyncio.run(_run(load_settings(InfraSettings), args))


def register() -> Command:
    """The ``status`` subcommand."""
    return Command(
        name="status",
        summary="recent meetings, or one meeting's history",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
