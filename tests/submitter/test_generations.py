"""A meeting run again (a forced replay bumps its generation): the earlier generation's ``AudioMixed`` submits
nothing, and the earlier plan's parts do not outlive the new one. Real MongoDB, S3, ffmpeg, the Symbl sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed, JobSubmitted
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE
from zoomsymbl_submitter.parts import SplitSettings
from zoomsymbl_submitter.pools import LimiterSettings
from zoomsymbl_submitter.submission import Submitter

from tests.submitter.support import (
    SYMBL_ACCOUNT,
    Completer,
    add_meetings,
    audio_mixed,
    build_submitter,
    mixed_key,
    tenants_for,
    upload_for,
)

pytestmark = pytest.mark.integration
LOG = "zoomsymbl.submitter.generations"


def submissions(server: TestServer) -> dict[str, int]:
    stats: dict[str, Any] = server.app[SYMBL_STATE].stats()
    return dict(stats["submissions_by_name"])


def superseded(submitter: Submitter) -> float:
    labels = {"provider": "symbl", "outcome": "superseded"}
    return submitter.metrics.registry.get_sample_value("zoomsymbl_submitter_submissions_total", labels) or 0.0


async def run_again(mongo: Mongo, event: AudioMixed) -> AudioMixed:
    """What ``zoomsymbl replay --force`` does: the meeting's generation bumped, the event re-published under it."""
    await mongo.db[MEETINGS].update_one(
        {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid}, {"$inc": {"generation": 1}}
    )
    generation = event.generation + 1
    return event.model_copy(update={"generation": generation, "event_id": f"{event.event_id}-g{generation}"})


def rig(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    **kwargs: Any,
) -> tuple[Submitter, list[JobSubmitted]]:
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    return build_submitter(infra, mongo, tenants, session, completer.base_url, published, **kwargs), published


async def test_audio_of_a_generation_the_meeting_left_is_not_submitted_and_the_newer_one_is(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tone_audio: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    submitter, published = rig(infra, mongo, session, symbl, completer)
    first = audio_mixed(1, infra, *await upload_for(store, tone_audio, 1))
    await add_meetings(mongo, [first])
    second = await run_again(mongo, first)  # replayed before the first generation was ever submitted

    with caplog.at_level(logging.WARNING, logger=LOG):
        await submitter.on_audio_mixed(first)  # redelivered late, behind the replay

    assert submissions(symbl) == {}, "no provider job for audio the newer generation replaces"
    assert await mongo.db[JOBS].count_documents({}) == 0
    assert published == []
    assert superseded(submitter) == 1
    [skipped] = [r for r in caplog.records if r.getMessage() == "audio of an earlier generation not submitted"]
    assert (skipped.generation, skipped.current_generation, skipped.event_id) == (0, 1, first.event_id)  # type: ignore[attr-defined]

    await submitter.on_audio_mixed(second)

    assert submissions(symbl) == {"Meeting 1": 1}
    assert [(e.generation, e.part_count) for e in published] == [(1, 1)]
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": first.meeting_uuid})
    assert meeting is not None and (meeting["stage"], meeting["submitted_generation"]) == ("submitted", 1)


async def test_a_part_waiting_for_a_slot_when_its_meeting_is_run_again_gives_it_back_unsubmitted(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tone_audio: Path,
) -> None:
    """An operator re-runs a meeting stuck behind a full account: the stuck event must not submit afterwards."""
    limits = LimiterSettings(50.0, 50, 1, 60.0, 0.05)
    submitter, published = rig(infra, mongo, session, symbl, completer, limits=limits)
    event = audio_mixed(2, infra, *await upload_for(store, tone_audio, 2))
    await add_meetings(mongo, [event])
    busy = Limiter(mongo, SYMBL_ACCOUNT, 50.0, 50, 1, 60.0)
    await busy.acquire("another-meeting", timeout=5)
    polling = asyncio.Event()
    limiter = submitter.limiters.get(SYMBL_ACCOUNT)

    async def sleep(seconds: float) -> None:
        polling.set()
        await asyncio.sleep(seconds)

    limiter._sleep = sleep
    waiting = asyncio.create_task(submitter.on_audio_mixed(event))
    await asyncio.wait_for(polling.wait(), 10)  # the part waits for the account's only slot

    await run_again(mongo, event)
    assert await busy.release("another-meeting")
    await asyncio.wait_for(waiting, 15)

    assert submissions(symbl) == {}
    assert published == []
    [job] = await mongo.db[JOBS].find({}).to_list(None)
    assert job["status"] == "retrying" and "generation 1" in job["last_error"]
    assert await busy.slots() == [], "the slot went back with the claim"
    assert superseded(submitter) == 1
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": event.meeting_uuid})
    assert meeting is not None and meeting["stage"] == "mixed"


@pytest.mark.parametrize(("max_part_seconds", "parts"), [(12.0, 2), (None, 1)])
async def test_a_meeting_run_again_in_fewer_parts_keeps_none_of_the_earlier_parts_whose_jobs_finished(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tmp_path: Path,
    max_part_seconds: float | None,
    parts: int,
) -> None:
    long = make_tone_audio(tmp_path / "long.flac", [[(1, 2), (9, 10), (15, 16)], [(4, 5), (12, 13)]], 18.0)
    key = mixed_key("uuid/7==")
    size = await store.put_file(key, str(long))
    first = audio_mixed(7, infra, key, size, duration=18.0)
    await add_meetings(mongo, [first])
    three = SplitSettings(max_part_seconds=8.0, margin_seconds=1.0, search_seconds=2.0)
    before, _ = rig(infra, mongo, session, symbl, completer, split=three)
    await before.on_audio_mixed(first)
    prefix = f"mixed/{first.tenant}/{meeting_key(first.meeting_uuid)}."  # every object of the meeting
    assert len(await listed(store, prefix)) == 1 + 3, "the mixed file and its three parts"

    # The earlier generation's jobs finished, as the notifier records it: nothing reads their parts any more.
    await mongo.db[JOBS].update_many({"meeting_uuid": first.meeting_uuid}, {"$set": {"status": "completed"}})
    fewer = SplitSettings(max_part_seconds=max_part_seconds, margin_seconds=1.0, search_seconds=2.0)
    after, published = rig(infra, mongo, session, symbl, completer, split=fewer)
    second = await run_again(mongo, first)
    await after.on_audio_mixed(second)

    read = await mongo.db[JOBS].find({"meeting_uuid": first.meeting_uuid, "generation": 1}).to_list(None)
    expected = {key, *(job["object_key"] for job in read)}
    assert len(expected) == 1 + (parts if parts > 1 else 0)
    assert {name for name, _ in await listed(store, prefix)} == expected, "no part of the earlier plan is left"
    assert sorted((e.generation, e.part_index, e.part_count) for e in published) == [
        (1, i, parts) for i in range(parts)
    ]
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": first.meeting_uuid})
    assert meeting is not None and (meeting["part_count"], meeting["submitted_generation"]) == (parts, 1)
    earlier = await mongo.db[JOBS].find({"generation": 0}).to_list(None)
    assert sorted(j["part_index"] for j in earlier) == [0, 1, 2], "the earlier jobs' records stay (their slots)"

    # The earlier generation's event once more (a replayed dead letter): nothing cut, nothing submitted, the
    # newer parts untouched, its accepted jobs announced again.
    sent = sum(submissions(symbl).values())
    published.clear()
    await after.on_audio_mixed(first)
    assert sum(submissions(symbl).values()) == sent
    assert {name for name, _ in await listed(store, prefix)} == expected
    assert sorted((e.generation, e.part_index, e.part_count) for e in published) == [(0, i, 3) for i in range(3)]
