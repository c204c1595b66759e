"""Retention of reconciliation's "never archived" records: only a meeting that never reached the archive is expired by
its record's age. One whose recording arrived since (a ``meetings`` document of its own, created inside the retention
period) is the meeting's age's to decide, not the old record's (docs/forget.md, "Retention")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.retention import expired
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, Meeting

pytestmark = pytest.mark.integration
DAYS = 30


async def _flag(mongo: Mongo, meeting_uuid: str, days: float) -> None:
    """The record reconciliation writes for a meeting the archive never saw, ``days`` ago."""
    await mongo.db[CONVERSATIONS].insert_one({
        "tenant": "acme", "meeting_uuid": meeting_uuid, "source_platform": "Zoom Meeting", "recording_failed": True,
        "reconciled_at": utcnow() - timedelta(days=days), "topic": "Salary review of Jane Doe",
    })  # fmt: skip


async def _meeting(mongo: Mongo, meeting_uuid: str, days: float) -> None:
    """The meeting's own document, created ``days`` ago; failed before the mixer replaced the record."""
    created = utcnow() - timedelta(days=days)
    meeting = Meeting(tenant="acme", meeting_uuid=meeting_uuid, stage="failed", created_at=created)
    await mongo.db[MEETINGS].insert_one(meeting.to_document())


async def test_an_old_flag_does_not_expire_a_meeting_that_arrived_since(mongo: Mongo) -> None:
    await _flag(mongo, "late==", DAYS + 10)
    await _meeting(mongo, "late==", 1)  # the backfill brought it yesterday; it failed before being archived
    await _flag(mongo, "never==", DAYS + 10)
    await _flag(mongo, "fresh-flag==", 2)
    await _meeting(mongo, "old==", DAYS + 5)

    keys = await expired(mongo, "acme", utcnow() - timedelta(days=DAYS))

    assert sorted(keys) == ["never==", "old=="], "a meeting created yesterday is not past a 30-day retention"


async def test_a_flag_of_an_old_meeting_keeps_the_meetings_own_age(mongo: Mongo) -> None:
    await _flag(mongo, "both==", DAYS + 1)
    await _meeting(mongo, "both==", DAYS + 40)

    assert await expired(mongo, "acme", utcnow() - timedelta(days=DAYS)) == ["both=="]


UNDATED = [
    {},
    {"created_at": "2026-01-05T10:00:00Z"},
    {"created_at": "yesterday", "updated_at": utcnow() - timedelta(days=1)},
    {"created_at": None, "updated_at": None},
]
UNDATED_IDS = ["neither date", "created_at a string", "created_at a string, updated_at young", "both null"]


def _made(days: float) -> ObjectId:
    """An ObjectId made ``days`` ago, as the driver makes one when it inserts a document."""
    return ObjectId.from_datetime(utcnow() - timedelta(days=days))


@pytest.mark.parametrize("dates", UNDATED, ids=UNDATED_IDS)
async def test_a_meeting_whose_document_holds_no_date_is_aged_by_its_object_id(
    mongo: Mongo, dates: dict[str, object]
) -> None:
    """Not flagged by reconciliation, its document with no date to go by (a hand edit, another writer, a restore;
    ours always set ``created_at``): before, it was never expired. Its ObjectId says when it was made."""
    await mongo.db[MEETINGS].insert_one({"_id": _made(DAYS + 10), "tenant": "acme", "meeting_uuid": "old==", **dates})
    await mongo.db[MEETINGS].insert_one({"_id": _made(1), "tenant": "acme", "meeting_uuid": "young==", **dates})

    assert await expired(mongo, "acme", utcnow() - timedelta(days=DAYS)) == ["old=="]


async def test_undated_meetings_come_in_the_order_their_object_ids_were_made(mongo: Mongo) -> None:
    await _meeting(mongo, "dated==", DAYS + 20)
    await mongo.db[MEETINGS].insert_one({"_id": _made(DAYS + 30), "tenant": "acme", "meeting_uuid": "oldest=="})
    await mongo.db[MEETINGS].insert_one({"_id": _made(DAYS + 10), "tenant": "acme", "meeting_uuid": "newest=="})

    keys = await expired(mongo, "acme", utcnow() - timedelta(days=DAYS))

    assert keys == ["oldest==", "dated==", "newest=="], "a run takes the oldest first"


@pytest.mark.parametrize("dates", UNDATED, ids=UNDATED_IDS)
async def test_a_flagged_meeting_whose_document_has_no_age_is_expired_by_its_flag(
    mongo: Mongo, dates: dict[str, object]
) -> None:
    """No date and a hand-made ``_id`` (no ObjectId): never expired by its own age, so the flag's age decides, or the
    meeting would be kept for ever."""
    await _flag(mongo, "undated==", DAYS + 10)
    await mongo.db[MEETINGS].insert_one({"_id": "by-hand", "tenant": "acme", "meeting_uuid": "undated==", **dates})

    assert await expired(mongo, "acme", utcnow() - timedelta(days=DAYS)) == ["undated=="]


async def test_a_flagged_meeting_whose_undated_document_was_made_since_is_kept(mongo: Mongo) -> None:
    """Its ObjectId says the recording arrived yesterday: the meeting's own age decides, not the old flag's."""
    await _flag(mongo, "arrived==", DAYS + 10)
    await mongo.db[MEETINGS].insert_one({"_id": _made(1), "tenant": "acme", "meeting_uuid": "arrived=="})

    assert await expired(mongo, "acme", utcnow() - timedelta(days=DAYS)) == []


async def test_a_flagged_meeting_whose_document_has_only_a_young_updated_at_is_kept(mongo: Mongo) -> None:
    """A document older than ``created_at`` is dated by ``updated_at``: its own age decides, as for any meeting."""
    await _flag(mongo, "older-doc==", DAYS + 10)
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": "older-doc==", "updated_at": utcnow() - timedelta(days=1)}
    )

    assert await expired(mongo, "acme", utcnow() - timedelta(days=DAYS)) == []
