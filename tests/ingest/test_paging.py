"""Zoom listings that never end (a token repeated, a cycle, fresh tokens forever) stop after bounded calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from typing import Any, cast

import pytest
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import (
    CallHistoryPage,
    PastMeetingPage,
    PhoneRecordingPage,
    RecordingPage,
    UserPage,
    ZoomClient,
)
from zoomsymbl_common.zoom_answers import JsonObject
from zoomsymbl_ingest import backfill, backfill_users
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_command import summary
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.paging import MAX_ACCOUNT_PAGES, PageWalk, entry_key
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.reconcile_pages import listed_pages

from tests.ingest.support import SECRET, MemoryReceipts, MemoryTokens, RecordingPublisher
from tests.ingest.test_backfill import FAST, no_sleep

DAY = date(2026, 11, 3)
TENANT = TenantConfig(
    id="acme", zoom_webhook_secret=SecretStr(SECRET), zoom_client_id="c", zoom_client_secret="s", zoom_account_id="acct"
)
# Far more calls than any listing under test may make: past it, the fake says the loop never ended.
RUNAWAY = 500


def always_a(_: int) -> str:
    return "A"


def cycling(call: int) -> str:
    return "ABC"[call % 3]


def fresh(call: int) -> str:
    return f"token-{call}"


class FakeZoom:
    """A Zoom whose every listing names a next page (``tokens(call number)``), counting the calls per listing."""

    def __init__(self, tokens: Callable[[int], str], phone_entries: Sequence[JsonObject] = ()) -> None:
        self.tokens = tokens
        self.phone_entries = tuple(phone_entries)
        self.calls: Counter[str] = Counter()

    def _next(self, listing: str) -> str:
        self.calls[listing] += 1
        if self.calls[listing] > RUNAWAY:
            raise RuntimeError(f"the {listing} listing never ended")
        return self.tokens(self.calls[listing])

    async def list_users(self, status: str = "active", page_token: str = "", **_: Any) -> UserPage:
        return UserPage(users=({"id": "u1", "email": "u1@example.com"},), next_page_token=self._next("users"))

    async def list_recordings(self, from_: date, to: date, page_token: str = "", **_: Any) -> RecordingPage:
        return RecordingPage(meetings=(), next_page_token=self._next("recordings"))

    async def list_phone_recordings(self, from_: date, to: date, page_token: str = "", **_: Any) -> PhoneRecordingPage:
        return PhoneRecordingPage(recordings=self.phone_entries, next_page_token=self._next("phone_recordings"))

    async def list_past_meetings(self, from_: date, to: date, page_token: str = "", **_: Any) -> PastMeetingPage:
        return PastMeetingPage(meetings=(), next_page_token=self._next("past_meetings"))

    async def list_call_history(self, from_: date, to: date, page_token: str = "", **_: Any) -> CallHistoryPage:
        return CallHistoryPage(calls=(), next_page_token=self._next("call_history"))

    def client(self) -> ZoomClient:
        return cast(ZoomClient, self)


def backfill_of(zoom: FakeZoom) -> tuple[Backfill, IngestMetrics]:
    metrics = IngestMetrics.create()
    intake = Intake(RecordingPublisher(), MemoryReceipts(), MemoryTokens(), metrics)
    return Backfill(intake, TENANT, zoom.client(), policy=FAST, sleep=no_sleep), metrics


def cut(metrics: IngestMetrics, reason: str) -> float:
    return metrics.registry.get_sample_value("zoomsymbl_ingest_listings_cut_short_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(("tokens", "calls"), [(always_a, 2), (cycling, 4)], ids=["same-token", "cycle"])
async def test_a_backfill_stops_a_listing_at_a_page_token_seen_before(tokens: Callable[[int], str], calls: int) -> None:
    zoom = FakeZoom(tokens)
    job, metrics = backfill_of(zoom)
    report = await job.run(DAY, DAY)
    # Two user listings (active, inactive), the one user's recordings, the phone recordings: each stops
    # at the first token it was given before.
    assert zoom.calls == {"users": 2 * calls, "recordings": calls, "phone_recordings": calls}
    assert list(report.users) == ["u1@example.com"]
    assert report.listings_cut_short == 4 and cut(metrics, "repeated_token") == 4
    assert report.error is None and not report.ok, "a listing cut short is not a clean run"
    assert "4 listing(s) cut short" in summary(report)


async def test_a_backfill_stops_a_listing_of_fresh_tokens_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # Caps this fake can reach (the real ones are 1,000 and 10,000 pages).
    monkeypatch.setattr(backfill_users, "MAX_USER_PAGES", 3)
    monkeypatch.setattr(backfill, "MAX_USER_PAGES", 5)
    monkeypatch.setattr(backfill, "MAX_ACCOUNT_PAGES", 7)
    zoom = FakeZoom(fresh)
    job, metrics = backfill_of(zoom)
    report = await job.run(DAY, DAY)
    assert zoom.calls == {"users": 2 * 3, "recordings": 5, "phone_recordings": 7}
    assert report.listings_cut_short == 4 and cut(metrics, "page_cap") == 4
    assert list(report.users) == ["u1@example.com"], "the users read before the cap are walked"
    assert report.error is None and not report.ok


@pytest.mark.parametrize(
    ("tokens", "calls", "reason"),
    [(always_a, 2, "repeated_token"), (cycling, 4, "repeated_token"), (fresh, 6, "page_cap")],
    ids=["same-token", "cycle", "fresh-tokens"],
)
async def test_a_reconciliation_listing_ends_after_a_bounded_number_of_calls(
    tokens: Callable[[int], str], calls: int, reason: str
) -> None:
    zoom = FakeZoom(tokens)
    reasons: list[str] = []
    walk = PageWalk("acme", "list past meetings", 6, reasons.append)
    fetch = partial(zoom.list_past_meetings, DAY, DAY)
    pages = [page async for page in listed_pages(fetch, lambda: None, walk, policy=FAST, sleep=no_sleep)]
    assert len(pages) == zoom.calls["past_meetings"] == calls
    assert reasons == [reason] and walk.cut == reason


def test_a_listing_that_ends_is_not_cut() -> None:
    walk = PageWalk("acme", "list users", 3)
    assert [walk.next_token(t) for t in ("a", "b", "")] == ["a", "b", ""]
    assert walk.cut is None


def test_the_account_cap_holds_a_large_accounts_month() -> None:
    # A month of 3,000,000 account-wide entries at 300 a page must be read to its end.
    assert MAX_ACCOUNT_PAGES * 300 >= 3_000_000


@pytest.mark.integration
async def test_a_reconciliation_run_against_endless_listings_ends_and_counts_them(mongo: Mongo) -> None:
    zoom = FakeZoom(always_a)
    job = Reconciliation(mongo, TENANT, zoom.client(), policy=FAST, sleep=no_sleep)
    report = await job.run(DAY, DAY)
    assert zoom.calls == {"past_meetings": 2, "call_history": 2}
    assert report.listings_cut_short == 2 and report.phone_error is None
    assert report.as_dict()["listings_cut_short"] == 2


def test_entries_without_an_id_are_keyed_by_their_content() -> None:
    """A restarted listing counts an entry without an id once; two such entries stay two (never one "None")."""
    one, two = {"topic": "one", "n": [1, {"b": 2, "a": 1}]}, {"topic": "two"}
    assert entry_key(one) == entry_key({"n": [1, {"a": 1, "b": 2}], "topic": "one"}) != entry_key(two)
    assert entry_key({"topic": "\ud800 lone surrogate"}).startswith("entry:")
