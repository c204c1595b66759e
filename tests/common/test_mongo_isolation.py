"""The local MongoDB-wire server applies concurrent updates of one document one after the other, as MongoDB does.

FerretDB 1.x reads a document, changes it and writes it back whole: two updates at once both read the old document and
the second dropped the first's change (two transcription parts' progress entries, a counter). Production's MongoDB
never does, and zoomsymbl relies on it (docs/operations.md); the wrapper in infra/ferretdb runs one collection's writes
one at a time so that the tests see what production sees. Real FerretDB through the wrapper.
"""

from __future__ import annotations

import asyncio

import pytest
from zoomsymbl_common.mongo import Mongo

pytestmark = [pytest.mark.integration]

WRITERS = 8
EACH = 25


async def test_concurrent_sets_of_different_fields_of_one_document_all_land(mongo: Mongo) -> None:
    """Each writer sets its own fields of one document; every field is there afterwards (on FerretDB without the
    wrapper's lock, 175 of 200 were lost in one run)."""
    coll = mongo.db["isolation_probe"]
    await coll.insert_one({"_id": "doc", "parts": {}})

    async def writer(w: int) -> None:
        for j in range(EACH):
            await coll.update_one({"_id": "doc"}, {"$set": {f"parts.w{w}_{j}": j}})

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))

    doc = await coll.find_one({"_id": "doc"})
    assert doc is not None
    missing = {f"w{w}_{j}" for w in range(WRITERS) for j in range(EACH)} - set(doc["parts"])
    assert not missing, f"{len(missing)} of {WRITERS * EACH} updates lost"


async def test_concurrent_increments_by_find_and_modify_all_count(mongo: Mongo) -> None:
    """A counter incremented by several writers through findAndModify (a filter on another field, as a stage move
    has) ends at the number of increments."""
    coll = mongo.db["isolation_probe"]
    await coll.insert_one({"_id": "counter", "kind": "counter", "n": 0})

    async def writer() -> None:
        for _ in range(EACH):
            await coll.find_one_and_update({"kind": "counter"}, {"$inc": {"n": 1}})

    await asyncio.gather(*(writer() for _ in range(WRITERS)))

    doc = await coll.find_one({"_id": "counter"})
    assert doc is not None and doc["n"] == WRITERS * EACH
