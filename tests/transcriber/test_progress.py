"""Progress is written from the meeting's talk times, per part of a split meeting; a stored talk time no number can
share never fails the job.

Real MongoDB and S3; a stub model.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.status import format_history, meeting_history
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import MEETINGS, Meeting
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_transcriber.talk import talk_shares
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance

from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, Reports, make_worker, request, submitted

pytestmark = [pytest.mark.integration]


async def test_a_meeting_whose_talk_times_add_up_past_a_float_reaches_100_percent(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """The records take 1e308 as a talk time (documents written before the events bounded them): two of them
    added up to Infinity, every share was 0 and a finished meeting read "0 %". MongoDB also stores Infinity
    (this test server refuses it): a NaN share failed every progress write, and so the job (the unit test below)."""
    stats = [{"channel": c, "talk_seconds": 1e308} for c in (1, 2)]
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1", "speaker_stats": stats})
    audio = tmp_path / "m1.flac"
    audio.write_bytes(b"stub audio: the stub model does not read it")
    await store.put_file(M1_KEY, str(audio))
    provider, reports = WhisperProvider(mongo), Reports()
    job = await provider.submit(request(M1_KEY, store.bucket))
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=StubTranscriber(),
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
    )

    await worker.on_job_submitted(submitted(job.job_id))

    assert (await provider.job_status(job.job_id)).status == "completed"
    assert [e.reported_status for e in reports.events] == ["completed"]
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": "m1"})
    assert meeting is not None and meeting["transcription_parts"][job.job_id]["percent"] == 100.0


def test_shares_are_finite_and_add_up_whatever_the_stored_talk_times() -> None:
    """A NaN share made ``Progress`` invalid: the job was retried as a bug, then failed, transcribed each time."""
    for talk in ([math.inf, 10.0], [1e308, 1e308], [math.inf, math.inf], [0.0, 0.0], [1e308, 1.0]):
        stats = [{"channel": c, "talk_seconds": t} for c, t in enumerate(talk, start=1)]
        meeting = Meeting.from_document({"tenant": "acme", "meeting_uuid": "m", "speaker_stats": stats})
        shares = talk_shares(meeting, 2)
        assert all(math.isfinite(s) and 0 <= s <= 1 for s in shares), (talk, shares)
        assert sum(shares) == pytest.approx(1.0), (talk, shares)


class HoldsSecondChannel(StubTranscriber):
    """Channel 2 waits for ``release``; ``second`` is set once it started (channel 1's progress is written by then)."""

    def __init__(self) -> None:
        super().__init__()
        self.second = asyncio.Event()
        self.release = asyncio.Event()

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        if channel == 2:
            self.second.set()
            await self.release.wait()
        return await super().transcribe_channel(path, channel, language=language)


async def test_two_parts_transcribed_at_once_each_show_their_own_progress(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """A split meeting's parts are jobs of their own, run by two workers at once. Each wrote the meeting's one
    ``transcription_progress`` with its own job and percent: the meeting's progress jumped between the parts, and
    ``zoomsymbl status`` showed only the part that wrote last (here: part 2 done, part 1 at half its talk time)."""
    stats = [{"channel": 1, "talk_seconds": 30.0}, {"channel": 2, "talk_seconds": 10.0}]
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1", "speaker_stats": stats})
    audio = tmp_path / "part.flac"
    audio.write_bytes(b"stub audio: the stub model does not read it")
    provider, jobs = WhisperProvider(mongo), []
    for index in range(2):
        key = f"mixed/acme/{meeting_key('m1')}.part{index}.flac"
        await store.put_file(key, str(audio))
        jobs.append((await provider.submit(request(key, store.bucket))).job_id)
    first, second = HoldsSecondChannel(), StubTranscriber()
    events = [
        submitted(job_id).model_copy(update={"part_index": index, "part_count": 2}) for index, job_id in enumerate(jobs)
    ]
    part_1 = asyncio.create_task(make_worker(mongo, store, first, tmp_path, owner="a").on_job_submitted(events[0]))
    part_2 = asyncio.create_task(make_worker(mongo, store, second, tmp_path, owner="b").on_job_submitted(events[1]))
    second_channel = asyncio.create_task(first.second.wait())
    await asyncio.wait({part_1, second_channel}, return_when=asyncio.FIRST_COMPLETED)
    assert not part_1.done(), "part 1 ended before its second channel"
    await part_2  # part 2 finished while part 1 is at its second channel

    shown = await _status(mongo)
    assert f"part 1/2 generation 0: 75% (1/2 channels, job {jobs[0]})" in shown, shown
    assert f"part 2/2 generation 0: 100% (2/2 channels, job {jobs[1]})" in shown, shown

    first.release.set()
    await part_1
    doc = await mongo.db[MEETINGS].find_one({"meeting_uuid": "m1"})
    assert doc is not None and doc["updated_at"] is not None  # progress is an update: the meeting is not stalled
    shown = await _status(mongo)
    assert f"part 1/2 generation 0: 100% (2/2 channels, job {jobs[0]})" in shown, shown
    assert f"part 2/2 generation 0: 100% (2/2 channels, job {jobs[1]})" in shown, shown


async def _status(mongo: Mongo) -> str:
    history = await meeting_history(mongo, "m1", "acme")
    assert history is not None
    return format_history(history)
