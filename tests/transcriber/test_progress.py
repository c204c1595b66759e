"""Progress is written from the meeting's talk times; a stored talk time no number can share never fails the job.

Real MongoDB and S3; a stub model.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import MEETINGS, Meeting
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.talk import talk_shares
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

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
    assert meeting is not None and meeting["transcription_progress"]["percent"] == 100.0


def test_shares_are_finite_and_add_up_whatever_the_stored_talk_times() -> None:
    """A NaN share made ``Progress`` invalid: the job was retried as a bug, then failed, transcribed each time."""
    for talk in ([math.inf, 10.0], [1e308, 1e308], [math.inf, math.inf], [0.0, 0.0], [1e308, 1.0]):
        stats = [{"channel": c, "talk_seconds": t} for c, t in enumerate(talk, start=1)]
        meeting = Meeting.from_document({"tenant": "acme", "meeting_uuid": "m", "speaker_stats": stats})
        shares = talk_shares(meeting, 2)
        assert all(math.isfinite(s) and 0 <= s <= 1 for s in shares), (talk, shares)
        assert sum(shares) == pytest.approx(1.0), (talk, shares)
