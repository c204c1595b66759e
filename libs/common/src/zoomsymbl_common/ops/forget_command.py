"""``zoomsymbl forget``: erase one meeting (or call) for good, as a deletion request (GDPR art. 17) asks.

Without ``--yes`` it only counts what it would delete: documents per MongoDB collection, objects per S3
prefix, provider copies (never contents). With ``--yes`` it writes the meeting's tombstone first (the mixer
and ``zoomsymbl replay`` then leave the meeting alone, whatever Kafka, Zoom or a backfill bring back), deletes
its objects and documents, and asks AssemblyAI or Symbl to delete their copy. A meeting still in flight (not
notified or failed, a provider job or an e-mail unfinished) is refused unless ``--force``: a service in the
middle of it may write a document after the erase (a second run deletes it). A provider that cannot be reached
or refuses leaves its copy on the tombstone and the exit code 1: the same command again deletes what is left
and asks again. A bucket named by the meeting's documents whose name is no S3 bucket's (so it cannot be listed)
is reported with exit code 1 and nothing is deleted, dry run or not. A request that comes before the meeting is in the
archive (Zoom sends a recording up to a day after the meeting; a backfill brings an older one) is recorded with
``--ahead --yes``: the tombstone alone, so the meeting is never archived when it comes. See docs/forget.md.
"""

from __future__ import annotations

import argparse
import asyncio
import re

from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_REFUSED, Command, Result, UsageError
from zoomsymbl_common.ops.forget import Holdings, buckets_named, forget, survey
from zoomsymbl_common.ops.forget_providers import CopyOutcome
from zoomsymbl_common.ops.forget_report import holdings_data, holdings_text, outcome_line, unusable_lines
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TENANT_ID_PATTERN, load_tenants

EXAMPLES = (
    "zoomsymbl forget --tenant acme --meeting 'aBcD1234+xyz=='",
    "zoomsymbl forget --tenant acme --meeting 'aBcD1234+xyz==' --yes",
    "zoomsymbl forget --tenant acme --meeting 'aBcD1234+xyz==' --yes --force --json",
    "zoomsymbl forget --tenant acme --meeting 'aBcD1234+xyz==' --yes --ahead   # not archived yet: never will be",
)
MAX_UUID = 1024


def arguments(parser: argparse.ArgumentParser) -> None:
    """The meeting, and the confirmations."""
    parser.add_argument("--tenant", required=True, help="the meeting's tenant id")
    parser.add_argument("--meeting", required=True, help="the meeting (or call) UUID, exactly as Zoom gives it")
    parser.add_argument("--yes", action="store_true", help="delete (without it: count what would be deleted)")
    parser.add_argument(
        "--force", action="store_true", help="with --yes, also a meeting still in flight (a service may write after)"
    )
    parser.add_argument(
        "--ahead", action="store_true", help="with --yes, a meeting not in the archive (yet): its tombstone alone"
    )


def _check(args: argparse.Namespace) -> None:
    if not re.fullmatch(TENANT_ID_PATTERN, args.tenant):
        raise UsageError(f"{printable(args.tenant)!r} is not a tenant id ({TENANT_ID_PATTERN})")
    if not 0 < len(args.meeting) <= MAX_UUID:
        raise UsageError(f"a meeting UUID has 1 to {MAX_UUID} characters")
    if args.force and not args.yes:
        raise UsageError("--force confirms erasing a meeting in flight: it goes with --yes")
    if args.ahead and not args.yes:
        raise UsageError("--ahead confirms a tombstone for a meeting not in the archive: it goes with --yes")
    if args.ahead and load_tenants().get(args.tenant) is None:  # a misspelt tenant's tombstone would stop nothing
        raise UsageError(f"--ahead needs a configured tenant: {args.tenant!r} is not in this pod's tenants")


def _named(args: argparse.Namespace) -> str:
    return f"meeting {printable(args.meeting)!r} of tenant {args.tenant!r}"


async def _run(infra: InfraSettings, args: argparse.Namespace) -> Result:
    tenant, meeting_uuid = args.tenant, args.meeting
    mongo = make_mongo(infra)
    try:
        buckets = {infra.s3_bucket} | await buckets_named(mongo, tenant, meeting_uuid)
        stores = [ObjectStore(infra, bucket=bucket) for bucket in sorted(buckets)]
        log = next(store for store in stores if store.bucket == infra.s3_bucket)
        holdings = await survey(mongo, stores, tenant, meeting_uuid)
        if holdings.unknown and args.ahead:
            left = (await forget(mongo, stores, holdings, utcnow(), log=log)).left
            text = f"tombstone recorded ahead: the {_named(args)} will not be archived when it comes"
            # The recording came between the look and the tombstone: what it wrote is erased by a second run.
            message = _problem(args, [], left)
            data = holdings_data(left, "forgotten ahead")
            return Result(data=data, text=printable(text), code=EXIT_FAILED if message else 0, message=message)
        if holdings.unknown:
            hint = "; to keep it from being archived when it comes, add --ahead --yes"
            return Result(
                data=holdings_data(holdings, "unknown"), text="", code=EXIT_FAILED, message=f"no {_named(args)}{hint}"
            )
        if holdings.unusable_buckets:
            mode = "failed" if args.yes else "dry run"
            data, text = holdings_data(holdings, mode), holdings_text(holdings, mode)
            return Result(data=data, text=text, code=EXIT_FAILED, message=_unusable(args, holdings))
        if not args.yes:
            return Result(data=holdings_data(holdings, "dry run"), text=holdings_text(holdings, "dry run"))
        if holdings.in_flight and not args.force:
            message = (
                f"refused: the {_named(args)} is in flight ({'; '.join(holdings.in_flight)}); wait until it is"
                " notified or failed, or add --force (a service in the middle of it may write after the erase)"
            )
            data = holdings_data(holdings, "refused")
            return Result(data=data, text=holdings_text(holdings, "refused"), code=EXIT_REFUSED, message=message)
        return await _forget(mongo, stores, holdings, args, log)
    finally:
        await mongo.close()


async def _forget(
    mongo: Mongo, stores: list[ObjectStore], holdings: Holdings, args: argparse.Namespace, log: ObjectStore
) -> Result:
    """Tombstone, objects, documents, provider copies; then what is left, counted again."""
    done = await forget(mongo, stores, holdings, utcnow(), log=log)
    data = {
        **holdings_data(done.left, "erased"),
        "deleted": {"documents": done.documents, "objects": done.objects},
        "provider_deletions": [outcome.as_json() for outcome in done.outcomes],
    }
    text = _erased_text(done.documents, done.objects, done.outcomes, done.left)
    message = _problem(args, done.failed, done.left)
    return Result(data=data, text=text, code=EXIT_FAILED if message else 0, message=message)


def _unusable(args: argparse.Namespace, holdings: Holdings) -> str:
    """The stderr line of a meeting left alone because a bucket its documents name cannot be read."""
    return (
        f"{_named(args)} not erased, nothing deleted: its documents name a bucket that cannot be read"
        f" ({'; '.join(unusable_lines(holdings))}); objects of it may be there. Correct the bucket name in its"
        " documents (the jobs' bucket, the meeting's objects.mixed.bucket), or empty that bucket of it another way"
        " and remove the name, then run it again"
    )


def _erased_text(documents: int, objects: int, outcomes: list[CopyOutcome], left: Holdings) -> str:
    lines = [f"erased {documents} document(s) and {objects} object(s); tombstone kept"]
    lines += [f"  {outcome_line(outcome)}" for outcome in outcomes]
    if left.stored:
        lines.append(holdings_text(left, "left"))
    return "\n".join(lines)


def _problem(args: argparse.Namespace, failed: list[CopyOutcome], left: Holdings) -> str | None:
    """The stderr line of a run that did not finish everything (None: it did)."""
    problems = []
    if failed:
        names = ", ".join(f"{o.copy.provider} {printable(o.copy.copy_id)!r}" for o in failed)
        problems.append(f"provider deletion failed for {names} (local copies erased)")
    if left.stored:
        problems.append(f"{left.stored} document(s) or object(s) written during the erase")
    if not problems:
        return None
    return f"{_named(args)}: {'; '.join(problems)}; run the same command again"


def run(args: argparse.Namespace) -> Result:
    """Count, or erase, what ``args`` names."""
    _check(args)
    return asyncio.run(_run(load_settings(InfraSettings), args))


def register() -> Command:
    """The ``forget`` subcommand."""
    return Command(
        name="forget",
        summary="erase one meeting for good (dry run unless --yes)",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
