"""Two deliveries of one ``AudioMixed`` at once (a rebalance mid-split during a rolling deploy under other limits):
both miss the stored plan and cut, the first plan stored is the generation's, and both submit it. Real MongoDB, S3,
ffmpeg, the Symbl sandbox.

Before, the second delivery's plan replaced the first one's (the last ``save_split_plan`` won), and each delivery
submitted its own: provider jobs of two part counts for one generation, and parts cut into the same keys as the other
plan's, under that plan's jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.parts import Part, PartPlanner

from tests.submitter.support import add_meetings, audio_mixed
from tests.submitter.test_generation_plan import (  # noqa: F401 (the rig and meeting fixtures)
    COUNTS,
    SETTINGS,
    Rig,
    contents,
    meeting,
    provider_jobs,
    rig,
)
from tests.submitter.test_parts import limits

pytestmark = pytest.mark.integration
NO_SIZE_LIMIT = limits(upload=1 << 40, url=1 << 40)

PlanRead = Callable[[AudioMixed], Awaitable[list[Part] | None]]


def missing_together(read: PlanRead, barrier: asyncio.Barrier) -> PlanRead:
    """``read``, its first answer given only once every delivery has read: none of them finds a plan the other
    stored."""
    first = asyncio.Event()

    async def read_then_wait(event: AudioMixed) -> list[Part] | None:
        found = await read(event)
        if not first.is_set():
            first.set()
            await barrier.wait()
        return found

    return read_then_wait


async def test_two_deliveries_cutting_at_once_submit_the_one_plan_stored_first(
    rig: Rig,  # noqa: F811 (the imported fixture)
    meeting: AudioMixed,  # noqa: F811 (the imported fixture)
    mongo: Mongo,
    symbl: TestServer,
    store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deliveries = [rig(SETTINGS["three"]), rig(SETTINGS["two"])]
    barrier = asyncio.Barrier(len(deliveries))
    for submitter, _ in deliveries:
        read = missing_together(submitter.meetings.generation_plan, barrier)
        monkeypatch.setattr(submitter.meetings, "generation_plan", read)

    await asyncio.gather(*(submitter.on_audio_mixed(meeting) for submitter, _ in deliveries))

    stored = await MeetingStore(mongo).generation_plan(meeting)
    assert stored is not None
    plan = [(part.index, part.count) for part in stored]
    for _, published in deliveries:
        assert sorted({(e.part_index, e.part_count) for e in published}) == plan, "each delivery submits the plan"
    jobs = await mongo.db[JOBS].find({"meeting_uuid": meeting.meeting_uuid}).to_list(None)
    assert sorted((job["part_index"], job["part_count"], job["object_key"]) for job in jobs) == [
        (part.index, part.count, part.object_key) for part in stored
    ]
    assert provider_jobs(symbl) == len(stored)
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": meeting.meeting_uuid})
    assert doc is not None and doc["part_count"] == len(stored)
    left = {name for name, _ in await listed(store, meeting.object_key.removesuffix("flac"))}
    assert left == {meeting.object_key, *(part.object_key for part in stored)}, "the other cut is deleted"


@pytest.mark.parametrize(("first", "second"), [("three", "two"), ("three", "whole"), ("whole", "two")])
async def test_the_delivery_storing_its_plan_second_submits_the_first_and_deletes_its_own_cut(
    meeting: AudioMixed,  # noqa: F811 (the imported fixture)
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    first: str,
    second: str,
) -> None:
    """Both missed the stored plan (``stored`` None: read before either stored one)."""
    meetings = MeetingStore(mongo)

    def planner(settings: str) -> PartPlanner:
        return PartPlanner(AudioSource(infra), (meetings.split_plan, meetings.save_split_plan), SETTINGS[settings])

    winner = await planner(first).generation_parts(meeting, NO_SIZE_LIMIT, None)
    assert len(winner) == COUNTS[first]
    prefix = meeting.object_key.removesuffix("flac")
    objects = await contents(store, prefix, tmp_path)
    with caplog.at_level(logging.WARNING, logger="zoomsymbl.submitter.parts"):
        loser = await planner(second).generation_parts(meeting, NO_SIZE_LIMIT, None)

    assert loser == winner
    assert await meetings.generation_plan(meeting) == winner
    assert await contents(store, prefix, tmp_path) == objects, "the first plan's parts, unchanged; no other cut left"
    assert [r.getMessage() for r in caplog.records][:1] == ["plan another delivery stored first submitted"]


async def test_a_delivery_of_an_earlier_generation_never_replaces_the_newer_ones_plan(mongo: Mongo) -> None:
    """A slow cut of the generation the meeting left: storing its plan would make the newer generation's next
    delivery miss its own and plan again (a second set of jobs for it)."""
    newer = audio_mixed(41, InfraSettings(), "mixed/acme/cQ.flac", 1000, duration=20.0, generation=1)
    await add_meetings(mongo, [newer])
    meetings = MeetingStore(mongo)
    whole = [Part(0, 1, 0.0, 20.0, newer.bucket, newer.object_key, 1000)]
    assert await meetings.save_split_plan(newer, whole, 1) == whole

    earlier = newer.model_copy(update={"generation": 0})
    cut = [Part(i, 2, 10.0 * i, 10.0, newer.bucket, f"mixed/acme/cQ.part{i + 1}.flac", 500) for i in range(2)]
    assert await meetings.save_split_plan(earlier, cut, 2) is None

    assert await meetings.generation_plan(newer) == whole


async def test_a_plan_of_another_file_of_the_meeting_is_replaced(mongo: Mongo) -> None:
    """The tenant's provider changed between two deliveries: the mono mix's plan is not this file's to keep."""
    event = audio_mixed(42, InfraSettings(), "mixed/acme/cg.flac", 1000, duration=20.0)
    await add_meetings(mongo, [event])
    meetings = MeetingStore(mongo)
    mono = "mixed/acme/cg.mono-0123456789ab.flac"
    assert await meetings.save_split_plan(event, [Part(0, 1, 0.0, 20.0, event.bucket, mono, 500)], 1) is not None

    whole = [Part(0, 1, 0.0, 20.0, event.bucket, event.object_key, 1000)]
    assert await meetings.save_split_plan(event, whole, 1) == whole
    assert await meetings.generation_plan(event) == whole
