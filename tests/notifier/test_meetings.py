"""Meeting facts for the e-mail, and stages that never move backwards."""

from __future__ import annotations

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.part_plans import Plan
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_notifier.meetings import Meetings, Position, Speaker, facts_from_doc


def test_facts_pair_channels_with_talk_time_and_tolerate_garbage() -> None:
    doc = {
        "tenant": "acme",
        "meeting_uuid": "m",
        "topic": "Sync",
        "host_email": "h@example.com",
        "channel_map": [{"channel": 2, "participant_name": "Ben"}, {"channel": 1, "participant_name": "Ann"}, "junk"],
        "speaker_stats": [{"channel": 1, "talk_seconds": 12.5}, {"channel": "x"}],
    }
    facts = facts_from_doc(doc)
    assert facts.topic == "Sync" and facts.host_email == "h@example.com"
    assert facts.speakers == (Speaker(1, "Ann", 12.5), Speaker(2, "Ben", None))
    assert facts_from_doc(None).speakers == ()


@pytest.mark.integration
async def test_stages_only_move_forward_within_a_generation(mongo: Mongo) -> None:
    meetings = Meetings(mongo)
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m", "generation": 0, "stage": "submitted"})

    assert await meetings.advance("acme", "m", 0, "processing")
    assert await meetings.advance("acme", "m", 0, "notified")
    assert not await meetings.advance("acme", "m", 0, "completed"), "never backwards"
    assert not await meetings.fail("acme", "m", 0, "provider", "late failure"), "a notified meeting stays notified"
    assert not await meetings.advance("acme", "m", 1, "processing"), "another generation is not this document's"
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": "m"})
    assert doc is not None and doc["stage"] == "notified" and "notified" in doc["stages"]


@pytest.mark.integration
async def test_failure_records_stage_and_reason_once(mongo: Mongo) -> None:
    meetings = Meetings(mongo)
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m", "generation": 2, "stage": "processing"})

    assert await meetings.fail("acme", "m", 2, "provider", "symbl job failed: corrupt audio")
    assert not await meetings.fail("acme", "m", 2, "notify", "second reason")
    assert not await meetings.advance("acme", "m", 2, "completed")
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": "m"})
    assert doc is not None
    assert (doc["stage"], doc["failed_stage"], doc["failure_reason"]) == (
        "failed", "notifier:provider", "symbl job failed: corrupt audio",
    )  # fmt: skip
    assert (doc["failure"]["service"], doc["failure"]["stage"]) == ("notifier", "provider")


@pytest.mark.integration
async def test_is_failed_only_in_the_generation_that_failed(mongo: Mongo) -> None:
    meetings = Meetings(mongo)
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "old", "generation": 0, "stage": "failed"})
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "new", "generation": 2, "stage": "failed"})
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "ok", "generation": 0, "stage": "notified"})

    assert await meetings.is_failed("acme", "old", 0)
    assert await meetings.is_failed("acme", "new", 2)
    assert not await meetings.is_failed("acme", "new", 1)
    assert not await meetings.is_failed("acme", "ok", 0)
    assert not await meetings.is_failed("other", "old", 0)


@pytest.mark.integration
async def test_completing_keeps_the_first_plan_joined_in_each_generation_whatever_the_stage_says(mongo: Mongo) -> None:
    """The plan a generation's report joined is kept with the move to ``completed``; a forced replay of an older
    release left the stage as the earlier generation left it (``notified``): the next generation keeps its plan
    without the move."""
    meetings, plans = Meetings(mongo), mongo.db[MEETINGS]
    await plans.insert_one({"tenant": "acme", "meeting_uuid": "m", "generation": 0, "stage": "processing"})

    assert await meetings.complete("acme", "m", 0, Plan("symbl", 3))
    assert not await meetings.complete("acme", "m", 0, Plan("assemblyai", 2)), "the first plan joined stays"
    assert (await meetings.position("acme", "m")) == Position(0, "completed", _joined(0, "symbl", 3))
    assert await meetings.advance("acme", "m", 0, "notified")
    await plans.update_one({"meeting_uuid": "m"}, {"$inc": {"generation": 1}})  # the forced replay

    assert await meetings.complete("acme", "m", 1, Plan("assemblyai", 2))
    assert not await meetings.complete("acme", "m", 1, Plan("symbl", 3))
    now = await meetings.position("acme", "m")
    assert now is not None and now.stage == "notified"
    assert (now.joined_plan(1), now.joined_plan(0)) == (Plan("assemblyai", 2), None)

    await plans.insert_one({"tenant": "acme", "meeting_uuid": "failed", "generation": 0, "stage": "failed"})
    assert not await meetings.complete("acme", "failed", 0, Plan("symbl", 1)), "a failed generation keeps no plan"
    assert (await meetings.position("acme", "failed")) == Position(0, "failed", None)


def _joined(generation: int, provider: str, part_count: int) -> dict[str, object]:
    return {"generation": generation, "provider": provider, "part_count": part_count}
