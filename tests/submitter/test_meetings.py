"""The meeting's stage moves forward only; a failure records stage and reason; the split plan is kept."""

from __future__ import annotations

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.parts import Part

from tests.submitter.support import audio_mixed

pytestmark = pytest.mark.integration
EVENT = audio_mixed(1, InfraSettings(), "mixed/acme/x.flac", 10)


async def stage(mongo: Mongo) -> str:
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None
    return str(doc["stage"])


async def test_a_mixed_meeting_becomes_submitted(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    assert await MeetingStore(mongo).mark_submitted(EVENT, "symbl", 2)
    assert await stage(mongo) == "submitted"
    assert not await MeetingStore(mongo).mark_submitted(EVENT, "symbl", 2)


@pytest.mark.parametrize("later", ["processing", "completed", "notified", "failed"])
async def test_a_meeting_further_along_is_not_moved_back(mongo: Mongo, later: str) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": later}
    )
    assert not await MeetingStore(mongo).mark_submitted(EVENT, "symbl", 1)
    assert await stage(mongo) == later


async def test_a_failure_names_the_stage_and_the_reason(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    assert await MeetingStore(mongo).mark_failed(EVENT, "submit", "symbl answered HTTP 400: 'bad audio'")
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None
    assert doc["stage"] == "failed"
    assert doc["failure"]["reason"] == "symbl answered HTTP 400: 'bad audio'"
    assert (doc["failure"]["service"], doc["failed_stage"]) == ("submitter", "submitter:submit")


async def test_a_meeting_the_submitter_failed_is_failed_again_so_a_redelivery_announces_it(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    meetings = MeetingStore(mongo)
    assert await meetings.mark_failed(EVENT, "submit", "symbl answered HTTP 400: 'bad audio'")
    assert await meetings.mark_failed(EVENT, "submit", "symbl answered HTTP 400: 'bad audio'")
    assert await stage(mongo) == "failed"


async def test_a_meeting_another_service_failed_is_left_as_it_is(mongo: Mongo) -> None:
    failure = {"service": "notifier", "stage": "provider", "reason": "symbl job failed"}
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "failed", "failure": failure}
    )
    assert not await MeetingStore(mongo).mark_failed(EVENT, "retry", "late")
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None and doc["failure"]["service"] == "notifier"


async def test_a_completed_meeting_is_not_failed_by_a_late_give_up(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "completed"}
    )
    assert not await MeetingStore(mongo).mark_failed(EVENT, "retry", "late")
    assert await stage(mongo) == "completed"


async def test_the_split_plan_is_reused_only_for_the_same_input(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    parts = [Part(0, 2, 0.0, 10.0, "b", "k.part1.flac", 5), Part(1, 2, 10.0, 9.0, "b", "k.part2.flac", 4)]
    meetings = MeetingStore(mongo)
    await meetings.save_split_plan(EVENT, parts)
    assert await meetings.split_plan(EVENT, 2) == parts
    assert await meetings.split_plan(EVENT, 3) is None
    assert await meetings.split_plan(EVENT.model_copy(update={"input_hash": "new"}), 2) is None
    assert await meetings.split_plan(EVENT.model_copy(update={"generation": 1}), 2) is None


async def test_a_plan_cut_into_more_parts_than_planned_is_found_under_the_planned_count(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    parts = [Part(i, 3, 10.0 * i, 10.0, "b", f"k.part{i + 1}.flac", 5) for i in range(3)]
    meetings = MeetingStore(mongo)
    await meetings.save_split_plan(EVENT, parts, planned=2)
    assert await meetings.split_plan(EVENT, 2) == parts
    assert await meetings.split_plan(EVENT, 3) is None


@pytest.mark.parametrize("generation", [{"generation": 0}, {}], ids=["generation-0", "no-generation-field"])
@pytest.mark.parametrize("at", ["mixed", "processing"])
async def test_a_stale_give_up_after_the_submission_leaves_the_meeting_alone(
    mongo: Mongo, at: str, generation: dict[str, int]
) -> None:
    """The last attempt submitted every part, the process died before the offset commit, and the redelivery
    found no attempt left: its give-up must not fail a meeting whose jobs are at the provider. ``processing``:
    a part's job reported before the last part went in, so the meeting was further along already. A meeting the
    mixer created before 2026-12-03 has no ``generation`` field: it is generation 0 (its submission once went
    unnoted when the meeting was further along, and the stale give-up failed it)."""
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "stage": at} | generation
    )
    meetings = MeetingStore(mongo)
    assert await meetings.mark_submitted(EVENT, "symbl", 2) == (at == "mixed")
    assert not await meetings.mark_failed(EVENT, "submit", "gave up after 5 attempts; the last was cut short")
    assert await stage(mongo) == ("submitted" if at == "mixed" else at)


async def test_a_submission_of_an_earlier_generation_does_not_shield_the_next_one(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "mixed"}
    )
    meetings = MeetingStore(mongo)
    assert await meetings.mark_submitted(EVENT, "symbl", 1)
    await mongo.db[MEETINGS].update_one({"meeting_uuid": EVENT.meeting_uuid}, {"$inc": {"generation": 1}})
    replayed = EVENT.model_copy(update={"generation": 1})
    assert not await meetings.mark_submitted(replayed, "symbl", 1)  # "submitted" already: the stage stays
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None and doc["submitted_generation"] == 1
    await mongo.db[MEETINGS].update_one({"meeting_uuid": EVENT.meeting_uuid}, {"$set": {"submitted_generation": 0}})
    assert await meetings.mark_failed(replayed, "submit", "symbl answered HTTP 400")
    assert await stage(mongo) == "failed"


async def test_a_notified_meeting_run_again_by_a_forced_replay_can_fail_in_its_new_generation(mongo: Mongo) -> None:
    """The forced replay starts the new generation's stage over. Before, the meeting stayed ``notified`` (the
    earlier generation's): the re-run's give-up could not mark it failed, so the notifier, which sends a notice only
    for a meeting failed in that generation, told the host nothing."""
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 0, "stage": "notified",
         "submitted_generation": 0}
    )  # fmt: skip
    assert await bump_generation(mongo, "acme", EVENT.meeting_uuid, "replay-1") == 1
    replayed = EVENT.model_copy(update={"generation": 1})

    assert await MeetingStore(mongo).mark_failed(replayed, "submit", "symbl answered HTTP 400")
    assert await stage(mongo) == "failed"
