"""Forgetting a Zoom Phone recording erases reconciliation's record of its call too (real MongoDB and S3).

Before, the ``phone-call:{call id}`` record (the call's parties, by name) stayed until retention erased it, and for
ever for a tenant without ``retention_days``: a forgotten call still named who was on it. The record is deleted
before the documents that name the call (a run stopped between the two once left it to no later run), and the call's
tombstone has its erasure-log entry as the recording's has (once, a MongoDB rebuilt from the log lacked it, and
reconciliation would have recorded the call again).
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.erasures_command import Erasures
from zoomsymbl_common.ops.forget import forget, survey
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.common.forget_seed import seed_meeting

pytestmark = pytest.mark.integration


CALL = {"tenant": "acme", "meeting_uuid": "phone-call:c1", "source_platform": "Zoom Phone", "platform_id": "c1",
        "participants": [{"name": "Jane Doe"}]}  # fmt: skip


async def seed_call(mongo: Mongo, store: ObjectStore) -> None:
    """The recording ``phone:r1`` of call ``c1``, and reconciliation's record of that call."""
    await seed_meeting(mongo, store, "acme", "phone:r1")
    await mongo.db[MEETINGS].update_one(
        {"tenant": "acme", "meeting_uuid": "phone:r1"}, {"$set": {"call": {"call_id": "c1"}}}
    )
    await mongo.db[CONVERSATIONS].insert_one(CALL | {"reconciled_at": utcnow()})


async def test_the_calls_reconciliation_record_goes_with_the_recording(mongo: Mongo, store: ObjectStore) -> None:
    await seed_call(mongo, store)
    other = CALL | {"meeting_uuid": "phone-call:c2", "platform_id": "c2", "reconciled_at": utcnow()}
    await mongo.db[CONVERSATIONS].insert_one(other)

    done = await forget(mongo, [store], await survey(mongo, [store], "acme", "phone:r1"), utcnow(), log=store)

    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c1"}) == 0
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c2"}) == 1, "another call's"
    tombstones = {d["meeting_uuid"] async for d in mongo.db[TOMBSTONES].find({"tenant": "acme"})}
    assert tombstones == {"phone:r1", "phone-call:c1"}, "reconciliation counts the call archived, not never archived"
    assert done.documents > 0


async def test_a_run_stopped_at_the_calls_record_is_finished_by_the_next(
    mongo: Mongo, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_call(mongo, store)
    delete_many = AsyncCollection.delete_many

    async def lost_at_the_call(self: AsyncCollection[Any], query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self.name == CONVERSATIONS and query.get("meeting_uuid") == {"$in": ["phone-call:c1"]}:
            raise AutoReconnect("connection lost")
        return await delete_many(self, query, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "delete_many", lost_at_the_call)
    with pytest.raises(MongoUnavailable):
        await forget(mongo, [store], await survey(mongo, [store], "acme", "phone:r1"), utcnow(), log=store)
    monkeypatch.setattr(AsyncCollection, "delete_many", delete_many)

    done = await forget(mongo, [store], await survey(mongo, [store], "acme", "phone:r1"), utcnow(), log=store)

    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c1"}) == 0, "the call's record"
    assert await mongo.db[MEETINGS].count_documents({"meeting_uuid": "phone:r1"}) == 0
    assert done.left.stored == 0


async def test_the_calls_tombstone_is_logged_and_comes_back_with_a_rebuilt_mongodb(
    mongo: Mongo, store: ObjectStore, infra: InfraSettings
) -> None:
    await seed_call(mongo, store)
    await forget(mongo, [store], await survey(mongo, [store], "acme", "phone:r1"), utcnow(), log=store)
    erasures = Erasures(mongo, infra)
    items, malformed = await erasures.items("acme", None)
    assert {i.erasure.meeting_uuid: i.state for i in items} == {"phone:r1": "in place", "phone-call:c1": "in place"}
    assert malformed == []

    await mongo.db[TOMBSTONES].delete_many({"tenant": "acme"})  # MongoDB rebuilt empty; the log in S3 stays
    await mongo.db[CONVERSATIONS].insert_one(CALL | {"reconciled_at": utcnow()})  # reconciliation ran meanwhile
    for item in (await erasures.items("acme", None))[0]:
        await erasures.repair(item)

    tombstones = {d["meeting_uuid"] async for d in mongo.db[TOMBSTONES].find({"tenant": "acme"})}
    assert tombstones == {"phone:r1", "phone-call:c1"}
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c1"}) == 0, "erased again"
