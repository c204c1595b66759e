"""Phone reconciliation: Zoom Phone's call history compared with what the archive holds.

``GET /phone/call_history`` ("Get account's call history", scope ``phone:read:list_call_logs:admin``)
lists every call of the account, one month per listing, 300 a page, as bulk work in the shared quota:
one request per 300 calls. Each entry's ``recording_status`` (``recorded`` / ``non_recorded``) says
whether Zoom recorded it; the Zoom users on the call are the sides whose extension type is ``user``
(the user's side first: the callee of an inbound call, else the caller).

Expected, by the tenant's ``reconcile_expect``: ``cloud_recording`` — the entry says ``recorded``;
``allowlist`` — a Zoom user of the call is in ``allowed_users``; ``any`` — every call with a Zoom user.
Archived: a ``meetings`` document whose ``call.call_id`` is the call's, or a ``conversations`` record of
source ``Zoom Phone`` with ``platform_id`` the call id (the mixer's, ``meeting_uuid`` ``phone:{recording
id}``), or a tombstone under ``phone-call:{call id}`` (the call erased with ``zoomsymbl forget``; a tombstone
of ``phone:{recording id}`` alone names no call id, the only id the call history lists). An expected call the
archive lacks gets a ``conversations`` record under ``phone-call:{call id}`` (never one of the pipeline's keys)
with ``recording_failed``, ``reconciled_at`` and the reason. The recording may arrive later under its own key:
the run that finds the call archived (or forgotten) deletes its own ``phone-call:`` record, so ``zoomsymbl status
--failed`` and the digest (which read ``recording_failed`` records by key) drop it.

An account without Zoom Phone or an app without the scope — Zoom's documented answers on the run's first page,
403 (https://developers.zoom.us/docs/api/phone/: "You'll receive a 403 error message if you have not set up Zoom
Phone") and code 4711 — is noted as ``phone_error``: the meeting reconciliation goes on and the run is complete.
Any other refusal (a 404, another 400), a page no Zoom serves, or a refusal after a page was read is a call
history not read to its end (``phone_partial``): the run is incomplete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from zoomsymbl_common.event_parts import CallDirection
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, TOMBSTONES, ConversationMetadata, Party
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import MAX_PAGE_SIZE, ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject, ZoomApiError, ZoomAuthError
from zoomsymbl_common.zoom_retries import ZOOM_RETRY_POLICY

from zoomsymbl_ingest.intake import host_allowed
from zoomsymbl_ingest.paging import MAX_ACCOUNT_PAGES, PageWalk, entry_key, listed_id
from zoomsymbl_ingest.reconcile_pages import insert_flag, listed_pages, settling
from zoomsymbl_ingest.zoom_payload import _when

if TYPE_CHECKING:
    from datetime import date

    from zoomsymbl_ingest.reconcile_report import ReconcileReport

log = logging.getLogger("zoomsymbl.ingest.reconcile")
CALL_KEY_PREFIX = "phone-call:"
CALL_NOT_RECEIVED = (
    "Zoom's call history says the call was recorded, and the recording never reached the archive"
    " (webhook lost; run zoomsymbl backfill)"
)
CALL_NOT_RECORDED = "the call ended without a recording (recording_status non_recorded at Zoom)"
_DIRECTIONS: dict[str, CallDirection] = {"inbound": "inbound", "outbound": "outbound"}


@dataclass(frozen=True)
class CallUser:
    """A Zoom Phone user on one side of a call."""

    id: str
    email: str
    name: str
    extension: str


@dataclass(frozen=True)
class PastCall:
    """One call as the call history lists it."""

    call_id: str
    direction: CallDirection
    start_time: datetime | None
    end_time: datetime | None
    recorded: bool
    users: tuple[CallUser, ...]
    caller: Party
    callee: Party

    @property
    def key(self) -> str:
        """The ``meeting_uuid`` of its reconciliation record."""
        return CALL_KEY_PREFIX + self.call_id

    @classmethod
    def from_history(cls, entry: JsonObject) -> PastCall:
        """The call of one ``call_history[]`` entry; its ``call_id`` is "" when Zoom listed none, or one no UTF-8
        holds (paging.listed_id)."""
        call_id = listed_id(_text(entry.get("call_id"))[:256])
        internal = _text(entry.get("connect_type")) == "internal"
        direction = "internal" if internal else _DIRECTIONS.get(_text(entry.get("direction")), "unknown")
        roles = ("callee", "caller") if direction == "inbound" else ("caller", "callee")
        return cls(
            call_id=call_id,
            direction=direction,
            start_time=_when(entry.get("start_time")),
            end_time=_when(entry.get("end_time")),
            recorded=entry.get("recording_status") == "recorded",
            users=tuple(u for role in roles if (u := _user(entry, role))),
            caller=_party(entry, "caller"),
            callee=_party(entry, "callee"),
        )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _user(entry: JsonObject, role: str) -> CallUser | None:
    kind = _text(entry.get(f"{role}_ext_type"))
    user = CallUser(
        id=_text(entry.get(f"{role}_ext_id"))[:128],
        email=_text(entry.get(f"{role}_email"))[:320],
        name=_text(entry.get(f"{role}_name"))[:200],
        extension=_text(entry.get(f"{role}_ext_number"))[:64],
    )
    return user if kind in ("user", "") and (user.id or user.email) else None


def _party(entry: JsonObject, role: str) -> Party:
    number = _text(entry.get(f"{role}_did_number")) or _text(entry.get(f"{role}_ext_number"))
    name = _text(entry.get(f"{role}_name"))[:200]
    return Party(number=number[:64], user=_text(entry.get(f"{role}_email"))[:320], name=name)


def call_expected(call: PastCall, tenant: TenantConfig) -> bool:
    """True when the tenant's ``reconcile_expect`` policy says ``call`` should be in the archive."""
    if tenant.reconcile_expect == "cloud_recording":
        return call.recorded
    if tenant.reconcile_expect == "allowlist":
        return any(host_allowed(tenant, u.id, u.email) for u in call.users)
    return bool(call.users)


def missing_call_record(tenant: str, call: PastCall, at: datetime) -> ConversationMetadata:
    """The ``conversations`` record of an expected call the archive never saw."""
    user = call.users[0] if call.users else CallUser("", "", "", "")
    start, end = call.start_time, call.end_time
    duration = (end - start).total_seconds() if start and end and end >= start else None
    caller = call.caller.name or call.caller.number
    callee = call.callee.name or call.callee.number
    return ConversationMetadata.model_validate(
        {
            "tenant": tenant,
            "meeting_uuid": call.key,
            "source_platform": "Zoom Phone",
            "platform_id": call.call_id,
            "start_time": start,
            "end_time": end,
            "duration_seconds": duration,
            "recorded_user": Party(user=user.email, name=user.name, number=user.extension),
            "recorded_user_id": user.id,
            "from": call.caller,
            "to": [call.callee],
            "direction": call.direction,
            "topic": f"Zoom Phone call ({call.direction}) {caller} -> {callee}"[:500],
            "recording_failed": True,
            "failure": CALL_NOT_RECEIVED if call.recorded else CALL_NOT_RECORDED,
            "reconciled_at": at,
            "written_at": at,
        }
    )


@dataclass
class PhoneReconciliation:
    """Reconciles one tenant's call history, window by window, into the run's report."""

    mongo: Mongo
    tenant: TenantConfig
    client: ZoomClient
    policy: RetryPolicy = ZOOM_RETRY_POLICY
    page_size: int = MAX_PAGE_SIZE
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep)
    seen: set[str] = field(default_factory=set)  # a restarted listing lists calls again

    async def window(self, start: date, end: date, report: ReconcileReport) -> None:
        """List ``start``..``end`` page by page; on a Zoom refusal, note ``phone_error`` and stop."""
        fetch = partial(self.client.list_call_history, start, end, page_size=self.page_size)
        walk = PageWalk(self.tenant.id, "list call history", MAX_ACCOUNT_PAGES, report.count_cut)
        try:
            async for page in listed_pages(fetch, report.count_restart, walk, policy=self.policy, sleep=self.sleep):
                report.phone_pages += 1
                fresh: list[PastCall] = []
                for entry in page.calls:
                    key = (call := PastCall.from_history(entry)).call_id or entry_key(entry)
                    if key not in self.seen:
                        fresh.append(call)
                        self.seen.add(key)
                await self._reconcile(fresh, report)
        except ZoomApiError as exc:
            if isinstance(exc, ZoomAuthError):
                raise  # the app's credentials, not the call history: the round fails as a whole
            # Only Zoom's documented answers on the run's first page (no Zoom Phone: 403; no scope: 4711) mean the
            # calls are not there to reconcile; anything else leaves calls unread (incomplete run).
            report.phone_error = str(exc)
            report.phone_partial = report.phone_pages > 0 or not exc.phone_not_set_up
            log.warning(
                "call history not listed",
                extra={"tenant": self.tenant.id, "error": str(exc), "pages": report.phone_pages},
            )

    async def _reconcile(self, calls: list[PastCall], report: ReconcileReport) -> None:
        report.phone_listed += len(calls)
        expected_calls = [c for c in calls if call_expected(c, self.tenant)]
        report.phone_expected += len(expected_calls)
        report.skip_unnamed("call_id", sum(not c.call_id for c in expected_calls))
        wanted = {c.call_id: c for c in expected_calls if c.call_id}
        archived, flagged_before = await self._known(wanted.values())
        resolved = [wanted[i].key for i in archived if wanted[i].key in flagged_before]
        if resolved:  # archived since an earlier run flagged it: its record goes
            query = {"tenant": self.tenant.id, "meeting_uuid": {"$in": resolved}, "reconciled_at": {"$ne": None}}
            result = await guarded(self.mongo.db[CONVERSATIONS].delete_many(query))
            report.phone_resolved += result.deleted_count
        now = utcnow()
        for call in wanted.values():
            if call.call_id in archived:
                report.phone_archived += 1
                continue
            if call.recorded and call.key not in flagged_before and settling(call.start_time, call.end_time, now):
                report.pending += 1  # its recording may still be on its way: not "never received" yet
                continue
            report.note_missing(call.key)  # missing, whoever flagged it
            if call.key in flagged_before:
                report.phone_already_flagged += 1
            else:
                await self._flag(call, now, report)

    async def _flag(self, call: PastCall, now: datetime, report: ReconcileReport) -> None:
        try:
            record = missing_call_record(self.tenant.id, call, now)
        except ValidationError as exc:
            report.skip_invalid(call.key, exc)
            return
        if not await insert_flag(self.mongo, record):
            report.phone_already_flagged += 1
            return
        report.phone_flagged += 1
        log.warning("phone call never archived", extra={"tenant": self.tenant.id, "meeting_uuid": call.key})
        report.list_missing(
            {
                "meeting_uuid": call.key,
                "call_id": call.call_id,
                "host": record.recorded_user.user or record.recorded_user_id,
                "topic": record.topic,
                "start_time": call.start_time.isoformat() if call.start_time else None,
                "has_recording": call.recorded,
                "reason": record.failure,
            }
        )

    async def _known(self, calls: Iterable[PastCall]) -> tuple[set[str], set[str]]:
        """Call ids the archive has (a meeting, a record, or a tombstone of the call's key), and the keys of the calls
        an earlier run flagged."""
        wanted = list(calls)
        ids = sorted(c.call_id for c in wanted)
        tenant = self.tenant.id
        archived: set[str] = set()
        meetings = self.mongo.db[MEETINGS].find({"tenant": tenant, "call.call_id": {"$in": ids}}, {"call": 1})
        for doc in await guarded(meetings.to_list(None)):
            call = doc.get("call")
            if isinstance(call, dict):
                archived.add(str(call.get("call_id")))
        query = {"tenant": tenant, "source_platform": "Zoom Phone", "platform_id": {"$in": ids}, "reconciled_at": None}
        for doc in await guarded(self.mongo.db[CONVERSATIONS].find(query, {"platform_id": 1}).to_list(None)):
            archived.add(str(doc["platform_id"]))
        keys = sorted(c.key for c in wanted)
        # Erased on purpose (``zoomsymbl forget`` of the call's key): archived, never flagged again, which would
        # write its parties back. One read of ``tombstone_unique`` for the page, as for meetings.
        forgotten = self.mongo.db[TOMBSTONES].find(
            {"tenant": tenant, "meeting_uuid": {"$in": keys}}, {"meeting_uuid": 1}
        )
        for doc in await guarded(forgotten.to_list(None)):
            archived.add(str(doc["meeting_uuid"]).removeprefix(CALL_KEY_PREFIX))
        flagged_query = {"tenant": tenant, "meeting_uuid": {"$in": keys}, "reconciled_at": {"$ne": None}}
        cursor = self.mongo.db[CONVERSATIONS].find(flagged_query, {"meeting_uuid": 1})
        flagged = {str(doc["meeting_uuid"]) for doc in await guarded(cursor.to_list(None))}
        return archived, flagged
