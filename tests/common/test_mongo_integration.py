"""Our MongoDB wrapper against the real local MongoDB-wire server."""

from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.mongo import Mongo, guarded, make_mongo
from zoomsymbl_common.records import MEETINGS, RECEIPTS
from zoomsymbl_common.settings import InfraSettings

pytestmark = pytest.mark.integration


async def test_unique_index_rejects_a_duplicate(mongo: Mongo) -> None:
    meetings = mongo.db[MEETINGS]
    await meetings.insert_one({"tenant": "acme", "meeting_uuid": "abc//def==", "stage": "received"})
    with pytest.raises(DuplicateKeyError):
        await meetings.insert_one({"tenant": "acme", "meeting_uuid": "abc//def==", "stage": "received"})
    await meetings.insert_one({"tenant": "other", "meeting_uuid": "abc//def==", "stage": "received"})
    assert await meetings.count_documents({}) == 2


async def test_receipt_key_is_unique(mongo: Mongo) -> None:
    await mongo.db[RECEIPTS].insert_one({"key": "k1"})
    with pytest.raises(DuplicateKeyError):
        await mongo.db[RECEIPTS].insert_one({"key": "k1"})


async def test_ping_and_single_document_atomic_update(mongo: Mongo) -> None:
    await mongo.ping()
    meetings = mongo.db[MEETINGS]
    await meetings.insert_one({"tenant": "t", "meeting_uuid": "m", "stage": "received", "n": 0})
    result = await meetings.update_one({"tenant": "t", "meeting_uuid": "m", "stage": "received"}, {"$inc": {"n": 1}})
    assert result.modified_count == 1
    again = await meetings.update_one({"tenant": "t", "meeting_uuid": "m", "stage": "mixed"}, {"$inc": {"n": 1}})
    assert again.modified_count == 0


async def test_unreachable_server_raises_a_typed_error(infra: InfraSettings) -> None:
    dead = infra.model_copy(update={"mongo_timeout_ms": 300})
    dead = dead.model_copy(update={"mongo_uri": type(infra.mongo_uri)("mongodb://127.0.0.1:1/")})
    client = make_mongo(dead)
    with pytest.raises(MongoUnavailable):
        await guarded(client.db[MEETINGS].find_one({}))
    await client.close()


async def test_expired_receipts_and_secrets_are_purged(mongo: Mongo) -> None:
    from datetime import UTC, datetime, timedelta

    from zoomsymbl_common.mongo import RECEIPT_TTL_SECONDS, purge_expired
    from zoomsymbl_common.records import SECRETS

    now = datetime.now(tz=UTC)
    old = now - timedelta(seconds=RECEIPT_TTL_SECONDS + 60)
    await mongo.db[RECEIPTS].insert_many([{"key": "old", "received_at": old}, {"key": "new", "received_at": now}])
    await mongo.db[SECRETS].insert_many(
        [
            {"tenant": "t", "meeting_uuid": "gone", "expires_at": now - timedelta(hours=1)},
            {"tenant": "t", "meeting_uuid": "kept", "expires_at": now + timedelta(hours=1)},
        ]
    )
    assert await purge_expired(mongo, now=now) == 2
    assert [d["key"] async for d in mongo.db[RECEIPTS].find({})] == ["new"]
    assert [d["meeting_uuid"] async for d in mongo.db[SECRETS].find({})] == ["kept"]
