"""What a meeting's leftover cleanup kept for unfinished jobs of an earlier generation goes once those jobs finished,
without another submission of the meeting: the submitter's periodic pass (:mod:`zoomsymbl_submitter.held`), driven
here one round at a time. Real MongoDB, S3, ffmpeg and the Symbl sandbox.

Before, such objects went only when a later submission of the meeting found the jobs finished: a meeting never
submitted again (and a tenant without ``retention_days``) kept them in S3 for ever.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget import is_forgotten
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key, mix_tag
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_submitter.held import HeldSweeper
from zoomsymbl_submitter.meetings import HELD
from zoomsymbl_submitter.submission import Submitter

from tests.submitter.support import Completer, add_meetings, audio_mixed
from tests.submitter.test_generation_plan import SETTINGS, contents
from tests.submitter.test_generations import rig, run_again
from tests.submitter.test_part_keys import SPEECH, read_by

pytestmark = pytest.mark.integration
UUID = "uuid/40=="
PREFIX = f"mixed/acme/{meeting_key(UUID)}."
INTERVAL = 300.0


def tagged(input_hash: str, generation: int) -> str:
    """The key the mixer gives the mix of ``input_hash`` made for ``generation``."""
    return f"{PREFIX}{mix_tag(input_hash, generation)}.flac"


async def plays(mongo: Mongo, key: str) -> None:
    """The meeting page plays ``key`` (the mixer's record of its latest mix)."""
    await mongo.db[MEETINGS].update_one({"meeting_uuid": UUID}, {"$set": {"objects.mixed": {"key": key}}})


async def objects(store: ObjectStore) -> set[str]:
    return {name for name, _ in await listed(store, PREFIX)}


def sweeper_of(submitter: Submitter, mongo: Mongo, clock: FakeClock) -> HeldSweeper:
    """The pass as the app wires it, beside ``submitter`` (another replica's would be built the same way)."""
    forgotten = functools.partial(is_forgotten, mongo)
    return HeldSweeper(submitter.meetings, submitter.jobs, submitter.planner, forgotten, INTERVAL, clock=clock)


async def run_again_with_new_tracks(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, audio: str, first_plan: str,
) -> tuple[AudioMixed, Submitter, set[str]]:  # fmt: skip
    """Meeting 40 submitted as ``first_plan``, then run again with new tracks (another mix) while its jobs run; the
    re-run's event, its submitter, and what the first generation's jobs read (kept for them)."""
    first_key = tagged("hash-a", 0)
    first = audio_mixed(40, infra, first_key, await store.put_file(first_key, audio), duration=18.0,
                        meeting_uuid=UUID, input_hash="hash-a")  # fmt: skip
    await add_meetings(mongo, [first])
    await plays(mongo, first_key)
    before, _ = rig(infra, mongo, session, symbl, completer, split=SETTINGS[first_plan])
    await before.on_audio_mixed(first)
    second = await run_again(mongo, first)
    second_key = tagged("hash-b", 1)
    second = second.model_copy(update={"input_hash": "hash-b", "object_key": second_key,
                                       "size_bytes": await store.put_file(second_key, audio)})  # fmt: skip
    await plays(mongo, second_key)
    after, _ = rig(infra, mongo, session, symbl, completer, split=SETTINGS["whole"])
    await after.on_audio_mixed(second)
    return second, after, await read_by(mongo, first, 0)


@pytest.mark.parametrize(("first_plan", "outcome"), [("whole", "completed"), ("two", "failed")])
async def test_what_finished_jobs_held_is_deleted_without_another_submission(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, tmp_path: Path, first_plan: str, outcome: str,
) -> None:  # fmt: skip
    """The earlier generation's jobs read its mixed file (``whole``) or parts cut from it (``two``, its file deleted
    at once: no job reads it): what they read stays, byte for byte, while they run, and goes once they finished."""
    audio = str(make_tone_audio(tmp_path / "mix.flac", SPEECH[:2], 18.0))
    second, submitter, earlier = await run_again_with_new_tracks(
        infra, mongo, session, symbl, completer, store, audio, first_plan
    )
    newer = await read_by(mongo, second, 1)
    assert len(earlier) == {"whole": 1, "two": 2}[first_plan] and not earlier & newer
    kept = {key: digest for key, digest in (await contents(store, PREFIX, tmp_path)).items() if key in earlier}
    assert set(kept) == earlier, "kept for the jobs still running"
    clock = FakeClock()
    sweeper = sweeper_of(submitter, mongo, clock)

    assert await sweeper.once() == 0, "the earlier jobs still run"
    now = await contents(store, PREFIX, tmp_path)
    assert {key: now.get(key) for key in earlier} == kept

    # The earlier generation's jobs finished, as the notifier records it; the meeting is never submitted again.
    await mongo.db[JOBS].update_many({"generation": 0}, {"$set": {"status": outcome}})
    clock.advance(INTERVAL)
    assert await sweeper.once() == len(earlier)
    assert await objects(store) == {second.object_key, *newer}, "nothing of the earlier plan is left"

    # The current generation's jobs finish too: what they and the page read stays, and nothing is due any more.
    await mongo.db[JOBS].update_many({"generation": 1}, {"$set": {"status": "completed"}})
    clock.advance(INTERVAL)
    assert await sweeper.once() == 0
    assert await objects(store) == {second.object_key, *newer}
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": UUID})
    assert meeting is not None and HELD not in meeting


@pytest.mark.parametrize("since", ["run-again", "forgotten", "page-plays-it"])
async def test_held_objects_of_a_meeting_run_again_forgotten_or_played_since_are_not_deleted(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer,
    store: ObjectStore, tmp_path: Path, since: str,
) -> None:  # fmt: skip
    """Run again: the newer generation's submission judges what is left over. Forgotten: ``zoomsymbl forget`` erases
    it all (its tombstone is written first). Played: the page reads it. Either way the note goes with nothing deleted,
    and no later round judges it again."""
    audio = str(make_tone_audio(tmp_path / "mix.flac", SPEECH[:2], 18.0))
    second, submitter, earlier = await run_again_with_new_tracks(
        infra, mongo, session, symbl, completer, store, audio, "whole"
    )
    await mongo.db[JOBS].update_many({"generation": 0}, {"$set": {"status": "completed"}})
    if since == "run-again":
        await run_again(mongo, second)
    elif since == "forgotten":
        await mongo.db[TOMBSTONES].insert_one(
            {"tenant": "acme", "meeting_uuid": UUID, "forgotten_at": datetime.now(UTC)}
        )
    else:
        [earlier_mix] = earlier
        await plays(mongo, earlier_mix)
    before = await objects(store)
    assert earlier <= before
    clock = FakeClock()
    sweeper = sweeper_of(submitter, mongo, clock)

    assert await sweeper.once() == 0
    assert await objects(store) == before
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": UUID})
    assert meeting is not None and HELD not in meeting
    clock.advance(INTERVAL)
    assert await submitter.meetings.due_held(clock(), 10) == [], "nothing left to judge"
