"""A job's channels are checkpointed as they are transcribed: a later run of the job transcribes only the others.

Before, a job's channels lived in the worker's memory until its whole result was stored, and every retry (a rollout
cutting the run, a channel overdue, an outage, a crash) started over from the download: hours of CPU for a long
meeting, at every deployment. Real MongoDB and S3; the packaged tiny.en where the transcript's equality matters, a
stub model elsewhere. A run is interrupted as the service's stop does it: its task cancelled while channel 2 runs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import bson
import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo, purge_expired
from zoomsymbl_common.ops.forget import forget, survey
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTION_CHECKPOINTS, TRANSCRIPTIONS, MalformedRecord
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_transcriber.app import model_config
from zoomsymbl_transcriber.checkpoints import PART_BYTES, CheckpointPart, Checkpoints, Source, part_documents
from zoomsymbl_transcriber.settings import Settings
from zoomsymbl_transcriber.transcript import stored_utterances
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance, ModelConfig, Transcriber, whisper_language

from tests.transcriber.test_handlers import KEY, Rig, rig  # noqa: F401 (the fixture)
from tests.transcriber.test_worker import (  # noqa: F401 (the fixtures)
    M1_KEY,
    Reports,
    make_worker,
    request,
    submitted,
    transcriber,
    two_speakers,
)

pytestmark = [pytest.mark.integration]
STUB_AUDIO = b"stub audio: the stub model does not read it"


class Model:
    """Counts the channels it is asked for and never ends channel ``hold`` (until cancelled). With ``real``, that
    model transcribes; else one line per channel, naming the language it was asked for."""

    def __init__(self, real: Transcriber | None = None, hold: int | None = None) -> None:
        self.real, self.hold = real, hold
        self.channels: list[int] = []
        self.held = asyncio.Event()

    def language_for(self, tag: str | None) -> str | None:
        return self.real.language_for(tag) if self.real else whisper_language(tag, "stub")

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        self.channels.append(channel)
        if channel == self.hold:
            self.held.set()
            await asyncio.Event().wait()
        if self.real is not None:
            return await self.real.transcribe_channel(path, channel, language=language)
        return [ChannelUtterance(channel, float(channel), channel + 1.0, f"line {channel} ({language})")]


DECODING = ModelConfig(Path("stub")).decoding
"""The decoding of the transcriber's default settings."""


def worker(
    mongo: Mongo,
    store: ObjectStore,
    model: Model,
    owner: str,
    tmp_path: Path,
    clock: FakeClock,
    name: str = "stub",
    decoding: str = DECODING,
) -> Worker:
    return make_worker(
        mongo, store, model, tmp_path, owner=owner, lease_seconds=600, model_name=name, decoding=decoding, clock=clock
    )


async def checkpoints(mongo: Mongo, job_id: str, **more: Any) -> int:
    return await mongo.db[TRANSCRIPTION_CHECKPOINTS].count_documents({"job_id": job_id, **more})


async def interrupted(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, clock: FakeClock, job_id: str, real: Transcriber | None = None
) -> None:
    """A run of the job stopped by the service's stop while its channel 2 runs; the lease it let go is free."""
    model = Model(real, hold=2)
    running = asyncio.create_task(
        worker(mongo, store, model, "first", tmp_path, clock).on_job_submitted(submitted(job_id))
    )
    held = asyncio.create_task(model.held.wait())
    await asyncio.wait({running, held}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    assert model.held.is_set() and not running.done(), "the run reached channel 2"
    assert await checkpoints(mongo, job_id, channel=1) == 1, "channel 1 stored before channel 2 began"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    held.cancel()
    clock.advance(1.0)


async def interrupted_job(mongo: Mongo, store: ObjectStore, tmp_path: Path, clock: FakeClock) -> tuple[Path, str]:
    """The meeting's mix stored, its work order submitted and a first run of it :func:`interrupted`: the audio's
    path and the job's id."""
    audio = tmp_path / "m1.flac"
    audio.write_bytes(STUB_AUDIO)
    await store.put_file(M1_KEY, str(audio))
    order = await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket))
    await interrupted(mongo, store, tmp_path, clock, order.job_id)
    return audio, order.job_id


async def texts(mongo: Mongo, job_id: str) -> tuple[str, list[str]]:
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
    assert doc is not None
    return doc["status"], [u["text"] for u in doc.get("utterances", [])]


async def test_an_interrupted_job_resumes_with_channel_2_only_and_stores_the_uninterrupted_transcript(
    mongo: Mongo,
    store: ObjectStore,
    transcriber: Transcriber,  # noqa: F811 (the imported fixture)
    two_speakers: Path,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    await store.put_file(M1_KEY, str(two_speakers))
    provider, clock = WhisperProvider(mongo), FakeClock()
    reference = await provider.submit(request(M1_KEY, store.bucket))
    resumed = await provider.submit(request(M1_KEY, store.bucket))
    await worker(mongo, store, Model(transcriber), "reference", tmp_path, clock).on_job_submitted(
        submitted(reference.job_id)
    )

    await interrupted(mongo, store, tmp_path, clock, resumed.job_id, real=transcriber)
    model = Model(transcriber)
    await worker(mongo, store, model, "second", tmp_path, clock).on_job_submitted(submitted(resumed.job_id))

    assert model.channels == [2], "channel 1 taken from its checkpoint"
    want = await mongo.db[TRANSCRIPTIONS].find_one({"_id": reference.job_id})
    got = await mongo.db[TRANSCRIPTIONS].find_one({"_id": resumed.job_id})
    assert want is not None and got is not None and got["status"] == "completed"
    assert got["utterances"] == want["utterances"] and len(want["utterances"]) >= 2
    assert await checkpoints(mongo, resumed.job_id) == 0, "removed once the result was stored"


async def test_a_retry_after_a_failure_at_channel_2_transcribes_channel_2_only(rig: Rig) -> None:  # noqa: F811
    """Through the consumer's retries: a crash in channel 2 (here a bug; a ChannelOverdue the same) costs channel 1
    nothing."""
    order = await rig.provider.submit(request(KEY, rig.store.bucket))
    calls = rig.model.channels
    real = rig.model.transcribe_channel

    async def failing_once_at_2(path: Path, channel: int, *, language: str | None = None) -> list[ChannelUtterance]:
        if channel == 2 and calls.count(2) == 0:
            calls.append(2)
            raise KeyError("a bug in channel 2")
        return await real(path, channel, language=language)

    rig.model.transcribe_channel = failing_once_at_2  # type: ignore[method-assign]
    await rig.deliver(submitted(order.job_id))

    assert (calls, rig.store.downloads) == ([1, 2, 2], 2), "the retry transcribed channel 2 alone"
    assert [u["text"] for u in (await rig.job(order.job_id))["utterances"]] == ["line 1", "line 2"]
    assert [e.reported_status for e in rig.reports.events] == ["completed"] and rig.letters == []


async def test_a_job_whose_channels_are_all_stored_is_not_downloaded_again(rig: Rig) -> None:  # noqa: F811
    """A run that ended after its last channel and before its result was stored (a crash, an outage)."""
    order = await rig.provider.submit(request(KEY, rig.store.bucket))
    audio = await rig.store.stat(KEY)
    source = Source(order.job_id, KEY, audio.size, audio.etag, "stub", "en", "test")
    kept = Checkpoints(rig.worker.mongo, "earlier-run", FakeClock())
    for channel in (1, 2):
        said = ChannelUtterance(channel, channel * 2.0, channel * 2.0 + 1, f"kept {channel}")
        await kept.save(source, channel, [said])

    await rig.deliver(submitted(order.job_id))

    assert (rig.model.channels, rig.store.downloads) == ([], 0)
    assert [u["text"] for u in (await rig.job(order.job_id))["utterances"]] == ["kept 1", "kept 2"]


# The settings the transcriber passes to its model that change the words (Settings → model_config → decoding).
DECODINGS = {
    "beam-size": {"beam_size": 5},
    "compute-type": {"compute_type": "float32"},
    "device": {"device": "cuda"},
    "window": {"window_seconds": 300.0},
}


@pytest.mark.parametrize("change", ["nothing", "object", "model", "language", *DECODINGS, "decoding-unrecorded"])
async def test_a_checkpoint_is_reused_only_for_the_same_object_model_language_and_decoding(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, change: str
) -> None:
    """Before, the decoding was not part of a checkpoint's identity: after a change of the beam size (or the compute
    type, the window) a resumed job mixed channels transcribed under the old settings with ones under the new."""
    clock = FakeClock()
    audio, job_id = await interrupted_job(mongo, store, tmp_path, clock)
    name, language, decoding = "stub", "en", DECODING
    if change == "object":  # the mixed file written again under its key: other bytes
        audio.write_bytes(STUB_AUDIO + b", written again")
        await store.put_file(M1_KEY, str(audio))
    elif change == "model":
        name = "stub-large"
    elif change == "language":  # the work order's language edited: transcribed in another
        await mongo.db[TRANSCRIPTIONS].update_one({"_id": job_id}, {"$set": {"language": "de-DE"}})
        language = "de"
    elif change in DECODINGS:  # the transcriber redeployed with another setting
        decoding = model_config(Settings(**DECODINGS[change])).decoding  # type: ignore[arg-type]
        assert decoding != model_config(Settings()).decoding == DECODING
    elif change == "decoding-unrecorded":  # written by a release that did not record the decoding
        await mongo.db[TRANSCRIPTION_CHECKPOINTS].update_many({"job_id": job_id}, {"$unset": {"decoding": ""}})

    model = Model()
    second = worker(mongo, store, model, "second", tmp_path, clock, name=name, decoding=decoding)
    await second.on_job_submitted(submitted(job_id))

    assert model.channels == ([2] if change == "nothing" else [1, 2])
    assert await texts(mongo, job_id) == ("completed", [f"line 1 ({language})", f"line 2 ({language})"])


CORRUPTIONS: dict[str, Document] = {
    "not-a-list": {"$set": {"utterances": "line 1 (en)"}},
    "negative-start": {"$set": {"utterances.0.start": -1.0}},
    "end-not-a-number": {"$set": {"utterances.0.end": "1.5 s"}},
    "overlong-text": {"$set": {"utterances.0.text": "x" * 5_001}},
    "text-not-a-string": {"$set": {"utterances.0.text": 12345}},
    "a-part-missing": {"$set": {"parts": 2}},
    "no-etag": {"$unset": {"object_etag": ""}},
    "parts-beyond-bound": {"$set": {"parts": 10_000}},
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
async def test_a_malformed_checkpoint_is_ignored_logged_and_its_channel_transcribed_again(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, corruption: str
) -> None:
    clock = FakeClock()
    _, job_id = await interrupted_job(mongo, store, tmp_path, clock)
    edited = await mongo.db[TRANSCRIPTION_CHECKPOINTS].update_many({"job_id": job_id}, CORRUPTIONS[corruption])
    assert edited.modified_count == 1

    model = Model()
    with caplog.at_level(logging.INFO, logger="zoomsymbl.transcriber"):
        await worker(mongo, store, model, "second", tmp_path, clock).on_job_submitted(submitted(job_id))

    assert model.channels == [1, 2]
    assert await texts(mongo, job_id) == ("completed", ["line 1 (en)", "line 2 (en)"])
    said = [r for r in caplog.records if r.getMessage().startswith("checkpoint") and r.levelno == logging.WARNING]
    assert said and all(r.__dict__["job_id"] == job_id and r.__dict__["channel"] == 1 for r in said)


@pytest.mark.parametrize("outcome", ["completed", "given up"])
async def test_checkpoints_are_removed_once_the_jobs_result_is_stored(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, outcome: str
) -> None:
    clock = FakeClock()
    _, job_id = await interrupted_job(mongo, store, tmp_path, clock)
    assert await checkpoints(mongo, job_id) == 1

    second = worker(mongo, store, Model(), "second", tmp_path, clock)
    if outcome == "completed":
        await second.on_job_submitted(submitted(job_id))
    else:  # the retry budget spent: the job fails with the reason
        await second.give_up(submitted(job_id), "retry", "gave up after 5 attempts")

    assert (await texts(mongo, job_id))[0] == ("completed" if outcome == "completed" else "failed")
    assert await checkpoints(mongo, job_id) == 0


async def test_a_checkpoint_left_behind_expires_after_a_week(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> None:
    """A job failed elsewhere (the notifier's give-up), or a removal MongoDB did not take: the TTL index (emulated by
    ``purge_expired`` where the server has none) removes its checkpoints."""
    _, job_id = await interrupted_job(mongo, store, tmp_path, FakeClock())

    await purge_expired(mongo, now=utcnow() + timedelta(days=6))
    assert await checkpoints(mongo, job_id) == 1
    await purge_expired(mongo, now=utcnow() + timedelta(days=8))
    assert await checkpoints(mongo, job_id) == 0


async def test_forget_erases_the_checkpoints_of_the_meeting_only(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    _, job_id = await interrupted_job(mongo, store, tmp_path, FakeClock())
    neighbour_key = f"mixed/acme/{meeting_key('m1d')}.flac"  # another meeting, its key extending m1's
    neighbour = Source("job-of-m1d", neighbour_key, 5, "etag", "stub", "en", "test")
    await Checkpoints(mongo, "other", FakeClock()).save(neighbour, 1, [ChannelUtterance(1, 0.0, 1.0, "kept")])

    holdings = await survey(mongo, [store], "acme", "m1")
    assert holdings.documents[TRANSCRIPTION_CHECKPOINTS] == 1
    await forget(mongo, [store], holdings, utcnow(), log=store)

    assert await checkpoints(mongo, job_id) == 0
    assert await checkpoints(mongo, "job-of-m1d") == 1


async def test_a_long_channel_is_stored_in_parts_each_far_below_mongodbs_document_limit(mongo: Mongo) -> None:
    """A model looping on noise: 3,000 utterances of 5,000 characters (15 MB), more than a result can hold."""
    said = [ChannelUtterance(1, 2.0 * n, 2.0 * n + 1.5, f"{n} " + "loop " * 1_000) for n in range(3_000)]
    source = Source("job-long", M1_KEY, 1 << 30, "etag", "stub", "en", "test")
    kept = Checkpoints(mongo, "this-worker", FakeClock())

    await kept.save(source, 1, said)

    docs = await mongo.db[TRANSCRIPTION_CHECKPOINTS].find({"job_id": "job-long"}).to_list(None)
    assert 2 <= len(docs) <= 4 and all(len(bson.encode(doc)) < PART_BYTES + 64 * 1024 for doc in docs)
    loaded = (await kept.load(source, 1))[1]
    assert stored_utterances(loaded) == stored_utterances(said), "what the result keeps of the channel, all of it"


def test_a_checkpoint_with_a_time_that_is_no_number_is_malformed() -> None:
    """NaN and infinity (MongoDB stores them; the local FerretDB refuses them) are no times."""
    doc = part_documents(Source("j", M1_KEY, 1, "e", "stub", None, "test"), 1, [], write="w", owner="o", at=utcnow())[0]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(MalformedRecord):
            CheckpointPart.from_document({**doc, "utterances": [{"start": 0.0, "end": bad, "text": "x"}]})
    assert CheckpointPart.from_document(doc).utterances == []


def test_the_cpu_threads_change_no_checkpoints_identity() -> None:
    """A throughput setting: the same words, so the checkpoints of a run with other threads are reused."""
    assert model_config(Settings(cpu_threads=4)).decoding == model_config(Settings()).decoding
