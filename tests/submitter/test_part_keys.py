"""A generation's audio is its own: a meeting run again (``zoomsymbl replay --force``, a new mix) cuts into keys of its
own cut, and the leftover cleanup spares what an earlier generation's unfinished jobs still read. Real MongoDB, S3,
ffmpeg, the Symbl sandbox; the key names themselves without I/O.

Before, part keys carried no generation (``{stem}.part{N}.{ext}``): the re-run cut its parts into the keys the earlier
generation's jobs fetch (a presigned URL, the transcriber's work order), and its cleanup deleted the rest of them and
the earlier mono mix, while those jobs, whose transcript stands in should the re-run fail, still ran.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed, ChannelAssignment
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import MAX_SEGMENT, meeting_key
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_submitter import splitting
from zoomsymbl_submitter.downmix import mono_object_key
from zoomsymbl_submitter.jobs import MAX_PARTS
from zoomsymbl_submitter.parts import Part, is_plan_of, leftovers

from tests.submitter.support import Completer, add_meetings, audio_mixed, mixed_key
from tests.submitter.test_generation_plan import SETTINGS, contents, provider_jobs
from tests.submitter.test_generations import rig, run_again
from tests.support.providers import CHANNELS

THIRD = ChannelAssignment(channel=3, participant_name="Chen W", file_ids=("f3",), offset_seconds=0.0)
SPEECH = [[(1, 2), (9, 10), (15, 16)], [(4, 5), (12, 13)], [(6, 7)]]


async def read_by(mongo: Mongo, event: AudioMixed, generation: int) -> set[str]:
    """The objects the jobs of ``generation`` of ``event``'s meeting read."""
    jobs = await mongo.db[JOBS].find({"meeting_uuid": event.meeting_uuid, "generation": generation}).to_list(None)
    return {job["object_key"] for job in jobs}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("channels", "first", "again"),
    [(2, "three", "two"), (2, "three", "three"), (3, "whole", "whole"), (3, "two", "three")],
    ids=["parts-fewer", "parts-same-limits", "mono-mix", "mono-parts"],
)
async def test_a_meeting_run_again_leaves_the_audio_of_the_earlier_generations_unfinished_jobs_as_it_was(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, channels: int, first: str, again: str,
) -> None:  # fmt: skip
    """Three channels go to Symbl as a mono mix, cut from it when long; the earlier jobs never finish here (no
    notifier): their objects stay, byte for byte, while the re-run's jobs read objects of their own."""
    audio = make_tone_audio(tmp_path / "long.flac", SPEECH[:channels], 18.0)
    key = mixed_key("uuid/31==")
    channel_map = (*CHANNELS, THIRD)[:channels]
    event = audio_mixed(31, infra, key, await store.put_file(key, str(audio)), duration=18.0, channels=channels,
                        channel_map=channel_map)  # fmt: skip
    await add_meetings(mongo, [event])
    prefix = f"mixed/{event.tenant}/{meeting_key(event.meeting_uuid)}."
    before, _ = rig(infra, mongo, session, symbl, completer, split=SETTINGS[first])
    await before.on_audio_mixed(event)
    earlier = await read_by(mongo, event, 0)
    kept = {name: digest for name, digest in (await contents(store, prefix, tmp_path)).items() if name in earlier}
    assert set(kept) == earlier and key not in earlier

    second = await run_again(mongo, event)
    after, published = rig(infra, mongo, session, symbl, completer, split=SETTINGS[again])
    with caplog.at_level(logging.INFO, logger="zoomsymbl.submitter.generations"):
        await after.on_audio_mixed(second)

    newer = await read_by(mongo, event, 1)
    assert published and not newer & earlier, "the re-run reads objects of its own"
    now = await contents(store, prefix, tmp_path)
    assert {name: now.get(name) for name in earlier} == kept, "what the earlier jobs read is there, unchanged"
    mono = {mono_object_key(second)} if channels == 3 else set()  # the re-run's; the earlier one nothing reads
    assert set(now) == {key} | earlier | newer | mono
    held = [r for r in caplog.records if r.getMessage() == "objects of an earlier plan kept for unfinished jobs"]
    assert [r.objects for r in held] == [len(earlier)]  # type: ignore[attr-defined]

    # The earlier jobs finished (the notifier records it); the re-run's AudioMixed once more (its offset was never
    # committed): its cleanup now deletes what they read, and submits nothing.
    await mongo.db[JOBS].update_many({"generation": 0}, {"$set": {"status": "completed"}})
    sent = provider_jobs(symbl)
    await after.on_audio_mixed(second)
    assert provider_jobs(symbl) == sent
    assert {name for name, _ in await listed(store, prefix)} == {key} | newer | mono


@pytest.mark.integration
async def test_a_plan_stored_with_untagged_part_keys_is_submitted_as_it_is(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, tmp_path: Path,
) -> None:  # fmt: skip
    """A generation planned by an earlier release (parts ``{stem}.part{N}.{ext}``) redelivered after the upgrade:
    its stored plan is this file's, its parts are submitted where they are, nothing is cut again."""
    audio = make_tone_audio(tmp_path / "long.flac", SPEECH[:2], 18.0)
    key = mixed_key("uuid/32==")
    event = audio_mixed(32, infra, key, await store.put_file(key, str(audio)), duration=18.0)
    await add_meetings(mongo, [event])
    untagged = splitting.plan_object_keys(key, "flac", 2)
    parts = [Part(i, 2, 9.0 * i, 9.0, event.bucket, part, await store.put_file(part, str(audio)))
             for i, part in enumerate(untagged)]  # fmt: skip
    split = {"input_hash": event.input_hash, "generation": 0, "planned": 2, "count": 2,
             "parts": [part.as_doc() for part in parts]}  # fmt: skip
    await mongo.db[MEETINGS].update_one({"meeting_uuid": event.meeting_uuid}, {"$set": {"split": split}})
    submitter, published = rig(infra, mongo, session, symbl, completer, split=SETTINGS["three"])

    await submitter.on_audio_mixed(event)

    assert await read_by(mongo, event, 0) == set(untagged)
    assert sorted((e.part_index, e.part_count) for e in published) == [(0, 2), (1, 2)]
    assert {name for name, _ in await listed(store, key.removesuffix("flac"))} == {key, *untagged}


def test_a_part_key_names_the_input_the_generation_and_the_cut() -> None:
    event = audio_mixed(33, InfraSettings(), "mixed/acme/bQ.flac", 1000, duration=20.0)

    def first(input_hash: str = event.input_hash, generation: int = 0, cuts: tuple[float, ...] = (0.0, 9.5)) -> str:
        return splitting.part_object_key(event.object_key, 0, "flac", splitting.cut_tag(input_hash, generation, cuts))

    assert len({first(), first(generation=1), first(input_hash="hash-new"), first(cuts=(0.0, 9.75))}) == 4
    assert first() == first() and first(cuts=(0.0, 9.5)) == first(cuts=(0.0, 9.5000001))
    assert first().startswith("mixed/acme/bQ.cut-") and first().endswith(".part1.flac")


def test_tagged_and_untagged_parts_are_the_submitters_own_and_plans_of_their_file() -> None:
    event = audio_mixed(34, InfraSettings(), "mixed/acme/YWJj.flac", 1000, duration=20.0, generation=2)
    tag = splitting.cut_tag(event.input_hash, 2, [0.0, 10.0])
    tagged = splitting.plan_object_keys(event.object_key, "flac", 2, tag)
    mono = "mixed/acme/YWJj.mono-0123456789ab"
    mono_part = f"{mono}.{tag}.part2.flac"
    keys = [*tagged, mono_part, "mixed/acme/YWJj.part3.flac", "mixed/acme/YWJj.cut-XYZ.part1.flac"]
    assert leftovers("mixed/acme/YWJj.", keys, {tagged[0]}) == sorted(
        [tagged[1], mono_part, "mixed/acme/YWJj.part3.flac"]
    )

    def plan(keys: list[str]) -> list[Part]:
        return [Part(i, len(keys), 10.0 * i, 10.0, event.bucket, key, 10) for i, key in enumerate(keys)]

    assert is_plan_of(event, plan(tagged))
    assert is_plan_of(event, plan(splitting.plan_object_keys(event.object_key, "flac", 2)))
    earlier = splitting.plan_object_keys(event.object_key, "flac", 2, splitting.cut_tag(event.input_hash, 1, [0, 10]))
    assert not is_plan_of(event, plan(earlier)), "another generation's cut"
    assert not is_plan_of(event, plan([f"{mono}.{tag}.part1.flac", mono_part])), "the mono mix's"


def test_the_longest_key_segment_fits_a_file_system_s3_server() -> None:
    """A meeting key in its digest form, its mono mix, the last of the most parts a plan holds."""
    uuid = "u" * 256
    event = audio_mixed(35, InfraSettings(), mixed_key(uuid), 1000, meeting_uuid=uuid, generation=2**63 - 1)
    assert len(meeting_key(event.meeting_uuid)) == MAX_SEGMENT + 1
    tag = splitting.cut_tag(event.input_hash, event.generation, [float(i) for i in range(MAX_PARTS)])
    longest = splitting.part_object_key(mono_object_key(event), MAX_PARTS - 1, "flac", tag)
    assert len(longest.rsplit("/", 1)[1].encode()) <= 255
