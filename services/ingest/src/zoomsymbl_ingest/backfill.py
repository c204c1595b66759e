"""Backfill: list a tenant's cloud recordings through the Zoom API and publish those never seen.

Account-wide: every user of the account (backfill_users.py), each user's recordings
(``GET /users/{userId}/recordings``, page_size 300), counted per user and in total.

Catches up on recordings whose webhooks never arrived (ingest down for longer than Zoom's last
retry, a webhook misconfigured). Uses the same intake as webhooks, so a recording already
published is skipped and a repeated run publishes nothing new. Zoom lists at most one month per
request, so the range is walked in one-month windows, page by page.

Zoom Phone recordings are listed too (``GET /phone/recordings``, account level, same windows and
paging), at most ``phone_requests_per_second`` listing calls a second (the API's Medium category allows
20); an account without Zoom Phone (Zoom's 403) or an app without the phone scope (code 4711) is noted, not a
failed run; any other refusal of that listing, or a page no Zoom serves, is a failed listing.

A meeting or phone recording erased with ``zoomsymbl forget`` (a tombstone under its UUID or ``phone:{recording
id}``) and still in Zoom's cloud is skipped before anything else (no recording details fetched, nothing
published) and counted ``forgotten`` among the skipped: one read of ``tombstone_unique`` per listed page. A
read MongoDB does not answer stops the run; it is never taken for "not forgotten".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, TypeVar

from pymongo.errors import PyMongoError
from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import MAX_PAGE_SIZE, ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject, ZoomApiError, ZoomAuthError
from zoomsymbl_common.zoom_retries import ZOOM_RETRY_POLICY, call_with_retries

from zoomsymbl_ingest.backfill_entries import EntryImport
from zoomsymbl_ingest.backfill_report import BackfillReport, MeetingResult, count
from zoomsymbl_ingest.backfill_users import (
    MAX_LISTING_RESTARTS,
    AccountUser,
    ListingRestartsExhaustedError,
    UserCounts,
    account_users,
)
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import ListingCut
from zoomsymbl_ingest.paging import MAX_ACCOUNT_PAGES, MAX_USER_PAGES, PageWalk, entry_key, listed_id
from zoomsymbl_ingest.phone_payload import phone_meeting_uuid
from zoomsymbl_ingest.stores import TombstoneReader
from zoomsymbl_ingest.windows import month_windows

log = logging.getLogger("zoomsymbl.ingest.backfill")
T = TypeVar("T")


@dataclass
class Backfill:
    """Backfills one tenant through its Zoom client into the intake."""

    intake: Intake
    tenant: TenantConfig
    client: ZoomClient
    policy: RetryPolicy = ZOOM_RETRY_POLICY
    page_size: int = MAX_PAGE_SIZE
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep)
    phone: bool = True
    phone_requests_per_second: float = 20.0
    clock: Callable[[], float] = field(default=time.monotonic)
    tombstones: TombstoneReader | None = None
    """The forgotten meetings' reader; every run outside tests has one (MongoDB's)."""

    async def run(self, from_: date, to: date) -> BackfillReport:
        """List every meeting recorded between the two dates (inclusive) and publish the unseen ones."""
        report = BackfillReport(self.tenant.id, from_, to)
        try:
            listed = await account_users(
                self.client, self.tenant, self._retrying, page_size=self.page_size, on_cut=partial(self._cut, report)
            )
            report.users_not_allowed, report.users_error = listed.not_allowed, listed.error
            report.listing_restarts += listed.restarts
            report.listings_failed += listed.partial
            for user in listed.users:
                report.users[user.label] = UserCounts()
            refused: set[str] = set()  # users Zoom refused to list (deleted during the run): not asked again
            for start, end in month_windows(from_, to):
                for user in listed.users:
                    if user.label not in refused:
                        await self._user_window(user, start, end, report, refused)
                if self.phone and report.phone_error is None:
                    await self._phone_window(start, end, report)
        except (ZoomsymblError, TimeoutError, PyMongoError) as exc:
            # PyMongoError: MongoDB refusing an operation (``guarded`` turns only "unreachable" into ours), e.g. a
            # role without ``find`` on ``tombstones``: the run's error, never a traceback that ends the periodic task.
            report.error = str(exc) or type(exc).__name__
            log.error("backfill stopped", extra={"tenant": self.tenant.id, "error": report.error})
        log.info("backfill finished", extra=report.as_dict())
        return report

    async def _user_window(
        self, user: AccountUser, start: date, end: date, report: BackfillReport, refused: set[str]
    ) -> None:
        """One user's window; a refusal of this user alone (404: deleted during the run, 400, 403) is noted on
        the user and the run goes on with the others. A 401, the token endpoint refusing the app's credentials
        (:class:`ZoomAuthError`: Zoom answers them 400), or the restarts running out, ends the run."""
        try:
            await self._window(user, start, end, report)
        except ZoomApiError as exc:
            if exc.status == 401 or isinstance(exc, ListingRestartsExhaustedError | ZoomAuthError):
                raise
            refused.add(user.label)
            report.users[user.label].error = str(exc)
            report.listings_failed += 1
            log.warning("user's recordings not listed", extra={"tenant": self.tenant.id, "user": user.label,
                                                               "error": str(exc)})  # fmt: skip

    async def _window(self, user: AccountUser, start: date, end: date, report: BackfillReport) -> None:
        done: set[str] = set()
        page_token = ""
        restarts = 0
        walk = PageWalk(self.tenant.id, "list recordings", MAX_USER_PAGES, partial(self._cut, report))
        while True:
            listing = partial(
                self.client.list_recordings, start, end, page_token, user=user.id, page_size=self.page_size
            )
            try:
                page = await self._retrying(listing)
            except ZoomApiError as exc:
                if not exc.page_token_expired:
                    raise
                restarts += 1
                report.listing_restarts += 1
                if restarts > MAX_LISTING_RESTARTS:
                    raise ListingRestartsExhaustedError(exc.status, "list recordings", exc.detail, exc.code) from None
                log.info("page token expired, listing again", extra={"tenant": self.tenant.id, "user": user.label})
                page_token = ""
                walk.restart()
                continue
            await self._user_page(page.meetings, report.users[user.label], done, report)
            page_token = walk.next_token(page.next_page_token)
            if not page_token:
                return

    async def _user_page(
        self, meetings: tuple[JsonObject, ...], counts: UserCounts, done: set[str], report: BackfillReport
    ) -> None:
        """A page of one user's recordings: each meeting not in ``done`` (met before in this window) counted."""
        uuids = {u for m in meetings if (u := listed_id(m.get("uuid")))}
        forgotten = await self._forgotten(uuids)
        for meeting in meetings:
            key = listed_id(meeting.get("uuid")) or entry_key(meeting)  # each one without a usable uuid fails
            if key in done:
                continue
            done.add(key)
            result = self._skip_forgotten(key) if key in forgotten else await self._entries.meeting(meeting)
            count(report, result)
            count(counts, result)
            self._count_metrics(result)

    async def _phone_window(self, start: date, end: date, report: BackfillReport) -> None:
        page_token = ""
        last_call = -1e9
        restarts = 0
        done: set[str] = set()
        walk = PageWalk(self.tenant.id, "list phone recordings", MAX_ACCOUNT_PAGES, partial(self._cut, report))
        while True:
            last_call = await self._phone_pace(last_call)
            listing = partial(self.client.list_phone_recordings, start, end, page_token, page_size=self.page_size)
            try:
                page = await self._retrying(listing)
            except ZoomAuthError:
                raise  # the app's credentials, not the phone listing: the run stops
            except ZoomApiError as exc:
                if not self._phone_listing_restarts(exc, restarts, report):
                    return
                restarts += 1
                page_token = ""
                walk.restart()
                continue
            report.phone_pages += 1
            await self._phone_page(page.recordings, done, report)
            page_token = walk.next_token(page.next_page_token)
            if not page_token:
                return

    async def _phone_pace(self, last_call: float) -> float:
        """Waits out what is left of the interval since ``last_call`` (the phone listing's category allows 20
        requests a second per account: stay under it); the clock time of this call."""
        wait = last_call + 1 / self.phone_requests_per_second - self.clock()
        if wait > 0:
            await self.sleep(wait)
        return self.clock()

    def _phone_listing_restarts(self, exc: ZoomApiError, restarts: int, report: BackfillReport) -> bool:
        """True when the phone listing starts over (its page token expired, fresh starts left); otherwise Zoom's
        refusal is noted on ``report`` and the window's phone listing ends."""
        if exc.page_token_expired and restarts < MAX_LISTING_RESTARTS:
            report.listing_restarts += 1
            log.info("page token expired, listing again", extra={"tenant": self.tenant.id, "what": "phone"})
            return True
        # Zoom's documented answers on the run's first page where the account has no Zoom Phone (403),
        # or the app lacks phone:read:list_recordings:admin (4711): noted. Any other refusal, an unreadable
        # page, or a refusal after a page was read: the recordings not listed are a failed listing.
        report.phone_error = str(exc)
        if report.phone_pages or not exc.phone_not_set_up:
            report.listings_failed += 1
        log.warning("phone recordings not listed", extra={"tenant": self.tenant.id, "error": str(exc)})
        return False

    async def _phone_page(self, recordings: tuple[JsonObject, ...], done: set[str], report: BackfillReport) -> None:
        """A page of the account's phone recordings: each one not in ``done`` (listed again after an expired page
        token) counted."""
        keys = {phone_meeting_uuid(i) for e in recordings if (i := listed_id(e.get("id")))}
        forgotten = await self._forgotten(keys)
        for entry in recordings:
            key = listed_id(entry.get("id")) or entry_key(entry)  # each one without a usable id fails
            if key in done:
                continue
            done.add(key)
            uuid = phone_meeting_uuid(key)
            result = self._skip_forgotten(uuid) if uuid in forgotten else await self._entries.phone_recording(entry)
            report.phone_recordings += 1
            count(report, result)
            self._count_metrics(result)

    async def _forgotten(self, uuids: set[str]) -> set[str]:
        """Those of a page's ``uuids`` erased with ``zoomsymbl forget``: one read for the page."""
        if self.tombstones is None or not uuids:
            return set()
        return await self.tombstones.forgotten(self.tenant.id, uuids)

    def _skip_forgotten(self, meeting_uuid: str) -> MeetingResult:
        # Still in Zoom's cloud: publishing it would put its names and e-mails on Kafka again for the mixer to drop.
        log.info("forgotten meeting skipped", extra={"tenant": self.tenant.id, "meeting_uuid": meeting_uuid})
        return "forgotten"

    def _count_metrics(self, result: MeetingResult) -> None:
        self.intake.metrics.backfill.labels(result="seen").inc()
        self.intake.metrics.backfill.labels(result="skipped" if result == "forgotten" else result).inc()

    def _cut(self, report: BackfillReport, reason: ListingCut) -> None:
        report.listings_cut_short += 1
        self.intake.metrics.listing_cut(reason)

    @property
    def _entries(self) -> EntryImport:
        return EntryImport(self.intake, self.tenant, self.client, self._retrying)

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retries(operation, policy=self.policy, sleep=self.sleep)
