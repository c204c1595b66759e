"""What a model run amok cannot do to a job: its result must still fit the 16 MiB ``transcriptions`` document.

Real MongoDB and S3; the model is replaced by one that "hears" a fixed, hostile list of utterances.
"""

from __future__ import annotations

from pathlib import Path

import bson
import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.providers.whisper import MAX_UTTERANCES, WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.transcript import MAX_TEXT_CHARS
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance, ModelConfig, Transcriber, packaged_model_dir

from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

pytestmark = [pytest.mark.integration]
MONGO_MAX_DOCUMENT = 16 * 1024 * 1024


class Hallucinating(Transcriber):
    """A model that hears ``heard`` on every channel (nothing is decoded)."""

    def __init__(self, heard: list[ChannelUtterance]) -> None:
        super().__init__(ModelConfig(packaged_model_dir()))
        self.heard = heard

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        assert path.is_file()
        return [u for u in self.heard if u.channel == channel]


async def run_job(mongo: Mongo, store: ObjectStore, tmp_path: Path, heard: list[ChannelUtterance]) -> str:
    audio = tmp_path / "mixed.flac"
    audio.write_bytes(b"fLaC" + bytes(100))
    await store.put_file(M1_KEY, str(audio))
    provider = WhisperProvider(mongo)
    job = await provider.submit(request(M1_KEY, store.bucket))
    reports = Reports()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=Hallucinating(heard),
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="test-worker",
        lease_seconds=600,
        model_name="tiny.en",
        decoding="test",
    )
    await worker.on_job_submitted(submitted(job.job_id))
    assert [e.reported_status for e in reports.events] == ["completed"]
    assert list(worker.scratch_dir.iterdir()) == []
    return job.job_id


async def test_a_transcript_too_big_for_one_document_keeps_its_earliest_utterances(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    # Two channels of a day-long meeting on which the model "heard" a 120-character line every 0.8 s.
    line = "and so on " * 12
    heard = [ChannelUtterance(1 + i % 2, i * 0.4, i * 0.4 + 0.8, f"{i} {line}") for i in range(MAX_UTTERANCES)]
    job_id = await run_job(mongo, store, tmp_path, heard)

    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
    assert doc is not None and doc["status"] == "completed"
    assert len(bson.encode(doc)) < MONGO_MAX_DOCUMENT
    insights = await WhisperProvider(mongo).fetch_insights(SubmittedJob(job_id, job_id))
    assert insights.messages, "the transcript is kept, cut, not lost"
    assert insights.messages[0].text.startswith("0 ")
    kept = len(doc["utterances"])
    assert 10_000 < kept < MAX_UTTERANCES
    assert [u["text"].split()[0] for u in doc["utterances"][-2:]] == [str(kept - 2), str(kept - 1)]


async def test_a_megabyte_long_utterance_is_stored_cut(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> None:
    heard = [
        ChannelUtterance(1, 1.0, 29.0, "la " * 350_000),
        ChannelUtterance(2, 30.0, 31.0, "Thanks, bye."),
    ]
    job_id = await run_job(mongo, store, tmp_path, heard)
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
    assert doc is not None and doc["status"] == "completed"
    assert [len(u["text"]) for u in doc["utterances"]] == [MAX_TEXT_CHARS, len("Thanks, bye.")]
