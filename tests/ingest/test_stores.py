"""Receipts and download tokens in the real MongoDB-wire server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import RECEIPTS, SECRETS
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.stores import Acknowledged, DownloadToken, MongoReceipts, MongoTokens, Receipt
from zoomsymbl_ingest.zoom_payload import recording_completed

from tests.ingest.support import DOWNLOAD_TOKEN, RecordingPublisher, meeting_object

pytestmark = pytest.mark.integration


def receipt(key: str, meeting_uuid: str = "abc//def==") -> Receipt:
    return Receipt(key=key, tenant="acme", meeting_uuid=meeting_uuid, event_id=key, source="webhook")


async def test_a_claim_is_won_once_among_racing_replicas(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    outcomes = await asyncio.gather(*(receipts.claim([receipt("k1"), receipt(f"other-{i}")]) for i in range(5)))
    assert sorted(len(existing) for existing in outcomes) == [0, 1, 1, 1, 1]  # one winner for "k1"
    assert all(existing <= {"k1"} for existing in outcomes)
    assert await mongo.db[RECEIPTS].count_documents({"key": "k1"}) == 1
    assert await receipts.published(["k1"]) == set()  # claimed, not yet acknowledged
    assert not await receipts.meeting_seen("acme", "abc//def==")


async def test_a_marked_receipt_is_published_and_its_meeting_seen(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    await receipts.claim([receipt("k1"), receipt("k2", "zz==")])
    await receipts.mark_published([Acknowledged(receipt("k1"), True), Acknowledged(receipt("never-claimed"), False)])
    assert await receipts.published(["k1", "k2", "never-claimed", "unknown"]) == {"k1", "never-claimed"}
    assert await receipts.meeting_seen("acme", "abc//def==")
    assert not await receipts.meeting_seen("globex", "abc//def==")
    assert not await receipts.meeting_seen("acme", "abc/def==")
    assert not await receipts.meeting_seen("acme", "zz==")
    await receipts.mark_published([Acknowledged(receipt("k1"), True)])  # a repeat changes nothing
    assert await mongo.db[RECEIPTS].count_documents({"state": "published"}) == 2
    assert await receipts.claim([receipt("never-claimed")]) == {"never-claimed"}


async def test_a_released_claim_can_be_claimed_again(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    await receipts.claim([receipt("k1"), receipt("k2")])
    await receipts.mark_published([Acknowledged(receipt("k2"), True)])
    await receipts.release("k1")
    assert sorted([d["key"] async for d in mongo.db[RECEIPTS].find({})]) == ["k2", "k2.published"]
    assert await receipts.claim([receipt("k1"), receipt("k2")]) == {"k2"}  # k1 starts afresh
    assert await receipts.published(["k1", "k2"]) == {"k2"}


async def test_a_download_token_is_stored_per_meeting_and_replaced(mongo: Mongo) -> None:
    tokens = MongoTokens(mongo)
    first = utcnow() + timedelta(hours=23)
    later = first + timedelta(hours=1)
    await tokens.put(DownloadToken("acme", "/ajXp112QmuoKj4854875==", SecretStr("token-one-123456"), first))
    await asyncio.gather(
        *(
            tokens.put(DownloadToken("acme", "/ajXp112QmuoKj4854875==", SecretStr("token-two-123456"), later))
            for _ in range(3)
        )
    )
    docs = await mongo.db[SECRETS].find({"meeting_uuid": "/ajXp112QmuoKj4854875=="}).to_list()
    assert len(docs) == 1
    assert docs[0]["download_token"] == "token-two-123456"
    assert abs(docs[0]["expires_at"] - later) < timedelta(milliseconds=1)


async def test_a_batch_of_tokens_keeps_the_last_token_of_each_meeting(mongo: Mongo) -> None:
    tokens = MongoTokens(mongo)
    expires = utcnow() + timedelta(hours=23)
    await tokens.put(DownloadToken("acme", "m1==", SecretStr("old-token-1234"), expires))
    await tokens.put_many(
        [
            DownloadToken("acme", "m1==", SecretStr("new-token-1234"), expires),
            DownloadToken("acme", "m2==", SecretStr("first-token-12"), expires),
            DownloadToken("acme", "m2==", SecretStr("second-token-1"), expires),
        ]
    )
    docs = {d["meeting_uuid"]: d["download_token"] async for d in mongo.db[SECRETS].find({})}
    assert docs == {"m1==": "new-token-1234", "m2==": "second-token-1"}


async def test_the_intake_on_mongodb_publishes_once_and_writes_everything_by_close(mongo: Mongo) -> None:
    publisher = RecordingPublisher()
    intake = Intake(publisher, MongoReceipts(mongo), MongoTokens(mongo), IngestMetrics.create())
    expires = utcnow() + timedelta(hours=24)

    def event(i: int) -> RecordingCompleted:
        return recording_completed("acme", meeting_object(f"m-{i}=="), source="webhook")

    first = await asyncio.gather(*(intake.accept(event(i), SecretStr(DOWNLOAD_TOKEN), expires) for i in range(30)))
    again = await asyncio.gather(*(intake.accept(event(i)) for i in range(30)))
    await intake.close()
    assert first == ["published"] * 30
    assert again == ["duplicate"] * 30
    assert len(publisher.events) == 30
    assert await mongo.db[RECEIPTS].count_documents({"state": "published"}) == 30  # one mark per recording
    assert await mongo.db[SECRETS].count_documents({"tenant": "acme"}) == 30
    restarted = Intake(publisher, MongoReceipts(mongo), MongoTokens(mongo), IngestMetrics.create())
    assert await restarted.accept(event(7)) == "duplicate"
