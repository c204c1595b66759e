"""The AssemblyAI sandbox follows AssemblyAI's contract: uploads, queued jobs, multichannel utterances, webhooks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from zoomsymbl_sandbox.assemblyai import ASSEMBLYAI_STATE
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes

ClientFactory = Callable[..., Any]
KEY = {"authorization": "sandbox-assemblyai-key"}


@pytest.fixture
def make_aai(sandboxes: ProviderSandboxes) -> ClientFactory:
    """A test client on a new AssemblyAI sandbox; keyword arguments override its config."""

    async def make(**config: Any) -> TestClient[Any, Any]:
        return await sandboxes.client(await sandboxes.assemblyai(**({"timings": JobTimings(0.2, 0.3)} | config)))

    return make


async def _upload(client: TestClient[Any, Any], audio: Path | bytes) -> str:
    data = audio.read_bytes() if isinstance(audio, Path) else audio
    resp = await client.post("/v2/upload", data=data, headers=KEY)
    assert resp.status == 200
    url: str = (await resp.json())["upload_url"]
    return url


async def _transcribe(client: TestClient[Any, Any], **body: Any) -> dict[str, Any]:
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 200, await resp.text()
    created: dict[str, Any] = await resp.json()
    return created


async def _get(client: TestClient[Any, Any], transcript_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/v2/transcript/{transcript_id}", headers=KEY)).json()
    return body


async def _wait_done(client: TestClient[Any, Any], transcript_id: str) -> dict[str, Any]:
    async def transcript() -> dict[str, Any]:
        return await _get(client, transcript_id)

    return await eventually(
        transcript, lambda body: body["status"] in ("completed", "error"), what=f"transcript {transcript_id} to end"
    )


async def test_api_key_is_required(make_aai: ClientFactory) -> None:
    client = await make_aai()
    for headers in ({}, {"authorization": "wrong"}):
        resp = await client.post("/v2/transcript", json={"audio_url": "http://127.0.0.1/x"}, headers=headers)
        assert resp.status == 401
        assert await resp.json() == {"error": "Authentication error, API token missing/invalid"}
    assert (await client.get("/v2/transcript/nope", headers=KEY)).status == 400, "AssemblyAI: unknown id, 400"


async def test_multichannel_transcript_and_authenticated_webhook(
    make_aai: ClientFactory, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    client = await make_aai()
    created = await _transcribe(
        client,
        audio_url=await _upload(client, tone_audio),
        multichannel=True,
        speech_understanding={"request": {"summarization": {}, "action_items": {}}},
        iab_categories=True,
        webhook_url=f"{receiver.base_url}/aai",
        webhook_auth_header_name="X-Webhook-Secret",
        webhook_auth_header_value="s3cret",
    )
    assert created["status"] == "queued"
    [callback] = await receiver.wait_for(lambda cbs: len(cbs) == 1)
    assert callback.payload == {"transcript_id": created["id"], "status": "completed"}
    assert callback.headers["X-Webhook-Secret"] == "s3cret"
    done = await _get(client, created["id"])
    assert (done["status"], done["audio_channels"], done["webhook_status_code"]) == ("completed", 2, 200)
    assert "webhook_auth_header_value" not in done
    utterances = done["utterances"]
    assert [(u["channel"], u["speaker"]) for u in utterances] == [("1", "1"), ("2", "2")]
    assert utterances[0]["start"] == pytest.approx(500, abs=100)
    assert utterances[1]["start"] == pytest.approx(2000, abs=100)
    assert utterances[1]["end"] == pytest.approx(3000, abs=100)
    assert done["text"] == "Segment 1 on channel 1 (1.0 s) Segment 1 on channel 2 (1.0 s)"
    response = done["speech_understanding"]["response"]
    [topic] = response["summarization"]["summary"]
    assert (topic["start"], topic["end"]) == (utterances[0]["start"], utterances[1]["end"])
    assert topic["headline"] == "Segment 1 on channel 1 (1."
    assert response["action_items"] == {"status": "completed", "action_items": []}
    assert done["iab_categories_result"]["summary"] == {}, "tones say no words"


@pytest.mark.parametrize("deprecated", ["summarization", "summary_model", "summary_type", "auto_chapters"])
async def test_deprecated_summary_parameters_are_refused_naming_the_replacement(
    make_aai: ClientFactory, deprecated: str
) -> None:
    """AssemblyAI's migration guides move these under speech_understanding; a client sending them is wrong."""
    client = await make_aai()
    body = {"audio_url": "http://127.0.0.1:9/a.flac", deprecated: "informative" if "summary_" in deprecated else True}
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 400
    assert "speech_understanding" in (await resp.json())["error"]


async def test_without_speech_models_the_account_default_transcribes(make_aai: ClientFactory) -> None:
    """select-the-speech-model: no speech_models = the account's default model, named in speech_model_used."""
    url = "http://127.0.0.1:9/a.flac"
    created = await _transcribe(await make_aai(), audio_url=url)
    assert (created["speech_models"], created["speech_model_used"]) == (None, "assemblyai-stt-3-7")
    older = await _transcribe(await make_aai(default_speech_model="universal-3-5-pro"), audio_url=url)
    assert older["speech_model_used"] == "universal-3-5-pro", "the default is the account's, and it changes"


async def test_speech_models_are_used_first_to_last(make_aai: ClientFactory, tone_audio: Path) -> None:
    client = await make_aai()
    models = ["universal-3-5-pro", "universal-2"]
    created = await _transcribe(client, audio_url=await _upload(client, tone_audio), speech_models=models)
    assert (created["speech_models"], created["speech_model_used"]) == (models, "universal-3-5-pro")
    done = await _wait_done(client, created["id"])
    assert (done["status"], done["speech_model_used"]) == ("completed", "universal-3-5-pro")


@pytest.mark.parametrize("models", [[], "universal-2", ["universal2"], ["best"], [1]])
async def test_speech_models_other_than_a_list_of_known_ids_are_refused_naming_them(
    make_aai: ClientFactory, models: object
) -> None:
    client = await make_aai()
    body = {"audio_url": "http://127.0.0.1:9/a.flac", "speech_models": models}
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "speech_models" in error
    assert all(
        model in error for model in ("assemblyai-stt-3-7", "universal-3-5-pro", "universal-3-pro", "universal-2")
    )
    assert client.app is not None and client.app[ASSEMBLYAI_STATE].board.jobs == {}


async def test_unknown_understanding_tasks_and_non_english_topics_are_refused(make_aai: ClientFactory) -> None:
    client = await make_aai()
    url = "http://127.0.0.1:9/a.flac"
    bad = {"audio_url": url, "speech_understanding": {"request": {"mind_reading": {}}}}
    assert (await client.post("/v2/transcript", json=bad, headers=KEY)).status == 400
    french = {"audio_url": url, "iab_categories": True, "language_code": "fr"}
    assert (await client.post("/v2/transcript", json=french, headers=KEY)).status == 400


async def test_speaker_labels_without_multichannel(make_aai: ClientFactory, tone_audio: Path) -> None:
    client = await make_aai()
    created = await _transcribe(client, audio_url=await _upload(client, tone_audio), speaker_labels=True)
    done = await _wait_done(client, created["id"])
    assert [u["speaker"] for u in done["utterances"]] == ["A", "B"]
    assert done["audio_channels"] is None


async def test_jobs_over_the_cap_are_queued(make_aai: ClientFactory, tone_audio: Path) -> None:
    client = await make_aai(max_concurrent_jobs=1)
    url = await _upload(client, tone_audio)
    first = await _transcribe(client, audio_url=url, multichannel=True)
    second = await _transcribe(client, audio_url=url, multichannel=True)

    async def first_status() -> str:
        return str((await _get(client, first["id"]))["status"])

    await eventually(first_status, lambda status: status == "processing", what="the first job to run")
    assert (await _get(client, second["id"]))["status"] == "queued"
    assert (await _wait_done(client, second["id"]))["status"] == "completed"
    stats = await (await client.get("/_sandbox/stats")).json()
    assert (stats["max_concurrency"], stats["max_waiting_for_slot"]) == (1, 1)
    assert stats["duplicate_submissions"] == {url: 2}


async def test_injected_429_and_failures(make_aai: ClientFactory, receiver: CallbackReceiver, tone_audio: Path) -> None:
    client = await make_aai()
    url = await _upload(client, tone_audio)
    await client.post("/_sandbox/faults", json={"reject_next": 1, "fail_next_jobs": 1})
    rejected = await client.post("/v2/transcript", json={"audio_url": url}, headers=KEY)
    assert rejected.status == 429
    failed = await _transcribe(client, audio_url=url, webhook_url=receiver.base_url)
    assert (await _wait_done(client, failed["id"]))["error"]
    await receiver.wait_for(lambda cbs: len(cbs) == 1)
    assert receiver.callbacks[0].payload == {"transcript_id": failed["id"], "status": "error"}


async def test_bad_audio_ends_in_error(make_aai: ClientFactory, receiver: CallbackReceiver) -> None:
    client = await make_aai(max_duration_s=2.0)
    junk = await _transcribe(client, audio_url=await _upload(client, b"not audio at all" * 64))
    assert "Transcoding failed" in (await _wait_done(client, junk["id"]))["error"]
    remote = await _transcribe(client, audio_url="http://example.com/meeting.flac")
    assert "Download error" in (await _wait_done(client, remote["id"]))["error"]
    bad = await client.post("/v2/transcript", json={"audio_url": "x", "multichannel": "yes"}, headers=KEY)
    assert bad.status == 400


async def test_too_long_audio_ends_in_error(make_aai: ClientFactory, tone_audio: Path) -> None:
    client = await make_aai(max_duration_s=2.0)
    created = await _transcribe(client, audio_url=await _upload(client, tone_audio))
    assert "longer than the maximum" in (await _wait_done(client, created["id"]))["error"]


async def test_audio_by_loopback_url(
    make_aai: ClientFactory, receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path
) -> None:
    client = await make_aai()
    source = tmp_path / "served.flac"
    source.write_bytes(tone_audio.read_bytes())
    created = await _transcribe(client, audio_url=receiver.file_url("m.flac", source), multichannel=True)
    done = await _wait_done(client, created["id"])
    assert [u["channel"] for u in done["utterances"]] == ["1", "2"]
    assert not list((tmp_path / "aai").glob("assemblyai-fetch-*"))  # downloads are not kept


async def test_uploads_and_urls_have_their_own_size_limits(
    make_aai: ClientFactory, receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path
) -> None:
    """AssemblyAI's FAQ: /v2/upload takes 2.2 GB, an audio_url 5 GB (here scaled down to the test file)."""
    size = tone_audio.stat().st_size
    client = await make_aai(max_upload_bytes=size - 1, max_url_bytes=size)
    resp = await client.post("/v2/upload", data=tone_audio.read_bytes(), headers=KEY)
    assert resp.status == 413
    source = tmp_path / "served.flac"
    source.write_bytes(tone_audio.read_bytes())
    created = await _transcribe(client, audio_url=receiver.file_url("m.flac", source), multichannel=True)
    assert (await _wait_done(client, created["id"]))["status"] == "completed"
    small = await make_aai(max_url_bytes=size - 1)
    refused = await _transcribe(small, audio_url=receiver.file_url("m2.flac", source), multichannel=True)
    done = await _wait_done(small, refused["id"])
    assert done["status"] == "error"
    assert "larger than" in done["error"]
