"""A generation's plan is fixed once made: a redelivery of its ``AudioMixed`` under other limits (``max_part_seconds``
changed by a deploy, the provider's limits, the audio path) submits the parts first planned, and no others. Real
MongoDB, S3, ffmpeg, the Symbl sandbox.

Before, the redelivery planned again: its parts overwrote the first plan's objects (same keys), went to the
provider as new jobs (another part count, other idempotency keys), and the leftover cleanup deleted the first plan's
parts past the new count, which its jobs may still fetch; the notifier, waiting for the largest part count among
the generation's jobs, then never finished the meeting or merged parts of both plans.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed, JobSubmitted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.parts import Part, PartPlanner, SplitSettings, is_plan_of
from zoomsymbl_submitter.submission import Submitter

from tests.submitter.support import Completer, add_meetings, audio_mixed, build_submitter, mixed_key, tenants_for
from tests.submitter.test_parts import FLAC, Plans, limits, noise_file, upload

pytestmark = pytest.mark.integration
SETTINGS = {
    "whole": SplitSettings(margin_seconds=1.0, search_seconds=2.0),
    "two": SplitSettings(max_part_seconds=12.0, margin_seconds=1.0, search_seconds=2.0),
    "three": SplitSettings(max_part_seconds=8.0, margin_seconds=1.0, search_seconds=2.0),
}
COUNTS = {"whole": 1, "two": 2, "three": 3}
Rig = Callable[[SplitSettings], tuple[Submitter, list[JobSubmitted]]]


@pytest.fixture
def rig(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer
) -> Rig:
    """A submitter with these split settings on the Symbl sandbox, publishing into its list: one per deploy."""

    def deployed(split: SplitSettings) -> tuple[Submitter, list[JobSubmitted]]:
        published: list[JobSubmitted] = []
        tenants = tenants_for("symbl", str(symbl.make_url("")))
        return build_submitter(infra, mongo, tenants, session, completer.base_url, published, split=split), published

    return deployed


def provider_jobs(server: TestServer) -> int:
    stats: dict[str, Any] = server.app[SYMBL_STATE].stats()
    return sum(stats["submissions_by_name"].values())


async def contents(store: ObjectStore, prefix: str, scratch: Path) -> dict[str, str]:
    """Every object of the meeting: its key and a digest of its bytes."""
    found = {}
    for key, _ in await listed(store, prefix):
        local = scratch / hashlib.sha256(key.encode()).hexdigest()
        await store.get_file(key, str(local))
        found[key] = hashlib.sha256(local.read_bytes()).hexdigest()
    return found


@pytest.fixture
async def meeting(store: ObjectStore, infra: InfraSettings, mongo: Mongo, tmp_path: Path) -> AudioMixed:
    """An 18-second two-channel meeting with silences to cut at, stored as the mixer leaves it."""
    audio = make_tone_audio(tmp_path / "long.flac", [[(1, 2), (9, 10), (15, 16)], [(4, 5), (12, 13)]], 18.0)
    key = mixed_key("uuid/8==")
    event = audio_mixed(8, infra, key, await store.put_file(key, str(audio)), duration=18.0)
    await add_meetings(mongo, [event])
    return event


@pytest.mark.parametrize(
    ("first", "again", "past_limits"),
    [("three", "two", False), ("two", "three", True), ("whole", "three", True), ("three", "whole", False)],
)
async def test_a_redelivery_under_other_limits_submits_the_generations_first_plan_and_nothing_else(
    rig: Rig, meeting: AudioMixed, mongo: Mongo, symbl: TestServer, store: ObjectStore, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, first: str, again: str, past_limits: bool,
) -> None:  # fmt: skip
    event, prefix = meeting, meeting.object_key.removesuffix("flac")
    before, _ = rig(SETTINGS[first])
    await before.on_audio_mixed(event)
    count = COUNTS[first]
    objects, sent = await contents(store, prefix, tmp_path), provider_jobs(symbl)
    assert len(objects) == 1 + (count if count > 1 else 0) and sent == count

    # The same event once more (its offset was never committed), to a submitter deployed with other limits.
    after, published = rig(SETTINGS[again])
    with caplog.at_level(logging.WARNING, logger="zoomsymbl.submitter.parts"):
        await after.on_audio_mixed(event)

    assert provider_jobs(symbl) == sent, "no provider job for a second plan of the same generation"
    jobs = await mongo.db[JOBS].find({"meeting_uuid": event.meeting_uuid}).to_list(None)
    assert sorted((j["part_index"], j["part_count"]) for j in jobs) == [(i, count) for i in range(count)]
    assert sorted((e.part_index, e.part_count) for e in published) == [(i, count) for i in range(count)]
    assert await contents(store, prefix, tmp_path) == objects, "every part the jobs fetch is there, unchanged"
    stored = await mongo.db[MEETINGS].find_one({"meeting_uuid": event.meeting_uuid})
    assert stored is not None and stored["part_count"] == count
    warned = [r for r in caplog.records if r.getMessage() == "stored plan kept past the current limits"]
    assert len(warned) == past_limits, "a part longer than the new limit goes all the same, logged"


async def test_a_part_of_the_generations_plan_gone_from_s3_is_cut_again_at_its_own_span(
    rig: Rig, meeting: AudioMixed, symbl: TestServer, store: ObjectStore, tmp_path: Path
) -> None:
    prefix = meeting.object_key.removesuffix("flac")
    before, _ = rig(SETTINGS["three"])
    await before.on_audio_mixed(meeting)
    objects, sent = await contents(store, prefix, tmp_path), provider_jobs(symbl)
    plan = await before.meetings.generation_plan(meeting)
    assert plan is not None and plan[1].object_key in objects
    await store.remove(plan[1].object_key)

    after, published = rig(SETTINGS["two"])
    await after.on_audio_mixed(meeting)

    assert await contents(store, prefix, tmp_path) == objects, "the same span, the same bytes"
    assert provider_jobs(symbl) == sent
    assert sorted((e.part_index, e.part_count) for e in published) == [(0, 3), (1, 3), (2, 3)]


async def test_the_generations_plan_is_found_whatever_count_it_was_planned_as(mongo: Mongo) -> None:
    event = audio_mixed(9, InfraSettings(), mixed_key("uuid/9=="), 1000)
    await add_meetings(mongo, [event])
    meetings = MeetingStore(mongo)
    parts = [Part(i, 3, 6.0 * i, 6.0, event.bucket, f"{event.object_key}.part{i + 1}", 10) for i in range(3)]
    assert await meetings.generation_plan(event) is None

    await meetings.save_split_plan(event, parts, planned=2)

    assert await meetings.generation_plan(event) == parts
    assert await meetings.generation_plan(event.model_copy(update={"input_hash": "another"})) is None
    assert await meetings.generation_plan(event.model_copy(update={"generation": 1})) is None


def test_a_plan_is_only_the_one_of_the_file_it_cuts() -> None:
    event = audio_mixed(10, InfraSettings(), "mixed/acme/m.flac", 1000, duration=20.0)
    bucket = event.bucket

    def plan(*keys: str) -> list[Part]:
        return [Part(i, len(keys), 10.0 * i, 10.0, bucket, key, 10) for i, key in enumerate(keys)]

    assert is_plan_of(event, plan("mixed/acme/m.flac"))
    assert is_plan_of(event, plan("mixed/acme/m.part1.flac", "mixed/acme/m.part2.flac"))
    assert not is_plan_of(event, plan("mixed/acme/m.mono-0123456789ab.flac"))
    assert not is_plan_of(
        event, plan("mixed/acme/m.mono-0123456789ab.part1.flac", "mixed/acme/m.mono-0123456789ab.part2.flac")
    )
    assert not is_plan_of(event, plan("mixed/acme/m.part2.flac", "mixed/acme/m.part1.flac"))
    assert not is_plan_of(event, plan("mixed/acme/m.part1.flac"))
    assert not is_plan_of(event, [])
    assert not is_plan_of(event.model_copy(update={"bucket": "other"}), plan("mixed/acme/m.flac"))


async def test_a_stored_plan_of_another_file_of_the_meeting_is_not_submitted_for_this_one(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path
) -> None:
    """The tenant's provider changed between two deliveries (its mono mix then, the multichannel file now): the
    parts cut from the mono mix, planned as the same count, are not this file's."""
    source = await noise_file(tmp_path / "m.flac", 2, 20.0, FLAC)
    event = await upload(store, infra, source, "mixed/acme/other.flac", "flac", 2)
    mono = [f"mixed/acme/other.mono-0123456789ab.part{n}.flac" for n in (1, 2)]
    for key in mono:
        await store.put_file(key, str(source))
    plans = Plans()
    plans.by_planned[2] = [Part(i, 2, 10.0 * i, 10.0, event.bucket, key, 10) for i, key in enumerate(mono)]
    limit = int(event.size_bytes * 0.7)

    parts = await PartPlanner(AudioSource(infra), (plans.load, plans.save), SplitSettings(search_seconds=0.5)).parts(
        event, limits(upload=limit, url=limit)
    )

    assert is_plan_of(event, parts) and all(p.object_key.startswith("mixed/acme/other.cut-") for p in parts)
