"""``zoomsymbl reconcile``: flag a tenant's past meetings that should have been archived and never were.

Lists the past meetings of Zoom's dashboard (``GET /metrics/meetings``, scope
``dashboard_meetings:read:admin``, a Business or higher plan) as bulk work in the account's shared
quota, and writes a ``recording_failed`` record for each expected meeting the archive never saw
(reconcile.py), and likewise Zoom Phone calls from the call history (``GET /phone/call_history``, scope
``phone:read:list_call_logs:admin``; without Zoom Phone the report notes ``phone_error`` and the
meetings are still reconciled: reconcile_phone.py). ``zoomsymbl status --failed`` lists them
afterwards; with ``--digest`` the run's ``zoom.reconciliation-completed.v1`` is published and the
notifier e-mails the tenant's administrators (``admin_emails``) the digest, once per window. Exit code
0 when nothing is missing, 1 when meetings or calls were flagged (now or by an earlier run) or a listing was not
read to its end (cut short; a call history Zoom refused other than as an account without Zoom Phone; a page no Zoom
serves, e.g. one without its list), 2 for a range Zoom cannot list (before :func:`earliest_day`), 3 when MongoDB,
Kafka or Zoom did not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
from datetime import date
from functools import partial

from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import probe_bootstrap
from zoomsymbl_common.mongo import ensure_indexes, make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, UsageError
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_ingest.backfill_command import PREFLIGHT_POLICY, backfill_tenant
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.reconcile import reconcile_and_publish
from zoomsymbl_ingest.reconcile_report import ReconcileReport
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.windows import command_windows

EXAMPLES = (
    "zoomsymbl reconcile --tenant acme --from 2026-11-01 --to 2026-11-30",
    "zoomsymbl reconcile --from 2026-12-01 --json   # the default tenant, up to today (UTC)",
    "zoomsymbl reconcile --tenant acme --from 2026-12-02 --to 2026-12-02 --digest   # and e-mail the admins",
)

ZOOM_REACH_MONTHS = 6
"""Zoom's dashboard lists meetings of the last six months only ("The month should fall within the last six
months", its reference for ``GET /metrics/meetings``); the call history is taken to reach as far."""


def earliest_day(today: date) -> date:
    """The first day a reconciliation may list: the same day :data:`ZOOM_REACH_MONTHS` months before ``today``
    (the end of that month when it is shorter)."""
    year, month = divmod(today.year * 12 + today.month - 1 - ZOOM_REACH_MONTHS, 12)
    return date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def check_range(from_: date, to: date, today: date) -> None:
    """Refuse (ValueError) what ``command_windows`` refuses, and a range starting before :func:`earliest_day`:
    Zoom answers nothing usable there, and a call history refused on the first window reads as "no Zoom Phone"."""
    command_windows(from_, to, today)
    if from_ < (earliest := earliest_day(today)):
        raise ValueError(
            f"range starts ({from_.isoformat()!r}) before {earliest.isoformat()!r}: Zoom's dashboard and call"
            f" history reach back {ZOOM_REACH_MONTHS} months only"
        )


def arguments(parser: argparse.ArgumentParser) -> None:
    """``--tenant``, ``--from``, ``--to``."""
    parser.add_argument("--tenant", help="tenant id (default: the default tenant)")
    parser.add_argument(
        "--from", dest="from_", type=date.fromisoformat, required=True, metavar="DATE", help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--to", type=date.fromisoformat, metavar="DATE", help="last day (default: today, UTC)")
    parser.add_argument(
        "--digest",
        action="store_true",
        help="publish the run's result to Kafka: the notifier e-mails the tenant's admin_emails (once per window)",
    )


async def reconcile(
    settings: Settings, tenant: TenantConfig, from_: date, to: date, *, digest: bool = False
) -> ReconcileReport:
    """Check MongoDB (and Kafka with ``digest``) and the Zoom API, then reconcile ``from_``..``to`` as bulk work."""
    if digest:
        await probe_bootstrap(settings.infra.kafka_bootstrap)
    mongo = make_mongo(settings.infra)
    producer = Producer(settings.infra) if digest else None
    try:
        await ensure_indexes(mongo)
        publish = None
        if producer is not None:
            await producer.wait_connected(timeout=30.0)
            timeout = max(settings.publish_timeout_seconds, 10.0)
            publish = partial(producer.publish, timeout=timeout)
        return await reconcile_and_publish(mongo, tenant, from_, to, publish, preflight=PREFLIGHT_POLICY)
    finally:
        if producer is not None:
            await producer.close()
        await mongo.close()


def summary(report: ReconcileReport) -> str:
    """What a person reads: the counts, then each meeting flagged by this run."""
    line = (
        f"reconciliation of tenant {report.tenant!r} from {report.from_.isoformat()} to {report.to.isoformat()}:"
        f" listed={report.listed} expected={report.expected} archived={report.archived}"
        f" flagged={report.flagged} already_flagged={report.already_flagged} (pages: {report.pages})"
    )
    if report.listings_cut_short:
        line += f"\n{report.listings_cut_short} listing(s) cut short (page cap or repeated page token)"
    if report.pending:
        line += (
            f"\n{report.pending} recorded meeting(s) or call(s) ended too recently to judge (their recording may"
            " still be processing at Zoom): a later run checks them"
        )
    if report.invalid:
        line += f"\n{report.invalid} listed entr(y/ies) skipped: no record can hold them (see the log)"
    if report.phone_error is not None:
        partly = "after some pages, the rest " if report.phone_partial and report.phone_pages else ""
        line += f"\nphone calls {partly}not reconciled: {printable(report.phone_error)}"
    else:
        line += (
            f"\nphone calls: listed={report.phone_listed} expected={report.phone_expected}"
            f" archived={report.phone_archived} flagged={report.phone_flagged}"
            f" already_flagged={report.phone_already_flagged} resolved={report.phone_resolved}"
            f" (pages: {report.phone_pages})"
        )
    for meeting in report.missing:  # dashboard text is outside text
        line += (
            f"\n  {printable(str(meeting['meeting_uuid']))} host={printable(str(meeting['host']))}"
            f" start={meeting['start_time']}: {printable(str(meeting['reason']))}"
        )
    return line


def run(args: argparse.Namespace) -> Result:
    """Run one reconciliation; exit code 1 when expected meetings are missing from the archive, or when a
    listing was not read to its end (what it did not read is neither flagged nor known to be archived)."""
    today = utcnow().date()
    to = args.to or today
    try:
        check_range(args.from_, to, today)
    except ValueError as exc:
        raise UsageError(str(exc).replace("backfill", "reconciliation")) from None
    tenant = backfill_tenant(args.tenant)
    report = asyncio.run(reconcile(load_settings(Settings), tenant, args.from_, to, digest=args.digest))
    missing = report.missing_total
    if missing == 0 and report.complete:
        return Result(data=report.as_dict(), text=summary(report))
    why = f"{missing} expected meeting(s) or call(s) were never archived (zoomsymbl status --failed lists them)"
    if not report.complete:
        why = "some listings were not read to their end; run it again" + (f"; {why}" if missing else "")
    return Result(data=report.as_dict(), text=summary(report), code=EXIT_FAILED, message=why)


def register() -> Command:
    """The ``reconcile`` subcommand (entry point ``zoomsymbl.commands``)."""
    return Command(
        name="reconcile",
        summary="flag past meetings (Zoom dashboard) that should have been archived and never were",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
        log_level="INFO",
    )
