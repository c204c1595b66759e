"""Forgetting a Zoom Phone recording erases reconciliation's record of its call too (real MongoDB and S3).

Before, the ``phone-call:{call id}`` record (the call's parties, by name) stayed until retention erased it, and for
ever for a tenant without ``retention_days``: a forgotten call still named who was on it.
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget import forget, survey
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, TOMBSTONES
from zoomsymbl_common.storage import ObjectStore

from tests.common.forget_seed import seed_meeting

pytestmark = pytest.mark.integration


async def test_the_calls_reconciliation_record_goes_with_the_recording(mongo: Mongo, store: ObjectStore) -> None:
    await seed_meeting(mongo, store, "acme", "phone:r1")
    await mongo.db[MEETINGS].update_one(
        {"tenant": "acme", "meeting_uuid": "phone:r1"}, {"$set": {"call": {"call_id": "c1"}}}
    )
    call = {"tenant": "acme", "meeting_uuid": "phone-call:c1", "source_platform": "Zoom Phone", "platform_id": "c1",
            "participants": [{"name": "Jane Doe"}], "reconciled_at": utcnow()}  # fmt: skip
    other = call | {"meeting_uuid": "phone-call:c2", "platform_id": "c2"}
    await mongo.db[CONVERSATIONS].insert_many([call, other])

    done = await forget(mongo, [store], await survey(mongo, [store], "acme", "phone:r1"), utcnow(), log=store)

    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c1"}) == 0
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c2"}) == 1, "another call's"
    tombstones = {d["meeting_uuid"] async for d in mongo.db[TOMBSTONES].find({"tenant": "acme"})}
    assert tombstones == {"phone:r1", "phone-call:c1"}, "reconciliation counts the call archived, not never archived"
    assert done.documents > 0
