"""Rounds of the held-leftovers pass (:mod:`zoomsymbl_submitter.held`) on the real MongoDB and S3: two replicas at
once, one meeting's trouble, an unreadable note, an outage; and the app running the pass.

Each meeting here was run again (generation 1) after its first plan's two parts were submitted; the parts were kept
for generation 0's jobs, which have finished since, and noted on the meeting as its cleanup notes them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.service import MONGO
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter.app import SETTINGS, SUBMITTER, _held_ctx, build_app
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.held import TASK, HeldSweeper
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import HELD, MeetingStore
from zoomsymbl_submitter.parts import PartPlanner, SplitSettings
from zoomsymbl_submitter.settings import Settings

from tests.submitter.held_support import held_meeting, objects
from tests.submitter.support import SECRET, audio_mixed, build_submitter, tenants_for
from tests.submitter.test_periodic import Rounds, scripted_rounds

INTERVAL = 300.0
LOG = "zoomsymbl.submitter.held"


def replica(infra: InfraSettings, mongo: Mongo, clock: FakeClock, owner: str = "replica-a") -> HeldSweeper:
    """The pass of one submitter replica: stores of its own on the shared database and bucket."""
    meetings, audio = MeetingStore(mongo), AudioSource(infra)
    planner = PartPlanner(audio, (meetings.split_plan, meetings.save_split_plan), SplitSettings())
    jobs = JobStore(mongo, owner, 60.0)

    async def never_forgotten(tenant: str, meeting_uuid: str) -> bool:
        return False

    return HeldSweeper(meetings, jobs, planner, never_forgotten, INTERVAL, clock=clock)


async def note(mongo: Mongo, index: int) -> object:
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": f"uuid/{index}=="})
    assert meeting is not None
    return meeting.get(HELD)


@pytest.mark.integration
async def test_two_replicas_at_once_delete_every_held_object_and_nothing_else(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """A note is claimed by one replica (a conditional update of its ``due``; atomic on MongoDB, not on the local
    FerretDB, where both may judge it: the second finds the objects gone, and no error)."""
    meetings = [await held_meeting(infra, mongo, store, tmp_path, index) for index in range(50, 56)]
    clock = FakeClock()
    clock.advance(1)
    a, b = replica(infra, mongo, clock), replica(infra, mongo, clock, "replica-b")
    [due] = [doc for doc in await a.meetings.due_held(clock(), 100) if doc["meeting_uuid"] == "uuid/50=="]
    assert await b.meetings.claim_held(due, clock()) is True
    assert await a.meetings.claim_held(due, clock()) is False, "claimed by the other replica"

    await asyncio.gather(a.once(), b.once())

    assert [await objects(store, prefix) for prefix, _ in meetings] == [{current} for _, current in meetings]
    assert [await note(mongo, index) for index in range(50, 56)] == [None] * 6


@pytest.mark.integration
async def test_one_meetings_trouble_costs_that_meeting_only_and_it_is_judged_again_a_round_later(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bucket that refuses (here: one gone) is that meeting's trouble; an unreadable note is dropped."""
    refusing, unreadable, fine = [(await held_meeting(infra, mongo, store, tmp_path, i))[0] for i in (60, 61, 62)]
    gone = f"{infra.s3_bucket}-gone"
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "uuid/60=="}, {"$set": {f"{HELD}.bucket": gone}})
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "uuid/61=="}, {"$set": {f"{HELD}.keys": "not a list"}})
    clock = FakeClock()
    clock.advance(1)
    sweeper = replica(infra, mongo, clock)

    with caplog.at_level(logging.INFO, logger=LOG):
        assert await sweeper.once() == 2, "the fine meeting's two parts"

    assert len(await objects(store, fine)) == 1
    assert len(await objects(store, refusing)) == len(await objects(store, unreadable)) == 3, "nothing deleted there"
    messages = {(r.getMessage(), getattr(r, "meeting_uuid", None)) for r in caplog.records}
    assert ("held leftovers not judged, will try again", "uuid/60==") in messages
    assert ("unreadable note of held leftovers dropped", "uuid/61==") in messages
    assert await note(mongo, 61) is None
    assert await sweeper.meetings.due_held(clock(), 10) == [], "the refusing meeting waits an interval"
    [again] = await sweeper.meetings.due_held(clock.advance(INTERVAL), 10)
    assert again["meeting_uuid"] == "uuid/60=="


@pytest.mark.integration
async def test_an_outage_ends_the_round_and_the_note_is_judged_again_a_round_later(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, _ = await held_meeting(infra, mongo, store, tmp_path, 63)
    clock = FakeClock()
    clock.advance(1)
    sweeper = replica(infra, mongo, clock)

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("S3Error 'ServiceUnavailable'")

    with monkeypatch.context() as patched:
        patched.setattr(sweeper.planner, "remove_leftovers", unavailable)
        with pytest.raises(StorageUnavailable):
            await sweeper.once()
    assert len(await objects(store, prefix)) == 3
    assert await sweeper.once() == 0, "not due before an interval passed"
    clock.advance(INTERVAL)
    assert await sweeper.once() == 2
    assert len(await objects(store, prefix)) == 1 and await note(mongo, 63) is None


@pytest.mark.integration
async def test_a_note_a_newer_cleanup_wrote_meanwhile_is_left_as_it_is(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    prefix, _ = await held_meeting(infra, mongo, store, tmp_path, 64)
    meetings = MeetingStore(mongo)
    [read] = await meetings.due_held(FakeClock().advance(1), 10)
    event = audio_mixed(64, infra, f"{prefix}flac", 10, meeting_uuid="uuid/64==", generation=1)
    assert await meetings.record_held(event, [f"{prefix}cut-0123456789ab.part9.flac"])  # a redelivery's cleanup

    assert await meetings.claim_held(read, FakeClock()()) is False
    assert await meetings.settle_held(read["_id"], read[HELD]["token"], []) is False
    stored = await note(mongo, 64)
    assert isinstance(stored, dict) and stored["keys"] == [f"{prefix}cut-0123456789ab.part9.flac"]


@pytest.mark.integration
@pytest.mark.parametrize("processed", [True, False])
async def test_objects_held_for_a_job_the_notifier_gave_up_on_go(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path, processed: bool
) -> None:
    """A job the notifier gave up on keeps its status (``in_progress``) and gets ``processed_at``: nothing reports it
    again, so what it held stayed for ever, judged every round. One it still follows keeps what it reads."""
    prefix, current = await held_meeting(infra, mongo, store, tmp_path, 65)
    given_up = {"status": "in_progress", **({"processed_at": FakeClock()()} if processed else {})}
    await mongo.db[JOBS].update_many({"meeting_uuid": "uuid/65==", "generation": 0}, {"$set": given_up})

    clock = FakeClock()
    clock.advance(1)
    await replica(infra, mongo, clock).once()

    left = await objects(store, prefix)
    assert current in left and len(left) == (1 if processed else 3)  # the page's mix, and the parts unless given up
    assert (await note(mongo, 65) is None) == processed


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> Rounds:
    return scripted_rounds(monkeypatch, HeldSweeper)


@pytest.mark.integration
@pytest.mark.parametrize("interval", [0.001, 0.0])
async def test_the_app_runs_the_pass_beside_the_consumer_and_stops_it_on_shutdown(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, rounds: Rounds, interval: float
) -> None:
    """``leftovers_interval_seconds`` 0 turns it off."""
    settings = Settings(notifier_public_url="https://notifier.example.com", callback_secret=SECRET,
                        leftovers_interval_seconds=interval)  # fmt: skip
    assert _held_ctx in build_app(settings).cleanup_ctx
    app = web.Application()
    app[SETTINGS], app[MONGO] = settings, mongo
    app[SUBMITTER] = build_submitter(infra, mongo, tenants_for("symbl", "http://127.0.0.1:9"), session, "", [])
    context = _held_ctx(app)
    await anext(context)  # start-up
    tasks = [task for task in asyncio.all_tasks() if task.get_name() == TASK]
    assert len(tasks) == (1 if interval else 0)
    if interval:
        await asyncio.wait_for(rounds.third.wait(), 10)
    with pytest.raises(StopAsyncIteration):
        await anext(context)  # shutdown
    assert all(task.cancelled() for task in tasks)
    assert rounds.seen[:3] == (["MongoUnavailable", "KeyError", "done"] if interval else [])
