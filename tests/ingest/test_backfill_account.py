"""Account-wide backfill against the sandbox: every user, expired page tokens, the daily budget waited out.

The definition-of-done test of issue 17 item 1 is the last one: 5 users x 400 recordings, a page token
that expires and the daily budget spent mid-run. The sandbox and the Zoom client share one injected
:class:`FakeClock`, so the budget's reset (the ISO-8601 ``Retry-After``, the next UTC midnight) comes when
the backfill's sleep moves the clock, not after hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import Event, RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import ZOOM_QUOTA
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject, ZoomApiError
from zoomsymbl_common.zoom_quota import QuotaMetrics
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_command import summary
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.backfill_users import UserCounts
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.rounds import run_periodic_backfill
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.zoom_payload import recording_completed
from zoomsymbl_sandbox.zoom import MeetingSpec, ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import user_id

from tests.ingest.support import (
    MemoryReceipts,
    MemoryTokens,
    RecordingPublisher,
    quick_meeting,
    sandbox_config,
    sandbox_tenant,
)
from tests.ingest.test_backfill import FAST
from tests.support.eventually import eventually

TODAY = utcnow().date()
# 20:00 UTC today: the daily budget's reset is 4 hours away on this clock.
EVENING = datetime.combine(TODAY, clock_time(20), tzinfo=UTC)


def meetings_of(host: str, count: int, *, days: int = 40) -> list[MeetingSpec]:
    """``count`` meetings of ``host`` over the last ``days`` days; UUIDs with one "/" inside."""
    name = host.split("@")[0]
    return [
        quick_meeting(
            f"{name}/{i:04d}==",
            start_time=datetime.combine(TODAY - timedelta(days=i % days), clock_time(9), tzinfo=UTC),
            host_email=host,
        )
        for i in range(count)
    ]


class ExpiringPublisher(RecordingPublisher):
    """Publishes like Kafka; after the ``expire_after``-th event, every page token issued so far expires."""

    def __init__(self, sandbox: ZoomSandbox, expire_after: int) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.expire_after = expire_after
        self.after_reset: Callable[[], bool] = lambda: False
        self.published_after_reset = 0

    async def publish(self, event: Event, *, timeout: float) -> None:
        await super().publish(event, timeout=timeout)
        if len(self.events) == self.expire_after:
            self.sandbox.expire_page_tokens()
        if isinstance(event, RecordingCompleted) and event.source == "backfill" and self.after_reset():
            self.published_after_reset += 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EVENING)


@pytest.fixture
async def account(clock: FakeClock) -> AsyncIterator[ZoomSandbox]:
    specs = meetings_of("ann@example.com", 5) + meetings_of("bob@example.com", 4) + meetings_of("eve@example.com", 3)
    config = sandbox_config(*specs, inactive_users=("bob@example.com",))
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        yield running


async def test_every_user_of_the_account_is_backfilled_and_counted_per_user(
    account: ZoomSandbox, clock: FakeClock
) -> None:
    tenant = sandbox_tenant(
        account, allowed_users=("ann@example.com", "bob@example.com", "host@example.com")
    )  # eve is not archived
    publisher = ExpiringPublisher(account, expire_after=3)
    intake = Intake(publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create())
    await intake.accept(recording_completed("acme", account.meeting_object("ann/0001=="), source="webhook"))

    async def no_sleep(_: float) -> None:
        return None

    async with ZoomClient(tenant, wall_clock=clock) as client:
        job = Backfill(intake, tenant, client, policy=FAST, sleep=no_sleep, page_size=2, phone=False)
        report = await job.run(TODAY - timedelta(days=45), TODAY)

    assert report.ok, report
    # bob is inactive and still backfilled; eve is outside the allowlist and never listed.
    assert report.users == {
        "ann@example.com": UserCounts(seen=5, new=4, skipped=1, failed=0),
        "bob@example.com": UserCounts(seen=4, new=4, skipped=0, failed=0),
        "host@example.com": UserCounts(),
    }
    assert (report.seen, report.new, report.skipped, report.users_not_allowed) == (9, 8, 1, 1)
    assert report.listing_restarts >= 1  # the tokens expired after the third event: that listing began again
    backfilled = Counter(
        e.meeting_uuid for e in publisher.events if isinstance(e, RecordingCompleted) and e.source == "backfill"
    )
    assert set(backfilled.values()) == {1} and len(backfilled) == 8
    assert "ann@example.com: seen=5 new=4 skipped=1 failed=0" in summary(report)
    assert report.as_dict()["users"]["bob@example.com"] == {
        "seen": 4,
        "new": 4,
        "skipped": 0,
        "failed": 0,
        "forgotten": 0,
        "error": None,
    }


USERS = 5
PER_USER = 400
DAILY_LIGHT = 1200  # GET /meetings/{uuid}/recordings is Light: the budget runs out after 1200 fetches


@pytest.fixture
async def big_account(clock: FakeClock) -> AsyncIterator[ZoomSandbox]:
    # Ten days of 40 meetings: one listing window per user, two pages of up to 300.
    specs = [m for u in range(USERS) for m in meetings_of(f"user{u}@example.com", PER_USER, days=10)]
    config = sandbox_config(*specs, daily_limits={"Light": DAILY_LIGHT})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        yield running


async def test_five_users_of_400_recordings_with_an_expired_token_and_the_daily_budget_spent(
    big_account: ZoomSandbox, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    sandbox = big_account
    tenant = sandbox_tenant(sandbox)
    publisher = ExpiringPublisher(sandbox, expire_after=500)
    intake = Intake(publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create())
    everything = [uuid for uuid in sandbox.meetings]
    before, during = everything[::20], everything[10::20]  # 100 arrive by webhook before the run, 100 during it
    for uuid in before:
        await intake.accept(recording_completed("acme", sandbox.meeting_object(uuid), source="webhook"))
    reset = EVENING.replace(hour=0) + timedelta(days=1)
    publisher.after_reset = lambda: clock() >= reset
    waiting, resume = asyncio.Event(), asyncio.Event()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if seconds >= 3600:  # the daily budget: webhooks keep arriving while the backfill waits for the reset
            waiting.set()
            await resume.wait()
        clock.advance(seconds)

    delays: list[float] = []

    async def webhooks() -> None:
        for index, uuid in enumerate(during):
            if index == len(during) // 2:
                await waiting.wait()  # the second half arrives while the budget is spent
            event = recording_completed("acme", sandbox.meeting_object(uuid), source="webhook")
            started = time.perf_counter()
            await intake.accept(event)
            delays.append(time.perf_counter() - started)
            await asyncio.sleep(0.001)
        resume.set()

    async with ZoomClient(tenant, wall_clock=clock) as client:
        job = Backfill(intake, tenant, client, sleep=sleep, phone=False)
        report, _ = await asyncio.gather(job.run(TODAY - timedelta(days=45), TODAY), webhooks())

    assert report.ok, report
    published = Counter(e.meeting_uuid for e in publisher.events)
    assert set(published) == set(everything) and set(published.values()) == {1}  # each meeting exactly once
    assert report.seen == USERS * PER_USER
    assert all(counts.seen == PER_USER for label, counts in report.users.items() if label.startswith("user"))
    assert report.listing_restarts >= 1
    assert sandbox.limits.refused["Light Daily-limit"] >= 1
    assert max(waits) == pytest.approx((reset - EVENING).total_seconds(), abs=60)  # waited for the reset
    # Past the reset: every meeting the spent budget held back was published then, once.
    # Before the reset at most DAILY_LIGHT meetings were fetched (one Light call each), so at least the rest after.
    assert publisher.published_after_reset >= report.new - DAILY_LIGHT > 0
    assert report.new + report.skipped == USERS * PER_USER
    # The measured bound goes into the test's record (junit XML properties, -rA output), not a timing race.
    request.node.user_properties += [
        ("webhooks_during_run", len(delays)),
        ("webhook_accept_max_seconds", round(max(delays), 4)),
    ]
    assert max(delays) < 1.0, f"a webhook waited {max(delays):.3f} s while the backfill ran"


@pytest.mark.integration
async def test_the_periodic_backfill_counts_its_calls_as_bulk_in_the_shared_quota(
    account: ZoomSandbox, mongo: Mongo
) -> None:
    tenant = sandbox_tenant(account)
    publisher = RecordingPublisher()
    intake = Intake(publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create())
    metrics = QuotaMetrics.create()
    settings = Settings(backfill_interval_seconds=1, backfill_lookback_days=2)
    task = asyncio.create_task(
        run_periodic_backfill(intake, Tenants([tenant]), settings, mongo=mongo, quota_metrics=metrics)
    )

    async def published() -> int:
        return len(publisher.events)

    try:
        await eventually(published, timeout=10, what="the periodic backfill to publish")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    account_id = tenant.zoom_account_id
    assert metrics.requests.labels(account_id, "Medium", "bulk")._value.get() >= 2  # users, then recordings
    assert metrics.requests.labels(account_id, "Light", "bulk")._value.get() >= 1  # one meeting's files
    assert await mongo.db[ZOOM_QUOTA].count_documents({"account": account_id}) >= 3


async def _run_with(
    account: ZoomSandbox, clock: FakeClock, tamper: Callable[[str, Mapping[str, str]], JsonObject | None], **kwargs: Any
) -> tuple[BackfillReport, RecordingPublisher]:
    """A backfill of every user of ``account`` whose Zoom answers ``tamper`` may replace (or refuse by raising)."""
    tenant = sandbox_tenant(account, allowed_users=("ann@example.com", "bob@example.com", "eve@example.com"))
    publisher = RecordingPublisher()
    intake = Intake(publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create())

    async def no_sleep(_: float) -> None:
        return None

    async with ZoomClient(tenant, wall_clock=clock) as client:
        real = client.get_json

        async def get_json(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
            return tamper(path, params) or await real(path, params, what=what)

        client.get_json = get_json  # type: ignore[method-assign]
        job = Backfill(intake, tenant, client, policy=FAST, sleep=no_sleep, page_size=2, **kwargs)
        report = await job.run(TODAY - timedelta(days=45), TODAY)
    return report, publisher


async def test_a_user_zoom_refuses_is_noted_and_the_others_are_backfilled(
    account: ZoomSandbox, clock: FakeClock
) -> None:
    """The first user listed is deleted during the run (404 on their recordings): before, the run ended there."""
    gone: list[str] = []

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path.startswith("/users/") and path.endswith("/recordings") and (not gone or gone[0] == path):
            gone[:1] = [path]
            raise ZoomApiError(404, "list recordings", "User does not exist.", 1001)
        return None

    report, publisher = await _run_with(account, clock, tamper, phone=False)
    assert not report.ok and report.error is None and report.listings_failed == 1
    refused = [label for label, counts in report.users.items() if counts.error is not None]
    assert len(refused) == 1 and "404" in str(report.users[refused[0]].error)
    expected = {"ann@example.com": 5, "bob@example.com": 4, "eve@example.com": 3}
    assert {label: counts.new for label, counts in report.users.items()} == {**expected, refused[0]: 0}
    assert len(publisher.events) == 12 - expected[refused[0]]


async def test_users_listed_in_part_are_backfilled_and_the_run_is_not_ok(
    account: ZoomSandbox, clock: FakeClock
) -> None:
    """Zoom refused the inactive users' listing after the active ones were read: before, every user found
    was dropped and only the app's own user ("me") was walked, and the run said ok."""

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path == "/users" and params.get("status") == "inactive":
            raise ZoomApiError(403, "list users", "Invalid access token, does not contain scopes.", 4711)
        return None

    report, publisher = await _run_with(account, clock, tamper, phone=False)
    assert not report.ok and report.users_error is not None and report.listings_failed == 1
    assert set(report.users) == {"ann@example.com", "eve@example.com"}  # bob is inactive: not listed
    assert len(publisher.events) == 8


@pytest.mark.parametrize(
    ("refusal", "complete"),
    [(ZoomApiError(400, "list users", "Invalid access token, does not contain scopes.", 4711), True),
     (ZoomApiError(403, "list users", "No permission.", 200), True),
     (ZoomApiError(400, "list users", "Invalid parameter: status.", 300), False),
     (ZoomApiError(404, "list users", "Account does not exist.", 1001), False)],
    ids=["4711 no scope", "403", "400 another", "404"],
)  # fmt: skip
async def test_only_the_scopes_refusal_makes_me_the_whole_account(
    account: ZoomSandbox, clock: FakeClock, refusal: ZoomApiError, complete: bool
) -> None:
    """An app without the users' scope walks its own user ("me") and the run is complete. Before, any refusal of the
    users' listing did that, and an account-wide backfill that read one user's recordings said ok."""

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path == "/users":
            raise refusal
        return None

    report, _ = await _run_with(account, clock, tamper, phone=False)
    assert list(report.users) == ["me"] and report.users_error is not None
    assert (report.ok, report.listings_failed) == (complete, 0 if complete else 1)


async def test_recording_details_of_another_meeting_are_refused(account: ZoomSandbox, clock: FakeClock) -> None:
    swapped: list[str] = []

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path.startswith("/meetings/") and "ann" in path and not swapped:
            swapped.append(path)
            return account.meeting_object("eve/0001==")  # the detail names eve's meeting
        return None

    report, publisher = await _run_with(account, clock, tamper, phone=False)
    published = [e.meeting_uuid for e in publisher.events if isinstance(e, RecordingCompleted)]
    assert swapped and report.failed == 1 and not report.ok
    assert sorted(published) == sorted(set(published)) and len(published) == 11


def test_the_summary_names_refused_users_and_listings() -> None:
    report = BackfillReport("acme", TODAY, TODAY, listings_failed=2, users_error="zoom list users answered 403")
    report.users = {"ann@example.com": UserCounts(seen=1, new=1), "bob@example.com": UserCounts(error="answered 404")}
    text = summary(report)
    assert "2 listing(s) refused by Zoom" in text and "only those read before" in text
    assert "bob@example.com: seen=0 new=0 skipped=0 failed=0 (not listed: answered 404)" in text
    report.users = {"me": UserCounts()}
    assert "only the app's owner" in summary(report)


ANN = "ann@example.com"
FLOOD = 50
"""Entries of a page answered where ``page_size`` 2 was asked: a page no Zoom serves."""


def flood(listing: str) -> JsonObject:
    if listing == "users":
        return {"users": [{"id": f"flood{i}", "email": ANN} for i in range(FLOOD)]}
    if listing == "phone":
        owner = {"id": "flood-owner", "email": ANN}
        entries = [{"id": f"flood{i}", "download_url": "https://zoom.us/flood", "owner": owner} for i in range(FLOOD)]
        return {"recordings": entries}
    return {"meetings": [{"uuid": f"flood{i}==", "host_email": ANN} for i in range(FLOOD)]}


@pytest.mark.parametrize("listing", ["users", "recordings", "phone"])
async def test_a_page_of_more_entries_than_asked_is_refused_not_walked(
    account: ZoomSandbox, clock: FakeClock, listing: str
) -> None:
    """Before, each entry of such a page was walked: a call per user or meeting, or an event per phone recording,
    beyond what any page cap bounds (16 MiB of entries a page), and a users page of them even made an ok run."""
    target = {"users": "/users", "recordings": f"/users/{user_id(ANN)}/recordings", "phone": "/phone/recordings"}
    flooded: list[str] = []
    asked: list[str] = []

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        asked.append(path)
        if path == target[listing] and not flooded:
            flooded.append(path)
            return {**flood(listing), "next_page_token": ""}
        return None

    report, publisher = await _run_with(account, clock, tamper)
    assert flooded and not report.ok
    assert [p for p in asked if "flood" in p] == [], "no call for an entry of the page"
    assert [e.meeting_uuid for e in publisher.events if "flood" in e.meeting_uuid] == []
    ann = report.users.get(ANN)
    refusal = {"users": report.error, "recordings": ann and ann.error, "phone": report.phone_error}[listing]
    assert "a page of 50 entries, more than the 2 asked for" in str(refusal)
    if listing != "users":  # the other listings go on: every meeting but ann's (5 of 12), or all of them
        assert report.error is None and report.listings_failed == 1
        assert len(publisher.events) == {"recordings": 7, "phone": 12}[listing]


@pytest.mark.parametrize("listing", ["users", "recordings", "phone"])
async def test_a_page_without_its_list_is_a_refused_listing_not_an_empty_one(
    account: ZoomSandbox, clock: FakeClock, listing: str
) -> None:
    """Before, a 200 without its list read as an empty last page and the run said ok: only the inactive user was
    walked (the active ones "were none"), or ann's recordings, or the phone recordings, were never listed."""
    target = {"users": "/users", "recordings": f"/users/{user_id(ANN)}/recordings", "phone": "/phone/recordings"}
    key = {"users": "users", "recordings": "meetings", "phone": "recordings"}[listing]

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path == target[listing] and params.get("status", "active") == "active":
            return {"page_size": 2, "total_records": 5, "next_page_token": ""}
        return None

    report, publisher = await _run_with(account, clock, tamper)
    assert not report.ok
    ann = report.users.get(ANN)
    refusal = {"users": report.error, "recordings": ann and ann.error, "phone": report.phone_error}[listing]
    assert f'answered 200: "the answer has no {key!r} list (none)"' in str(refusal)
    if listing != "users":  # the run goes on: every meeting but ann's (5 of 12), or all of them
        assert report.error is None and report.listings_failed == 1
        assert len(publisher.events) == {"recordings": 7, "phone": 12}[listing]


async def test_listed_meetings_without_a_uuid_each_count_as_failed(account: ZoomSandbox, clock: FakeClock) -> None:
    """Before, every meeting listed without a uuid had the key "None": the first was counted failed, the others
    skipped without a word, so the counts fell short of what Zoom listed."""
    tampered: list[str] = []

    def tamper(path: str, params: Mapping[str, str]) -> JsonObject | None:
        if path == f"/users/{user_id(ANN)}/recordings" and not tampered:  # the first window, where ann has none
            tampered.append(path)
            unnamed = [{"topic": "one", "host_email": ANN}, {"topic": "two", "host_email": ANN}]
            return {"meetings": unnamed, "next_page_token": ""}
        return None

    report, publisher = await _run_with(account, clock, tamper, phone=False)
    ann = report.users[ANN]
    assert (ann.seen, ann.new, ann.failed) == (7, 5, 2) and report.failed == 2 and not report.ok
    assert len(publisher.events) == 12
