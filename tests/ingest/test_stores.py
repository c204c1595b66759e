"""Receipts and download tokens in the real MongoDB-wire server."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from pydantic import SecretStr
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS, RECEIPTS, SECRETS
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.stores import UNTAKEN_AFTER, DownloadToken, MongoReceipts, MongoTokens, Receipt
from zoomsymbl_ingest.zoom_payload import recording_completed

from tests.ingest.support import DOWNLOAD_TOKEN, RecordingPublisher, meeting_object

pytestmark = pytest.mark.integration


def receipt(key: str, meeting_uuid: str = "abc//def==") -> Receipt:
    return Receipt(key=key, tenant="acme", meeting_uuid=meeting_uuid, event_id=key, source="webhook")


async def test_a_recorded_receipt_makes_its_meeting_seen(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    assert not await receipts.meeting_seen("acme", "abc//def==")
    await receipts.record([receipt("k1"), receipt("k2", "zz==")])
    assert await receipts.meeting_seen("acme", "abc//def==")
    assert await receipts.meeting_seen("acme", "zz==")
    assert not await receipts.meeting_seen("globex", "abc//def==")
    assert not await receipts.meeting_seen("acme", "abc/def==")
    assert await mongo.db[RECEIPTS].count_documents({"state": "published"}) == 2


async def test_a_receipt_of_zooms_transcript_alone_does_not_make_its_meeting_seen(mongo: Mongo) -> None:
    """The meeting's audio was never published (its ``recording.completed`` lost): the backfill must still take it."""
    receipts = MongoReceipts(mongo)
    await receipts.record([dataclasses.replace(receipt("t1"), audio=False)])
    assert not await receipts.meeting_seen("acme", "abc//def==")
    assert await mongo.db[RECEIPTS].count_documents({"audio": False}) == 1
    await receipts.record([receipt("a1")])
    assert await receipts.meeting_seen("acme", "abc//def==")


async def test_replicas_recording_the_same_receipt_leave_one(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    await asyncio.gather(*(receipts.record([receipt("k1"), receipt(f"other-{i}")]) for i in range(5)))
    assert await mongo.db[RECEIPTS].count_documents({"receipt": "k1"}) == 1
    assert await mongo.db[RECEIPTS].count_documents({"state": "published"}) == 6


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
    assert await mongo.db[RECEIPTS].count_documents({}) == 30  # one receipt per recording, nothing else
    assert await mongo.db[SECRETS].count_documents({"tenant": "acme"}) == 30
    restarted = Intake(publisher, MongoReceipts(mongo), MongoTokens(mongo), IngestMetrics.create())
    assert await restarted.meeting_seen("acme", "m-7==")  # what the backfill asks before publishing


async def test_an_old_receipt_of_a_meeting_the_mixer_never_began_no_longer_counts(mongo: Mongo) -> None:
    """Kafka lost the event (or a consumer's offsets were moved past it): published, never taken. Once the receipt is
    older than a backlog could explain, the backfill publishes the meeting again."""
    receipts = MongoReceipts(mongo)
    await receipts.record([receipt("k1", "lost=="), receipt("k2", "begun=="), receipt("k3", "queued==")])
    long_ago = utcnow() - UNTAKEN_AFTER - timedelta(minutes=1)
    await mongo.db[RECEIPTS].update_many({"meeting_uuid": {"$ne": "queued=="}}, {"$set": {"received_at": long_ago}})
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "begun==", "stage": "notified"})

    assert not await receipts.meeting_seen("acme", "lost==")
    assert await receipts.meeting_seen("acme", "begun==")  # the mixer began it: its meeting document says so
    assert await receipts.meeting_seen("acme", "queued==")  # lately published: it may wait in a backlog
