"""Reconciliation: past meetings from Zoom's dashboard compared with what the archive holds.

``GET /metrics/meetings?type=past`` (Resource-intensive: each page spends one request of the account's
daily Heavy budget, so the listing runs as ``bulk`` in the shared quota, page_size 300) lists every
meeting that took place. A meeting the tenant's ``reconcile_expect`` policy says should have been
recorded — ``allowlist``: its host is in ``allowed_users``; ``cloud_recording``: the dashboard says it
had a cloud recording; ``any``: every meeting — but which the archive never saw (no ``meetings``
document, no ingest receipt of the last day, no ``conversations`` record) gets a ``conversations`` record with
``recording_failed`` and the reason. The record's unique (tenant, meeting_uuid) index makes a second
run add nothing; a recording archived later replaces the record (the mixer's upsert).

Zoom Phone calls are reconciled in the same run, window by window, from the call history
(reconcile_phone.py); their counts are the report's ``phone_*`` fields, and the run's event counts
meetings and calls together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, Literal

from pydantic import ValidationError
from zoomsymbl_common.events import Event, utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, RECEIPTS, TOMBSTONES, ConversationMetadata, Party
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import MAX_PAGE_SIZE, ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject
from zoomsymbl_common.zoom_quota import QuotaMetrics, ZoomQuota
from zoomsymbl_common.zoom_retries import ZOOM_RETRY_POLICY, call_with_retries

from zoomsymbl_ingest.intake import host_allowed
from zoomsymbl_ingest.paging import MAX_ACCOUNT_PAGES, PageWalk, entry_key, listed_id
from zoomsymbl_ingest.reconcile_pages import insert_flag, listed_pages, settling
from zoomsymbl_ingest.reconcile_phone import PhoneReconciliation
from zoomsymbl_ingest.reconcile_report import ReconcileReport
from zoomsymbl_ingest.stores import AUDIO_RECEIPTS, AUDIO_TAKEN, live_receipts
from zoomsymbl_ingest.windows import month_windows
from zoomsymbl_ingest.zoom_payload import _when

log = logging.getLogger("zoomsymbl.ingest.reconcile")
Expect = Literal["allowlist", "cloud_recording", "any"]
NOT_RECEIVED = (
    "Zoom's dashboard shows a cloud recording that never reached the archive (webhook lost; run zoomsymbl backfill)"
)
NOT_RECORDED = "the meeting ended without a cloud recording (the host did not record, or recording failed at Zoom)"


@dataclass(frozen=True)
class PastMeeting:
    """One past meeting as the dashboard lists it."""

    uuid: str
    meeting_id: str
    topic: str
    host_email: str
    start_time: datetime | None
    end_time: datetime | None
    has_recording: bool

    @classmethod
    def from_dashboard(cls, entry: JsonObject) -> PastMeeting:
        """The meeting of one ``meetings[]`` entry; its ``uuid`` is "" when Zoom listed none, or one no UTF-8 holds
        (paging.listed_id): no record can name it."""
        return cls(
            uuid=listed_id(entry.get("uuid")),
            meeting_id=str(entry.get("id") or ""),
            topic=str(entry.get("topic") or "")[:500],
            host_email=str(entry.get("email") or "")[:320],
            start_time=_when(entry.get("start_time")),
            end_time=_when(entry.get("end_time")),
            has_recording=entry.get("has_recording") is True or entry.get("recording") is True,
        )


def expected(meeting: PastMeeting, tenant: TenantConfig) -> bool:
    """True when the tenant's ``reconcile_expect`` policy says ``meeting`` should be in the archive."""
    policy: Expect = tenant.reconcile_expect
    if policy == "any":
        return True
    if policy == "allowlist":
        return host_allowed(tenant, "", meeting.host_email)
    return meeting.has_recording


def missing_record(tenant: str, meeting: PastMeeting, at: datetime) -> ConversationMetadata:
    """The ``conversations`` record of an expected meeting the archive never saw."""
    duration = (
        (meeting.end_time - meeting.start_time).total_seconds()
        if meeting.start_time and meeting.end_time and meeting.end_time >= meeting.start_time
        else None
    )
    return ConversationMetadata.model_validate(
        {
            "tenant": tenant,
            "meeting_uuid": meeting.uuid,
            "source_platform": "Zoom Meeting",
            "platform_id": meeting.meeting_id,
            "start_time": meeting.start_time,
            "end_time": meeting.end_time,
            "duration_seconds": duration,
            "recorded_user": Party(user=meeting.host_email),
            "topic": meeting.topic,
            "recording_failed": True,
            "failure": NOT_RECEIVED if meeting.has_recording else NOT_RECORDED,
            "reconciled_at": at,
            "written_at": at,
        }
    )


@dataclass
class Reconciliation:
    """Reconciles one tenant's past meetings (its Zoom client) against the archive (MongoDB)."""

    mongo: Mongo
    tenant: TenantConfig
    client: ZoomClient
    policy: RetryPolicy = ZOOM_RETRY_POLICY
    page_size: int = MAX_PAGE_SIZE
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep)
    phone: bool = True

    async def run(self, from_: date, to: date) -> ReconcileReport:
        """List ``from_``..``to`` (one month per listing) page by page; flag each expected, unarchived meeting
        and, unless the account has no Zoom Phone, each expected, unarchived call."""
        report = ReconcileReport(self.tenant.id, from_, to)
        seen: set[str] = set()  # a listing restarted after an expired page token lists meetings again
        calls = PhoneReconciliation(self.mongo, self.tenant, self.client, self.policy, self.page_size, self.sleep)
        for start, end in month_windows(from_, to):
            await self._window(start, end, report, seen)
            if self.phone and report.phone_error is None:
                await calls.window(start, end, report)
        log.info("reconciliation done", extra={"tenant": self.tenant.id, "flagged": report.flagged})
        return report

    async def _window(self, start: date, end: date, report: ReconcileReport, seen: set[str]) -> None:
        fetch = partial(self.client.list_past_meetings, start, end, page_size=self.page_size)
        walk = PageWalk(self.tenant.id, "list past meetings", MAX_ACCOUNT_PAGES, report.count_cut)
        async for page in listed_pages(fetch, report.count_restart, walk, policy=self.policy, sleep=self.sleep):
            report.pages += 1
            fresh: list[PastMeeting] = []
            for entry in page.meetings:
                key = (meeting := PastMeeting.from_dashboard(entry)).uuid or entry_key(entry)
                if key not in seen:
                    fresh.append(meeting)
                    seen.add(key)
            await self._reconcile(fresh, report)

    async def _reconcile(self, meetings: list[PastMeeting], report: ReconcileReport) -> None:
        report.listed += len(meetings)
        wanted = [m for m in meetings if expected(m, self.tenant)]
        report.expected += len(wanted)
        report.skip_unnamed("uuid", sum(not m.uuid for m in wanted))
        wanted = [m for m in wanted if m.uuid]
        known, flagged_before = await self._known({m.uuid for m in wanted})
        now = utcnow()
        for meeting in wanted:
            if meeting.uuid in known:
                report.archived += 1
                continue
            if (
                meeting.has_recording
                and meeting.uuid not in flagged_before
                and settling(meeting.start_time, meeting.end_time, now)
            ):
                report.pending += 1  # its recording may still be processing at Zoom: not "never received" yet
                continue
            report.note_missing(meeting.uuid)  # missing, whoever flagged it
            if meeting.uuid in flagged_before:
                report.already_flagged += 1
                continue
            try:
                record = missing_record(self.tenant.id, meeting, now)
            except ValidationError as exc:
                report.skip_invalid(meeting.uuid, exc)
                continue
            if not await insert_flag(self.mongo, record):
                report.already_flagged += 1
                continue
            report.flagged += 1
            log.warning("meeting never archived", extra={"tenant": self.tenant.id, "meeting_uuid": meeting.uuid})
            report.list_missing(_listed(meeting, record.failure))

    async def _known(self, uuids: Iterable[str]) -> tuple[set[str], set[str]]:
        """Among ``uuids``: those the archive knows (a meeting, a receipt, a record, or a tombstone: erased on
        purpose with ``zoomsymbl forget``, never "missing"), and those flagged before."""
        query = {"tenant": self.tenant.id, "meeting_uuid": {"$in": sorted(uuids)}}
        known: set[str] = set()
        flagged: set[str] = set()
        # A receipt only while its event may still be queued (an older one without a meeting was never taken), and
        # neither it nor a meeting of Zoom's transcript alone: the meeting's audio never reached the archive.
        only: dict[str, Document] = {MEETINGS: AUDIO_TAKEN, RECEIPTS: {**AUDIO_RECEIPTS, **live_receipts(utcnow())}}
        for name in (MEETINGS, RECEIPTS, CONVERSATIONS, TOMBSTONES):
            where = {**query, **only.get(name, {})}
            cursor = self.mongo.db[name].find(where, {"meeting_uuid": 1, "reconciled_at": 1})
            for doc in await guarded(cursor.to_list(None)):
                reconciled = name == CONVERSATIONS and doc.get("reconciled_at") is not None
                (flagged if reconciled else known).add(str(doc["meeting_uuid"]))
        return known, flagged


def _listed(meeting: PastMeeting, reason: str) -> dict[str, Any]:
    return {
        "meeting_uuid": meeting.uuid,
        "host": meeting.host_email,
        "topic": meeting.topic,
        "start_time": meeting.start_time.isoformat() if meeting.start_time else None,
        "has_recording": meeting.has_recording,
        "reason": reason,
    }


async def reconcile_and_publish(
    mongo: Mongo,
    tenant: TenantConfig,
    from_: date,
    to: date,
    publish: Callable[[Event], Awaitable[None]] | None,
    quota_metrics: QuotaMetrics | None = None,
    *,
    preflight: RetryPolicy | None = None,
) -> ReconcileReport:
    """One reconciliation of ``tenant`` as bulk work in its account's quota; its event published when ``publish``.

    With ``preflight``, the OAuth token is fetched first (bad credentials fail before any quota is spent).
    """
    quota = ZoomQuota.of_tenant(mongo, tenant, quota_metrics)
    async with ZoomClient(tenant, quota=quota, priority="bulk") as client:
        if preflight is not None:
            await call_with_retries(client.access_token, policy=preflight)
        report = await Reconciliation(mongo, tenant, client).run(from_, to)
    if publish is not None and report.complete:
        await publish(report.completion_event())
    elif publish is not None:
        # Its id is the window's: a digest of a partial run would make the next, complete run's a duplicate.
        log.warning("reconciliation incomplete, no digest", extra={"tenant": tenant.id, "from": from_.isoformat()})
    return report
