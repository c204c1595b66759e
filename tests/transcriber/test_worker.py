"""The transcriber's work: a whisper job from the submitter's record to the stored transcript and the report.

Real MongoDB, S3, ffmpeg and the packaged Whisper tiny.en model; the audio is espeak-ng speech.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.events import ChannelAssignment, JobStatusReported, JobSubmitted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import MEETINGS, TRANSCRIPTIONS, Meeting
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_transcriber.talk import talk_shares
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ModelConfig, Transcriber, packaged_model_dir

pytestmark = [pytest.mark.integration]
LINES = ("Can we ship the release on Friday?", "I will send the release notes tomorrow.")


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    model = Transcriber(ModelConfig(packaged_model_dir(), language="en"))
    model.load()
    return model


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Channel 1 says LINES[0] at 0.5 s, channel 2 says LINES[1] at 5 s (FLAC, 16 kHz)."""
    folder = tmp_path_factory.mktemp("speech")
    for index, line in enumerate(LINES):
        subprocess.run(["espeak-ng", "-w", str(folder / f"{index}.wav"), line], check=True, timeout=60)
    out = folder / "meeting.flac"
    graph = "[0:a]adelay=500,apad=whole_dur=10[a];[1:a]adelay=5000,apad=whole_dur=10[b];[a][b]join=inputs=2[o]"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "0.wav"), "-i", str(folder / "1.wav"),
         "-filter_complex", graph, "-map", "[o]", "-t", "10", "-ar", "16000", "-c:a", "flac", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return out


class Reports:
    def __init__(self) -> None:
        self.events: list[JobStatusReported] = []

    async def __call__(self, event: JobStatusReported) -> None:
        self.events.append(event)


M1_KEY = f"mixed/acme/{meeting_key('m1')}.flac"
"""The mixer's file of meeting m1 of tenant acme, whose work orders ``submitted`` names."""


def make_worker(
    mongo: Mongo,
    store: ObjectStore,
    model: object,
    tmp_path: Path,
    *,
    owner: str = "this-worker",
    kind: Callable[..., Worker] = Worker,
    **fields: Any,
) -> Worker:
    """A worker (of class ``kind``) on the test's MongoDB and bucket, its scratch under ``tmp_path / owner``; ``fields``
    override the defaults (a fresh :class:`Reports`, lease 900 s, model "stub") or add to them (``clock``...)."""
    defaults: dict[str, Any] = {
        "publish": Reports(),
        "scratch_dir": tmp_path / owner,
        "lease_seconds": 900.0,
        "model_name": "stub",
        "decoding": "test",
    }
    return kind(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=cast(Transcriber, model),
        owner=owner,
        **(defaults | fields),
    )


def request(key: str, bucket: str, channels: int = 2) -> SubmitRequest:
    names = ("Elisa L", "Zoë 🎧 Ng")
    return SubmitRequest(
        name="Sync",
        language="en-US",
        audio_format="flac",
        channels=channels,
        channel_map=tuple(
            ChannelAssignment(channel=i + 1, participant_name=n, file_ids=(f"f{i}",), offset_seconds=0.0)
            for i, n in enumerate(names[:channels])
        ),
        diarization=False,
        webhook_url=SecretStr("unused://"),
        size_bytes=1,
        duration_seconds=10.0,
        object_bucket=bucket,
        object_key=key,
    )


def submitted(job_id: str) -> JobSubmitted:
    return JobSubmitted(
        event_id=f"ev-{job_id}",
        tenant="acme",
        meeting_uuid="m1",
        provider="whisper",
        job_id=job_id,
        conversation_id=job_id,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rig(
    mongo: Mongo, store: ObjectStore, transcriber: Transcriber, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[Worker, Reports, WhisperProvider]]:
    reports = Reports()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=transcriber,
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="test-worker",
        lease_seconds=600,
        model_name="tiny.en",
        decoding="test",
        clock=clock,
    )
    yield worker, reports, WhisperProvider(mongo)


async def test_a_job_is_transcribed_per_channel_stored_and_reported(
    rig: tuple[Worker, Reports, WhisperProvider], store: ObjectStore, mongo: Mongo, two_speakers: Path
) -> None:
    worker, reports, provider = rig
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": "m1", "speaker_stats": [{"channel": 1, "talk_seconds": 3.0},
                                                                    {"channel": 2, "talk_seconds": 1.0}]}
    )  # fmt: skip
    await store.put_file(M1_KEY, str(two_speakers))
    job = await provider.submit(request(M1_KEY, store.bucket))
    assert (await provider.job_status(job.job_id)).status == "scheduled"

    await worker.on_job_submitted(submitted(job.job_id))

    assert [(e.job_id, e.reported_status, e.via, e.provider) for e in reports.events] == [
        (job.job_id, "completed", "worker", "whisper")
    ]
    assert (await provider.job_status(job.job_id)).status == "completed"
    insights = await provider.fetch_insights(SubmittedJob(job.job_id, job.job_id))
    assert [m.channel for m in insights.messages] == [1, 2]
    assert "friday" in insights.messages[0].text.lower()
    assert "tomorrow" in insights.messages[1].text.lower()
    assert insights.messages[1].start_seconds == pytest.approx(5.0, abs=1.0)
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": "m1"})
    assert meeting is not None
    assert meeting["transcription_parts"][job.job_id]["percent"] == 100.0
    assert list((worker.scratch_dir).iterdir()) == [], "the scratch copy is removed"

    # A redelivered work order does not transcribe again: it reports the stored outcome.
    await worker.on_job_submitted(submitted(job.job_id))
    assert [e.reported_status for e in reports.events] == ["completed", "completed"]
    assert reports.events[0].event_id == reports.events[1].event_id


async def test_a_job_held_by_a_live_worker_is_retried_later_and_other_providers_are_ignored(
    rig: tuple[Worker, Reports, WhisperProvider], store: ObjectStore, mongo: Mongo, clock: FakeClock
) -> None:
    worker, reports, provider = rig
    job = await provider.submit(request(M1_KEY, store.bucket))
    await mongo.db[TRANSCRIPTIONS].update_one(
        {"_id": job.job_id},
        {"$set": {"status": "in_progress", "owner": "other", "lease_until": clock() + timedelta(minutes=5)}},
    )
    clock.advance(299)
    with pytest.raises(RetryableError, match="another worker"):
        await worker.on_job_submitted(submitted(job.job_id))
    other = submitted(job.job_id).model_copy(update={"provider": "assemblyai"})
    await worker.on_job_submitted(other)
    assert reports.events == []


async def test_a_dead_workers_job_is_taken_over_once_its_lease_ran_out(
    rig: tuple[Worker, Reports, WhisperProvider], store: ObjectStore, mongo: Mongo, clock: FakeClock, tmp_path: Path
) -> None:
    worker, reports, provider = rig
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"<html>not audio</html>" * 100)
    await store.put_file(M1_KEY, str(junk))
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    await mongo.db[TRANSCRIPTIONS].update_one(
        {"_id": job.job_id},
        {"$set": {"status": "in_progress", "owner": "dead", "lease_until": clock() + timedelta(minutes=5)}},
    )
    clock.advance(301)
    await worker.on_job_submitted(submitted(job.job_id))
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None and (doc["owner"], doc["status"]) == ("test-worker", "failed")
    assert doc["started_at"] == clock() and "lease_until" not in doc
    assert [e.reported_status for e in reports.events] == ["failed"]


@pytest.mark.parametrize(
    "lease",
    [{"$unset": {"lease_until": ""}}, {"$set": {"lease_until": "2026-01-01T00:00:00+00:00"}},
     {"$set": {"lease_until": datetime(9999, 1, 1, tzinfo=UTC)}}],
    ids=["none", "not-a-date", "year-9999"],
)  # fmt: skip
async def test_a_job_in_progress_under_no_lease_a_worker_writes_is_taken_over(
    rig: tuple[Worker, Reports, WhisperProvider],
    store: ObjectStore,
    mongo: Mongo,
    clock: FakeClock,
    tmp_path: Path,
    lease: dict[str, Any],
) -> None:
    """Before, only a lease that had run out was taken over: a job ``in_progress`` with none (or one no worker writes)
    was held elsewhere on every delivery, and the worker waited on it until the notifier gave the job up (48 h)."""
    worker, reports, provider = rig
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"<html>not audio</html>" * 100)
    await store.put_file(M1_KEY, str(junk))
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    await mongo.db[TRANSCRIPTIONS].update_one({"_id": job.job_id}, {"$set": {"status": "in_progress", "owner": "x"}})
    await mongo.db[TRANSCRIPTIONS].update_one({"_id": job.job_id}, lease)
    await worker.on_job_submitted(submitted(job.job_id))
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None and (doc["owner"], doc["status"]) == ("test-worker", "failed")
    assert [e.reported_status for e in reports.events] == ["failed"]


async def test_undecodable_audio_fails_the_job_with_the_reason_and_unknown_jobs_are_poison(
    rig: tuple[Worker, Reports, WhisperProvider], store: ObjectStore, tmp_path: Path
) -> None:
    worker, reports, provider = rig
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"<html>not audio</html>" * 100)
    await store.put_file(M1_KEY, str(junk))
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    await worker.on_job_submitted(submitted(job.job_id))
    state = await provider.job_status(job.job_id)
    assert state.status == "failed"
    assert state.reason is not None and "ffmpeg could not decode" in state.reason
    assert [e.reported_status for e in reports.events] == ["failed"]
    with pytest.raises(PoisonInputError):
        await provider.fetch_insights(SubmittedJob(job.job_id, job.job_id))
    with pytest.raises(PoisonInputError, match="no transcription"):
        await worker.on_job_submitted(submitted("whisper-nope"))


def test_progress_follows_talk_time_and_falls_back_to_equal_shares() -> None:
    stats = [{"channel": 1, "talk_seconds": 30.0}, {"channel": 2, "talk_seconds": 10.0}]
    meeting = Meeting.from_document({"tenant": "acme", "meeting_uuid": "m", "speaker_stats": stats})
    assert talk_shares(meeting, 2) == [0.75, 0.25]
    assert talk_shares(None, 4) == [0.25] * 4
