"""``zoomsymbl backfill``: publish a tenant's recordings whose webhooks never arrived.

Account-wide: every user of the Zoom account the tenant's allowlist admits, with counts per user and in
total (``--json``: ``users`` maps each user's e-mail to its counts). A meeting or call erased with ``zoomsymbl
forget`` and still in Zoom's cloud is skipped, counted ``forgotten`` among the skipped (docs/forget.md).

Lives in ingest (it publishes through ingest's intake, so its deduplication applies) and is exposed
as a subcommand of ``zoomsymbl`` through the ``zoomsymbl.commands`` entry-point group. Before
anything is published, MongoDB, Kafka and the Zoom API are each asked once, so a server that is
down ends the command with exit code 3 and its name instead of a report full of failures.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import RetryPolicy, probe_bootstrap
from zoomsymbl_common.mongo import ensure_indexes, make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, UsageError
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.tenants import TenantConfig, has_oauth, load_tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import ZoomQuota
from zoomsymbl_common.zoom_retries import call_with_retries

from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTokens, MongoTombstones
from zoomsymbl_ingest.windows import command_windows

EXAMPLES = (
    "zoomsymbl backfill --tenant acme --from 2026-05-01 --to 2026-06-30",
    "zoomsymbl backfill --from 2026-06-01 --json   # the default tenant, up to today (UTC)",
)
# The Zoom API is asked for a token before anything else: a short, bounded wait, not the run's patience.
PREFLIGHT_POLICY = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=2.0, max_rate_limit_wait=30.0)


def arguments(parser: argparse.ArgumentParser) -> None:
    """``--tenant``, ``--from``, ``--to``."""
    parser.add_argument("--tenant", help="tenant id (default: the default tenant)")
    parser.add_argument(
        "--from", dest="from_", type=date.fromisoformat, required=True, metavar="DATE", help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--to", type=date.fromisoformat, metavar="DATE", help="last day (default: today, UTC)")


def backfill_tenant(tenant_id: str | None) -> TenantConfig:
    """The tenant to backfill; :class:`ConfigError` when it is unknown or has no S2S OAuth credentials."""
    tenants = load_tenants()
    tenant = tenants.get(tenant_id) if tenant_id else tenants.default()
    if tenant is None:
        known = ", ".join(t.id for t in tenants.all()) or "none configured"
        raise ConfigError(
            f"unknown tenant {tenant_id!r} (tenants: {known})",
            variables=("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"),
        )
    if not has_oauth(tenant):
        raise ConfigError(
            f"tenant {tenant.id!r} has no Server-to-Server OAuth credentials (account id, client id, client secret)",
            variables=("ZOOMSYMBL_TENANT_ZOOM_ACCOUNT_ID", "ZOOMSYMBL_TENANT_ZOOM_CLIENT_ID"),
        )
    return tenant


async def backfill(settings: Settings, tenant: TenantConfig, from_: date, to: date) -> BackfillReport:
    """Check MongoDB, Kafka and the Zoom API, then run one backfill through ingest's intake."""
    await probe_bootstrap(settings.infra.kafka_bootstrap)
    mongo = make_mongo(settings.infra)
    producer = Producer(settings.infra)
    intake: Intake | None = None
    try:
        await ensure_indexes(mongo)
        await producer.wait_connected(timeout=30.0)
        intake = Intake(
            publisher=producer,
            receipts=MongoReceipts(mongo),
            tokens=MongoTokens(mongo),
            metrics=IngestMetrics.create(),
            publish_timeout=max(settings.publish_timeout_seconds, 10.0),
            store_timeout=max(settings.mongo_timeout_seconds, 2.0),
            store_concurrency=settings.mongo_concurrency,
        )
        # A backfill is bulk work: it shares the account's allowance and leaves the reserved share to webhooks.
        quota = ZoomQuota.of_tenant(mongo, tenant)
        async with ZoomClient(tenant, quota=quota, priority="bulk") as client:
            await call_with_retries(client.access_token, policy=PREFLIGHT_POLICY)
            return await Backfill(intake, tenant, client, tombstones=MongoTombstones(mongo)).run(from_, to)
    finally:
        if intake is not None:
            await intake.close()  # the receipts written behind each publish: later backfills skip these meetings
        await producer.close()
        await mongo.close()


def summary(report: BackfillReport) -> str:
    """One line a person reads."""
    line = (
        f"backfill of tenant {report.tenant!r} from {report.from_.isoformat()} to {report.to.isoformat()}:"
        f" seen={report.seen} new={report.new} skipped={report.skipped}{_forgotten(report.forgotten)}"
        f" failed={report.failed} (phone recordings: {report.phone_recordings})"
    )
    # The errors may quote what Zoom answered: outside text, shown printable.
    if report.phone_error:
        line += f" (phone recordings not listed: {printable(report.phone_error)})"
    line += f" (listing stopped: {printable(report.error)})" if report.error else ""
    line += f"\nusers: {len(report.users)} listed, {report.users_not_allowed} outside the allowlist"
    line += f", {report.listing_restarts} listing restart(s) after an expired page token"
    if report.listings_cut_short:
        line += f", {report.listings_cut_short} listing(s) cut short (page cap or repeated page token)"
    if report.listings_failed:
        line += f", {report.listings_failed} listing(s) refused by Zoom"
    if report.users_error:
        whom = "only the app's owner" if list(report.users) == ["me"] else "only those read before"
        line += f" (account users not listed in full, {whom}: {printable(report.users_error)})"
    for label, counts in sorted(report.users.items()):
        line += (
            f"\n  {printable(label)}: seen={counts.seen} new={counts.new}"
            f" skipped={counts.skipped}{_forgotten(counts.forgotten)} failed={counts.failed}"
        )
        line += f" (not listed: {printable(counts.error)})" if counts.error else ""
    return line


def _forgotten(count: int) -> str:
    """Why some were skipped: erased with ``zoomsymbl forget``, still in Zoom's cloud (docs/forget.md)."""
    return f" (forgotten={count})" if count else ""


def run(args: argparse.Namespace) -> Result:
    """Run one backfill; exit code 1 when a meeting failed, or a listing stopped or was cut short."""
    to = args.to or utcnow().date()
    try:
        command_windows(args.from_, to, utcnow().date())  # a bad range is refused before connecting
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tenant = backfill_tenant(args.tenant)
    settings = load_settings(Settings)
    report = asyncio.run(backfill(settings, tenant, args.from_, to))
    if report.ok:
        return Result(data=report.as_dict(), text=summary(report))
    why = report.error or (
        f"{report.failed} meeting(s) could not be published (see the log lines above)"
        if report.failed
        else f"{report.listings_cut_short + report.listings_failed} listing(s) cut short or refused by Zoom:"
        " recordings beyond them were not listed"
    )
    return Result(data=report.as_dict(), text=summary(report), code=EXIT_FAILED, message=why)


def register() -> Command:
    """The ``backfill`` subcommand (entry point ``zoomsymbl.commands``)."""
    return Command(
        name="backfill",
        summary="publish recordings whose webhooks never arrived (Zoom recordings API)",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
        log_level="INFO",
    )
