"""The mixer's file of an earlier generation (each mix has a key of its own: ``{meeting_key}.mix-{digest}.{ext}``) is
deleted with the submitter's leftovers once nothing reads it: not while a job of that generation still runs, not
while the meeting page plays it, never the current generation's file, never a file of this generation (the mixer may
be writing it) nor an untagged one of an earlier release. Real MongoDB, S3, ffmpeg and the Symbl sandbox.

Before, the cleanup knew the submitter's own objects only: every re-mix left one more file in the bucket.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key, mix_tag
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_submitter.part_plan import earlier_mixes, leftovers, tag_named

from tests.submitter.support import Completer, add_meetings, audio_mixed
from tests.submitter.test_generation_plan import SETTINGS, contents
from tests.submitter.test_generations import rig, run_again
from tests.submitter.test_part_keys import SPEECH, read_by

UUID = "uuid/36=="
PREFIX = f"mixed/acme/{meeting_key(UUID)}."


def tagged(input_hash: str, generation: int, extension: str = "flac") -> str:
    """The key the mixer gives the mix of ``input_hash`` made for ``generation``."""
    return f"{PREFIX}{mix_tag(input_hash, generation)}.{extension}"


async def plays(mongo: Mongo, key: str) -> None:
    """The meeting page plays ``key`` (the mixer's record of its latest mix)."""
    await mongo.db[MEETINGS].update_one({"meeting_uuid": UUID}, {"$set": {"objects.mixed": {"key": key}}})


@pytest.mark.integration
async def test_an_earlier_generations_mix_is_deleted_once_nothing_reads_it(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    audio = str(make_tone_audio(tmp_path / "mix.flac", SPEECH[:2], 18.0))
    first_key = tagged("hash-a", 0)
    first = audio_mixed(36, infra, first_key, await store.put_file(first_key, audio), duration=18.0,
                        meeting_uuid=UUID, input_hash="hash-a")  # fmt: skip
    await add_meetings(mongo, [first])
    await plays(mongo, first_key)
    submitter, _ = rig(infra, mongo, session, symbl, completer, split=SETTINGS["whole"])
    await submitter.on_audio_mixed(first)
    assert await read_by(mongo, first, 0) == {first_key}
    before = await contents(store, PREFIX, tmp_path)

    # Run again with new tracks: another input, another mix, its own key; meanwhile the mixer writes one more mix of
    # this generation (other inputs, not announced yet), and a file of an earlier release is still there.
    second = await run_again(mongo, first)
    second_key = tagged("hash-b", 1)
    second = second.model_copy(update={"input_hash": "hash-b", "object_key": second_key,
                                       "size_bytes": await store.put_file(second_key, audio)})  # fmt: skip
    writing, untagged = tagged("hash-c", 1), f"{PREFIX}flac"
    for key in (writing, untagged):
        await store.put_file(key, audio)
    await plays(mongo, second_key)
    with caplog.at_level(logging.INFO, logger="zoomsymbl.submitter.generations"):
        await submitter.on_audio_mixed(second)
    assert await read_by(mongo, first, 1) == {second_key}
    held = [r for r in caplog.records if r.getMessage() == "objects of an earlier plan kept for unfinished jobs"]
    assert [r.objects for r in held] == [1]  # type: ignore[attr-defined]
    assert (await contents(store, PREFIX, tmp_path))[first_key] == before[first_key], "the running job's audio"

    # The earlier job finished, but the page still plays its file (the mixer's record): it stays.
    await mongo.db[JOBS].update_many({"generation": 0}, {"$set": {"status": "completed"}})
    await plays(mongo, first_key)
    await submitter.on_audio_mixed(second)  # redelivered: submits nothing, cleans up again
    assert first_key in {name for name, _ in await listed(store, PREFIX)}

    await plays(mongo, second_key)
    await submitter.on_audio_mixed(second)
    assert {name for name, _ in await listed(store, PREFIX)} == {second_key, writing, untagged}


def test_only_tagged_mixes_of_the_given_tags_outside_keep_are_earlier_mixes() -> None:
    a, b = mix_tag("hash-a", 0), mix_tag("hash-b", 1)
    keys = [
        f"{PREFIX}{a}.flac",
        f"{PREFIX}{a}.opus",
        f"{PREFIX}{b}.flac",  # kept
        f"{PREFIX}{mix_tag('hash-c', 1)}.flac",  # a tag no earlier job names
        f"{PREFIX}flac",  # an earlier release's untagged file
        f"{PREFIX}{a}.cut-0123456789ab.part1.flac",  # a part: the submitter's own (leftovers)
        f"{PREFIX}{a}.mono-0123456789ab.flac",
        f"mixed/acme/{meeting_key(UUID)}X.{a}.flac",  # another meeting's key starting the same
        f"{PREFIX}{a}.flac/evil",
    ]
    assert earlier_mixes(PREFIX, keys, {f"{PREFIX}{b}.flac"}, {a, b}) == [f"{PREFIX}{a}.flac", f"{PREFIX}{a}.opus"]
    # The parts of a tagged file, and a mono mix an earlier submitter named after it, are the submitter's own.
    own = [f"{PREFIX}{a}.cut-0123456789ab.part1.flac", f"{PREFIX}{a}.mono-0123456789ab.flac",
           f"{PREFIX}{a}.mono-0123456789ab.cut-0123456789ab.part2.flac"]  # fmt: skip
    assert leftovers(PREFIX, [*keys, *own], set()) == sorted(own)
    assert tag_named(PREFIX, f"{PREFIX}{a}.cut-0123456789ab.part1.flac") == a
    assert tag_named(PREFIX, f"{PREFIX}flac") is None
    assert tag_named(PREFIX, f"{PREFIX}mono-{a[4:]}.flac") is None


def test_a_reused_mix_is_named_by_the_jobs_that_read_it() -> None:
    """A forced replay of the same inputs announces the earlier generation's file: the jobs of the replay name its
    tag by their audio's key, though their own input and generation give another one."""
    event: AudioMixed = audio_mixed(37, InfraSettings(), tagged("hash-a", 0), 1000, meeting_uuid=UUID, generation=1)
    assert tag_named(PREFIX, event.object_key) == mix_tag("hash-a", 0) != mix_tag(event.input_hash, 1)
