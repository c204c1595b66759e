"""Ingest's index creation outlives a refused index (real FerretDB).

Before, an index MongoDB refused (one of the same name with other options, made by hand) ended ingest's index loop
for the life of the process, logged once, and kept every index after it in ``INDEXES`` from being created: receipts
and download tokens without their unique indexes, the backfill's look-up without its index, until a restart.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymongo import ASCENDING
from pymongo.errors import OperationFailure
from zoomsymbl_common.mongo import INDEXES, Mongo, ensure_indexes
from zoomsymbl_common.records import MEETINGS, RECEIPTS, SECRETS
from zoomsymbl_ingest import app

pytestmark = pytest.mark.integration


async def _index_keys(mongo: Mongo, collection: str) -> dict[str, list[tuple[str, int]]]:
    info = await mongo.db[collection].index_information()
    return {name: [(str(k), int(v)) for k, v in spec["key"]] for name, spec in info.items()}


async def _conflict(mongo: Mongo) -> None:
    """The receipts' ``receipt_meeting`` index made by hand on another key, everything else dropped."""
    for collection in INDEXES:
        await mongo.db[collection].drop()
    await mongo.db[RECEIPTS].create_index([("meeting_uuid", ASCENDING)], name="receipt_meeting")


async def test_a_refused_index_does_not_keep_the_others_from_being_created(mongo: Mongo) -> None:
    await _conflict(mongo)
    with pytest.raises(OperationFailure):
        await ensure_indexes(mongo)
    # Indexes of the collection before the refused one's, of its own collection and of those after it.
    assert "meeting_unique" in await _index_keys(mongo, MEETINGS)
    assert "receipt_unique" in await _index_keys(mongo, RECEIPTS)
    assert "secret_unique" in await _index_keys(mongo, SECRETS)


async def test_ingest_says_so_until_the_conflict_is_mended_then_creates_the_index(
    mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    await _conflict(mongo)
    caplog.set_level(logging.INFO, logger="zoomsymbl.ingest")
    loop = asyncio.create_task(app._ensure_indexes_forever(mongo, max_delay=0.05))
    try:
        async with asyncio.timeout(20):
            while sum(r.getMessage() == "mongodb refused an index, indexes pending" for r in caplog.records) < 2:
                assert not loop.done(), "the loop ended on a refusal"
                await asyncio.sleep(0.02)
        refusal = next(r for r in caplog.records if r.getMessage() == "mongodb refused an index, indexes pending")
        assert refusal.levelno == logging.ERROR
        await mongo.db[RECEIPTS].drop_index("receipt_meeting")  # the operator mends it
        async with asyncio.timeout(20):
            await loop
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert (await _index_keys(mongo, RECEIPTS))["receipt_meeting"] == [("tenant", 1), ("meeting_uuid", 1)]
