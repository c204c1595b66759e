"""Receipts and download tokens in the real MongoDB-wire server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import RECEIPTS, SECRETS, Mongo
from zoomsymbl_ingest.stores import DownloadToken, MongoReceipts, MongoTokens, Receipt

pytestmark = pytest.mark.integration


def receipt(key: str, meeting_uuid: str = "abc//def==") -> Receipt:
    return Receipt(key=key, tenant="acme", meeting_uuid=meeting_uuid, event_id=key, source="webhook")


async def test_a_receipt_is_seen_once_written_and_never_doubled(mongo: Mongo) -> None:
    receipts = MongoReceipts(mongo)
    assert not await receipts.seen("k1")
    await asyncio.gather(*(receipts.record(receipt("k1")) for _ in range(5)))  # racing replicas
    assert await receipts.seen("k1")
    assert await mongo.db[RECEIPTS].count_documents({"key": "k1"}) == 1
    assert await receipts.meeting_seen("acme", "abc//def==")
    assert not await receipts.meeting_seen("globex", "abc//def==")
    assert not await receipts.meeting_seen("acme", "abc/def==")


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
