"""The intake: publish once per recording, keep the token out of Kafka, survive a slow or down MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import KafkaUnavailable, MongoUnavailable
from zoomsymbl_common.events import Event, RecordingCompleted, utcnow
from zoomsymbl_ingest.intake import Intake, host_allowed
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.stores import DownloadToken
from zoomsymbl_ingest.zoom_payload import recording_completed

from tests.ingest.support import (
    DOWNLOAD_TOKEN,
    MemoryReceipts,
    MemoryTokens,
    RecordingPublisher,
    meeting_object,
    tenants,
)


class Parts:
    def __init__(self) -> None:
        self.publisher = RecordingPublisher()
        self.receipts = MemoryReceipts()
        self.tokens = MemoryTokens()
        self.metrics = IngestMetrics.create()
        self.intake = Intake(self.publisher, self.receipts, self.tokens, self.metrics, store_timeout=0.2)

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def event(meeting_uuid: str = "m-1==", source: str = "webhook") -> RecordingCompleted:
    return recording_completed("acme", meeting_object(meeting_uuid), source=source)  # type: ignore[arg-type]


@pytest.fixture
def parts() -> Parts:
    return Parts()


async def test_a_recording_is_published_once_and_its_receipt_written_behind(parts: Parts) -> None:
    assert await parts.intake.accept(event()) == "published"
    assert await parts.intake.accept(event()) == "duplicate"
    assert [e.event_id for e in parts.publisher.events] == [event().event_id]
    await parts.intake.close()
    assert parts.receipts.published_keys() == {event().event_id}
    assert parts.count("zoomsymbl_ingest_duplicates_total", source="webhook") == 1


async def test_nothing_is_asked_of_mongodb_before_the_publish(parts: Parts) -> None:
    class Checking(RecordingPublisher):
        async def publish(self, event: Event, *, timeout: float) -> None:
            assert parts.receipts.record_calls == 0, "a receipt was written before Kafka acknowledged"
            await super().publish(event, timeout=timeout)

    parts.intake.publisher = Checking()
    parts.receipts.error = MongoUnavailable("would have blocked the answer")
    assert await parts.intake.accept(event()) == "published"


async def test_another_replica_or_a_restart_publishes_a_duplicate_with_the_same_id(parts: Parts) -> None:
    # Deduplication across replicas and restarts is the consumers' (by event_id), not a MongoDB
    # round trip before every publish: the repeat carries the same event_id.
    await parts.intake.accept(event())
    await parts.intake.close()
    restarted = Intake(parts.publisher, parts.receipts, parts.tokens, parts.metrics)
    assert await restarted.accept(event(source="backfill")) == "published"
    first, again = parts.publisher.events
    assert first.event_id == again.event_id
    await restarted.close()
    assert parts.receipts.published_keys() == {event().event_id}


async def test_a_burst_of_identical_deliveries_publishes_once(parts: Parts) -> None:
    parts.publisher.delay = 0.01  # Kafka takes a moment, so the burst really overlaps
    results = await asyncio.gather(*(parts.intake.accept(event()) for _ in range(20)))
    assert results.count("published") == 1
    assert results.count("duplicate") == 19
    assert len(parts.publisher.events) == 1


async def test_concurrent_recordings_share_mongodb_round_trips(parts: Parts) -> None:
    expires = utcnow() + timedelta(hours=1)
    accepted = await asyncio.gather(
        *(
            parts.intake.accept(event(f"m-{i}=="), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True)
            for i in range(50)
        )
    )
    assert accepted == ["published"] * 50
    assert len(parts.publisher.events) == 50
    assert len(parts.tokens.tokens) == 50  # each durable before its event was published
    await parts.intake.close()
    assert len(parts.receipts.receipts) == 50
    assert parts.receipts.record_calls < 50


async def test_kafka_failure_records_nothing_so_a_retry_publishes(parts: Parts) -> None:
    parts.publisher.error = KafkaUnavailable("down")
    with pytest.raises(KafkaUnavailable):
        await parts.intake.accept(event())
    await parts.intake.close()
    assert parts.receipts.receipts == {}  # nothing recorded: Zoom's retry publishes
    parts.publisher.error = None
    assert await parts.intake.accept(event()) == "published"
    assert len(parts.publisher.events) == 1


async def test_the_download_token_is_stored_and_only_flagged_on_the_event(parts: Parts) -> None:
    expires = utcnow() + timedelta(hours=24)
    await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), expires)
    published = parts.publisher.events[0]
    assert isinstance(published, RecordingCompleted)
    assert published.has_download_token
    assert published.download_token_expires_at == expires
    assert DOWNLOAD_TOKEN not in published.model_dump_json()
    await parts.intake.close()  # a tenant with OAuth: the token is written behind the answer
    stored = parts.tokens.tokens[("acme", "m-1==")]
    assert stored.value.get_secret_value() == DOWNLOAD_TOKEN
    assert stored.expires_at == expires


async def test_a_token_only_tenant_has_its_token_stored_before_the_publish(parts: Parts) -> None:
    expires = utcnow() + timedelta(hours=24)

    class Checking(RecordingPublisher):
        async def publish(self, event: Event, *, timeout: float) -> None:
            assert ("acme", "m-1==") in parts.tokens.tokens, "published before the token was stored"
            await super().publish(event, timeout=timeout)

    parts.intake.publisher = Checking()
    assert await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True) == "published"


async def test_an_expired_download_token_is_not_kept(parts: Parts) -> None:
    await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), utcnow() - timedelta(minutes=1))
    published = parts.publisher.events[0]
    assert isinstance(published, RecordingCompleted)
    assert not published.has_download_token
    await parts.intake.close()
    assert parts.tokens.tokens == {}


async def test_mongodb_down_still_publishes_and_counts_the_skipped_steps(parts: Parts) -> None:
    parts.receipts.error = MongoUnavailable("ServerSelectionTimeoutError")
    parts.tokens.error = MongoUnavailable("ServerSelectionTimeoutError")
    outcome = await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), utcnow() + timedelta(hours=1))
    assert outcome == "published"
    assert len(parts.publisher.events) == 1
    # The in-process memory still deduplicates while MongoDB is away.
    assert await parts.intake.accept(event()) == "duplicate"
    assert len(parts.publisher.events) == 1
    await parts.intake.close(timeout=0.3)  # the token and the mark could never be written
    assert parts.tokens.tokens == {}  # the mixer falls back to OAuth
    for operation in ("token_store", "receipt_insert"):
        assert parts.count("zoomsymbl_ingest_store_errors_total", operation=operation) == 1


async def test_a_write_that_fails_for_a_while_is_retried_behind_the_answer(parts: Parts) -> None:
    parts.receipts.error = MongoUnavailable("ServerSelectionTimeoutError")
    parts.tokens.error = MongoUnavailable("ServerSelectionTimeoutError")
    await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), utcnow() + timedelta(hours=1))
    assert parts.intake.backlog == 2
    parts.receipts.error = parts.tokens.error = None  # MongoDB is back
    await parts.intake.close()
    assert parts.receipts.published_keys() == {event().event_id}
    assert ("acme", "m-1==") in parts.tokens.tokens
    assert parts.count("zoomsymbl_ingest_store_errors_total", operation="receipt_insert") == 0


async def test_a_token_only_tenant_is_refused_rather_than_published_without_its_token(parts: Parts) -> None:
    parts.tokens.error = MongoUnavailable("ServerSelectionTimeoutError")
    expires = utcnow() + timedelta(hours=1)
    with pytest.raises(MongoUnavailable):
        await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True)
    assert parts.publisher.events == []
    await parts.intake.close()
    assert parts.receipts.receipts == {}  # nor recorded
    parts.tokens.error = None  # Zoom's retry, once MongoDB is back
    assert await parts.intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True) == "published"


async def test_a_hanging_mongodb_is_given_up_on_within_the_store_timeout(parts: Parts) -> None:
    class Hanging(MemoryTokens):
        async def put_many(self, tokens: Sequence[DownloadToken]) -> None:
            await asyncio.sleep(60)

    intake = Intake(parts.publisher, parts.receipts, Hanging(), parts.metrics, store_timeout=0.05)
    expires = utcnow() + timedelta(hours=1)
    with pytest.raises(MongoUnavailable):  # a token-only tenant's token must be stored first
        await asyncio.wait_for(intake.accept(event(), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True), 5)
    assert parts.count("zoomsymbl_ingest_store_errors_total", operation="token_store") == 1


async def test_only_a_few_mongodb_operations_run_at_once(parts: Parts) -> None:
    class Counting(MemoryTokens):
        active = peak = 0

        async def put_many(self, tokens: Sequence[DownloadToken]) -> None:
            Counting.active += 1
            Counting.peak = max(Counting.peak, Counting.active)
            await asyncio.sleep(0.01)
            Counting.active -= 1
            await super().put_many(tokens)

    tokens = Counting()
    intake = Intake(parts.publisher, parts.receipts, tokens, parts.metrics, store_concurrency=2)
    expires = utcnow() + timedelta(hours=1)
    await asyncio.gather(
        *(intake.accept(event(f"m-{i}=="), SecretStr(DOWNLOAD_TOKEN), expires, token_required=True) for i in range(10))
    )
    assert 1 <= Counting.peak <= 2
    assert len(parts.publisher.events) == 10
    assert len(tokens.tokens) == 10


async def test_a_receipt_still_queued_counts_for_meeting_seen(parts: Parts) -> None:
    await parts.intake.accept(event("m-4=="))
    assert parts.receipts.receipts == {}  # behind the answer, lingering to fill a batch
    assert await parts.intake.meeting_seen("acme", "m-4==")  # the backfill in this process skips it
    assert not await parts.intake.meeting_seen("acme", "m-5==")


async def test_meeting_seen_looks_at_any_file_set_of_the_meeting(parts: Parts) -> None:
    await parts.intake.accept(event("m-2=="))
    await parts.intake.close()
    assert await parts.intake.meeting_seen("acme", "m-2==")
    assert not await parts.intake.meeting_seen("acme", "m-3==")
    assert not await parts.intake.meeting_seen("globex", "m-2==")


@pytest.mark.parametrize(
    ("allowed", "host_id", "host_email", "expected"),
    [
        ((), "h", "a@example.com", True),
        (("A@Example.com",), "h", "a@example.com", True),
        (("h-1",), "H-1", "", True),
        (("a@example.com",), "h", "b@example.com", False),
        (("a@example.com",), "", "", False),
    ],
)
def test_host_allowed(allowed: tuple[str, ...], host_id: str, host_email: str, expected: bool) -> None:
    tenant = tenants(allowed_users=allowed).default()
    assert tenant is not None
    assert host_allowed(tenant, host_id, host_email) is expected


@pytest.mark.parametrize("turns", range(1, 13))
async def test_a_cancelled_caller_stays_cancelled_when_mongodb_answers_at_once(parts: Parts, turns: int) -> None:
    """Python 3.11's ``asyncio.wait_for`` returned the inner result and dropped a cancellation that came in the loop
    turn between the answer and the caller's wake-up; the periodic backfill, which asks ``meeting_seen`` in a loop,
    then never stopped (its test hung on the slower host of 2026-12-04, and so would ingest's shutdown)."""

    async def ask_forever() -> None:
        while True:
            await parts.intake.meeting_seen("acme", "m-1==")
            await asyncio.sleep(0)  # as a backfill waits for Zoom between two questions

    task = asyncio.create_task(ask_forever())
    for _ in range(turns):  # cancel at each loop turn of one call in turn: one of them is the window
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done, f"the cancellation {turns} loop turns into a call was lost: the caller runs on"
    assert task.cancelled()
