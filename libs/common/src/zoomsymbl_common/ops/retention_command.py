"""``zoomsymbl retention``: erase the meetings older than their tenant's ``retention_days``.

Without ``--yes`` it only lists what has expired, per tenant: how many meetings and reconciliation records, which
are still in flight (kept for a later run), how many are left past ``--limit``. With ``--yes`` it forgets each
expired meeting not in flight exactly as ``zoomsymbl forget --yes`` does (tombstone, S3 objects, documents, the
provider's copy). A tenant without ``retention_days`` keeps everything. A meeting whose documents name a bucket
that cannot be read (a name no S3 bucket has) is left whole and listed with the reason (exit code 1), and the run
goes on. A meeting written to while it was erased (a webhook's retry) is listed with what was left (exit code 1;
``zoomsymbl erasures --yes`` erases it). Run it daily (the chart's ``retention`` CronJob does); see docs/forget.md,
"Retention".
"""

from __future__ import annotations

import argparse
import asyncio
import re

from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, UsageError
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.ops.retention import MAX_LIMIT, TenantSweep, sweep
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TENANT_ID_PATTERN, TenantConfig, load_tenants

EXAMPLES = (
    "zoomsymbl retention",
    "zoomsymbl retention --yes",
    "zoomsymbl retention --tenant acme --yes --limit 500 --json",
)
DEFAULT_LIMIT = 200


def arguments(parser: argparse.ArgumentParser) -> None:
    """Which tenants, how many meetings, and the confirmation."""
    parser.add_argument("--tenant", help="only this tenant (default: every tenant with retention_days)")
    parser.add_argument("--yes", action="store_true", help="erase the expired meetings (default: only list them)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"most meetings erased per tenant and run (1-{MAX_LIMIT})"
    )


def _tenants(args: argparse.Namespace) -> list[TenantConfig]:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    tenants = load_tenants().all()
    if args.tenant is None:
        return tenants
    if not re.fullmatch(TENANT_ID_PATTERN, args.tenant):
        raise UsageError("--tenant is not a tenant id")
    chosen = [tenant for tenant in tenants if tenant.id == args.tenant]
    if not chosen:
        raise UsageError(f"tenant {args.tenant!r} is not configured (ZOOMSYMBL_TENANTS_FILE)")
    return chosen


async def _run(infra: InfraSettings, args: argparse.Namespace, tenants: list[TenantConfig]) -> list[TenantSweep]:
    mongo = make_mongo(infra)
    cache: dict[str, ObjectStore] = {}

    def stores(buckets: set[str]) -> list[ObjectStore]:
        for bucket in sorted({infra.s3_bucket} | buckets):
            cache.setdefault(bucket, ObjectStore(infra, bucket=bucket))
        return [cache[bucket] for bucket in sorted({infra.s3_bucket} | buckets)]

    try:
        now = utcnow()
        return [await sweep(mongo, stores, tenant, now, limit=args.limit, erase=args.yes) for tenant in tenants]
    finally:
        await mongo.close()


def _text(sweeps: list[TenantSweep], erase: bool) -> str:
    lines = []
    for done in sweeps:
        if done.retention_days is None:
            lines.append(f"{done.tenant}: no retention_days, every meeting kept")
            continue
        cutoff = done.cutoff.isoformat(timespec="seconds") if done.cutoff else "?"
        head = f"{done.tenant}: {done.expired} expired (created before {cutoff}, {done.retention_days} days)"
        if erase:
            head += f"; {done.erased} erased"
        else:
            head += f"; dry run, {done.taken} would be erased"
        if done.in_flight:
            head += f"; {len(done.in_flight)} in flight, kept"
        if done.failed:
            head += f"; {len(done.failed)} {'not' if erase else 'would not be'} erased (a bucket cannot be read)"
        if done.stored_again:
            head += f"; {len(done.stored_again)} written to during the erase"
        if done.left_for_next_run:
            head += f"; {done.left_for_next_run} left for the next run (--limit)"
        lines.append(head)
        lines += [f"  provider copy not deleted: {printable(copy)}" for copy in done.provider_copies_left]
        lines += [f"  not erased: {printable(uuid)}: {printable(why)}" for uuid, why in done.failed.items()]
        lines += [
            f"  written to during the erase: {printable(uuid)}: {n} document(s) or object(s)"
            for uuid, n in done.stored_again.items()
        ]
    return "\n".join(lines) or "no tenants"


def run(args: argparse.Namespace) -> Result:
    """List, or erase, the expired meetings."""
    tenants = _tenants(args)
    sweeps = asyncio.run(_run(load_settings(InfraSettings), args, tenants))
    data = {"mode": "erase" if args.yes else "dry run", "tenants": [done.as_json() for done in sweeps]}
    message = _problems(sweeps, args.yes)
    return Result(data=data, text=_text(sweeps, args.yes), code=EXIT_FAILED if message else 0, message=message)


def _problems(sweeps: list[TenantSweep], erase: bool) -> str | None:
    """The stderr line of a run that left something undone (None: it did not)."""
    problems = []
    left = sum(len(done.provider_copies_left) for done in sweeps)
    if left:
        problems.append(f"{left} provider copy(ies) not deleted (local copies erased); the next run asks again")
    failed = sum(len(done.failed) for done in sweeps)
    if failed:
        problems.append(
            f"{failed} expired meeting(s) {'not' if erase else 'would not be'} erased: their documents name a bucket"
            " that cannot be read (listed); correct the bucket name in their documents, then run it again"
        )
    again = sum(len(done.stored_again) for done in sweeps)
    if again:
        problems.append(
            f"{again} meeting(s) written to during the erase (listed; their tombstones are kept):"
            " run `zoomsymbl erasures --yes` to erase what was written"
        )
    return "; ".join(problems) or None


def register() -> Command:
    """The ``retention`` subcommand."""
    return Command(
        name="retention",
        summary="erase meetings older than their tenant's retention_days (dry run unless --yes)",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
