"""Collections that grow per request expire, and the repeated queries have indexes, on the real local server.

The local FerretDB has no TTL indexes: ``ensure_indexes`` creates plain ones and ``purge_expired``
(ingest runs it every few minutes) must delete what a TTL index would have, for every TTL collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from zoomsymbl_common.mongo import INDEXES, RECEIPT_TTL_SECONDS, Mongo, purge_expired
from zoomsymbl_common.records import CONVERSATIONS, EARLY_CALLBACKS, EMAIL_CLAIMS, JOB_CLAIMS, MEETINGS

pytestmark = pytest.mark.integration


def _keys(info: Mapping[str, Any], name: str) -> list[tuple[str, int]]:
    assert name in info, f"index {name!r} missing; have {sorted(info)}"
    return [(field, int(direction)) for field, direction in info[name]["key"]]


@pytest.mark.parametrize(
    ("collection", "field"),
    [(EMAIL_CLAIMS, "claimed_at"), (EARLY_CALLBACKS, "at"), (JOB_CLAIMS, "at")],
)
async def test_the_purge_removes_expired_claims_and_callback_notes(mongo: Mongo, collection: str, field: str) -> None:
    now = datetime.now(tz=UTC)
    old = now - timedelta(seconds=RECEIPT_TTL_SECONDS + 60)
    await mongo.db[collection].insert_many([{"_id": "old", field: old}, {"_id": "new", field: now}])

    assert await purge_expired(mongo, now=now) == 1

    assert [d["_id"] async for d in mongo.db[collection].find({})] == ["new"]


async def test_job_claims_expire_like_the_other_claims(mongo: Mongo) -> None:
    ttl = {m.document["name"]: m.document.get("expireAfterSeconds") for m in INDEXES.get(JOB_CLAIMS, [])}
    assert ttl == {"job_claim_ttl": RECEIPT_TTL_SECONDS}
    # Created on the server (a plain index where TTL is emulated by the purge).
    info = await mongo.db[JOB_CLAIMS].index_information()
    assert _keys(info, "job_claim_ttl") == [("at", 1)]
    if "expireAfterSeconds" in info["job_claim_ttl"]:
        assert info["job_claim_ttl"]["expireAfterSeconds"] == RECEIPT_TTL_SECONDS


async def test_the_ops_and_reconciliation_lookups_of_meetings_have_indexes(mongo: Mongo) -> None:
    info = await mongo.db[MEETINGS].index_information()
    # ``zoomsymbl status`` (every tenant, newest first) and ``zoomsymbl status <uuid>`` (no tenant).
    assert _keys(info, "meeting_recent") == [("updated_at", 1)]
    assert _keys(info, "meeting_uuid") == [("meeting_uuid", 1)]
    # Phone reconciliation: {"tenant": ..., "call.call_id": {"$in": [...]}}.
    assert _keys(info, "meeting_call") == [("tenant", 1), ("call.call_id", 1)]


async def test_the_ops_and_reconciliation_lookups_of_conversations_have_indexes(mongo: Mongo) -> None:
    info = await mongo.db[CONVERSATIONS].index_information()
    # Phone reconciliation: {"tenant", "source_platform", "platform_id": {"$in": [...]}, "reconciled_at": None}.
    assert _keys(info, "conversation_platform_id") == [("tenant", 1), ("source_platform", 1), ("platform_id", 1)]
    # ``zoomsymbl status --failed``: {"recording_failed": True, ...} sorted by start_time.
    assert _keys(info, "conversation_failed_start") == [("recording_failed", 1), ("start_time", 1)]
