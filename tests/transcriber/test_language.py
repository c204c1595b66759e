"""The work order's language (the tenant's) is the one the model transcribes in, or the job fails saying why.

Real MongoDB, S3 and ffmpeg. A multilingual model is a stand-in (the only model here is the packaged tiny.en) that
records the language faster-whisper is asked for; the refusals run the real tiny.en as the service configures it,
through the transcriber's subscriber and the shared consumer policy (the Kafka side in memory).
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.app import model_config
from zoomsymbl_transcriber.settings import Settings
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import Transcriber

from tests.support.audio import sine_flac
from tests.transcriber.test_deadline import deliver
from tests.transcriber.test_worker import M1_KEY, Reports, make_worker, request, submitted
from tests.whisper.test_languages import multilingual, transcriber

pytestmark = [pytest.mark.integration]


def worker(mongo: Mongo, store: ObjectStore, model: Transcriber, tmp_path: Path, reports: Reports) -> Worker:
    return make_worker(
        mongo,
        store,
        model,
        tmp_path,
        publish=reports,
        model_name=model.name,
        decoding=model.decoding,
        clock=FakeClock(),
        scratch_dir=tmp_path / "scratch",
    )


async def submit(provider: WhisperProvider, store: ObjectStore, language: str) -> str:
    """A one-channel work order of meeting m1 whose tenant speaks ``language``; its job id."""
    order = dataclasses.replace(request(M1_KEY, store.bucket, channels=1), language=language)
    return (await provider.submit(order)).job_id


@pytest.mark.parametrize(("tenant_language", "code"), [("de-DE", "de"), ("pt_BR", "pt"), ("en-US", "en")])
async def test_the_work_orders_language_reaches_a_multilingual_model(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, tenant_language: str, code: str
) -> None:
    await store.put_file(M1_KEY, str(sine_flac(tmp_path / "m1.flac", 2)))
    model, reports = multilingual(), Reports()
    provider = WhisperProvider(mongo)
    job_id = await submit(provider, store, tenant_language)

    await worker(mongo, store, transcriber(model), tmp_path, reports).on_job_submitted(submitted(job_id))

    assert (await provider.job_status(job_id)).status == "completed"
    assert model.languages == [code, code], "both windows of the channel, in the tenant's language"


@pytest.fixture
def english(tmp_path: Path) -> Path:
    """One channel saying "Can we ship the release on Friday?" (espeak-ng, FLAC, 16 kHz)."""
    wav, flac = tmp_path / "line.wav", tmp_path / "m1.flac"
    subprocess.run(["espeak-ng", "-w", str(wav), "Can we ship the release on Friday?"], check=True, timeout=60)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "16000", "-c:a", "flac", str(flac)],
        check=True,
        timeout=60,
    )
    return flac


async def test_the_packaged_tiny_en_fails_other_and_unknown_languages_with_the_reason_and_transcribes_english(
    mongo: Mongo, store: ObjectStore, infra: InfraSettings, tmp_path: Path, english: Path
) -> None:
    model = Transcriber(model_config(Settings()))  # the default: the packaged tiny.en
    model.load()
    await store.put_file(M1_KEY, str(english))
    reports, provider = Reports(), WhisperProvider(mongo)
    rig = worker(mongo, store, model, tmp_path, reports)
    german, unknown, american = [await submit(provider, store, tag) for tag in ("de-DE", "xx-YY", "en-US")]

    letters = [await deliver(rig, infra, submitted(job_id)) for job_id in (german, unknown, american)]

    assert letters == [[], [], []], "a refused language fails its job at once: neither retried nor dead-lettered"
    assert [(e.job_id, e.reported_status) for e in reports.events] == [
        (german, "failed"),
        (unknown, "failed"),
        (american, "completed"),
    ]
    refused = await provider.job_status(german)
    assert refused.reason is not None
    assert refused.reason.startswith(
        "the language 'de-DE' cannot be transcribed by the English-only Whisper model 'tiny.en'"
    ), "not a German meeting transcribed as English words"
    unknown_reason = (await provider.job_status(unknown)).reason
    assert unknown_reason is not None
    assert unknown_reason.startswith("the language 'xx-YY' is not one Whisper knows (model 'tiny.en')")
    insights = await provider.fetch_insights(SubmittedJob(american, american))
    assert "friday" in insights.messages[0].text.lower()
    assert list((tmp_path / "scratch").iterdir()) == []
