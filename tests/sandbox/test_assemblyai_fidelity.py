"""The AssemblyAI sandbox refuses and retries what AssemblyAI's published documentation says it does.

- the singular ``speech_model`` is refused with 400 ("speech_model is deprecated. Use "speech_models" instead"):
  https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model
- a webhook delivery without a 2xx is retried, up to 10 attempts in all, and a 4xx stops the retries:
  https://www.assemblyai.com/docs/deployment/webhooks-for-pre-recorded-audio
- audio shorter than 160 ms ends in status ``error``, "Audio duration is too short.":
  https://www.assemblyai.com/docs/faq/what-is-the-minimum-audio-duration-that-the-api-can-transcribe
- a transcript id AssemblyAI does not know is 400 "Transcript lookup error, transcript id not found", not 404:
  https://www.assemblyai.com/docs/pre-recorded-audio/guides/common_errors_and_solutions
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import make_tone_audio

from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes

KEY = {"authorization": "sandbox-assemblyai-key"}


@dataclass
class ScriptedReceiver:
    """A webhook receiver that answers each delivery with the next status of ``script`` (the last one repeats)."""

    script: list[int]
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        self.deliveries.append(await request.json())
        status = self.script[min(len(self.deliveries), len(self.script)) - 1]
        return web.Response(status=status)


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedReceiver, str]]:
    receiver = ScriptedReceiver([200])
    app = web.Application()
    app.router.add_post("/hook", receiver.receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield receiver, str(server.make_url("/hook"))
    await server.close()


async def _client(sandboxes: ProviderSandboxes, **config: Any) -> TestClient[Any, Any]:
    defaults: dict[str, Any] = {"timings": JobTimings(0.05, 0.05), "webhook_retry_interval_s": 0.01}
    return await sandboxes.client(await sandboxes.assemblyai(**(defaults | config)))


async def test_the_singular_speech_model_is_refused(sandboxes: ProviderSandboxes) -> None:
    client = await _client(sandboxes)
    body = {"audio_url": "http://127.0.0.1:9/a.flac", "speech_model": "best"}
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 400
    assert "speech_models" in (await resp.json())["error"]


async def test_audio_shorter_than_160_ms_is_an_error(sandboxes: ProviderSandboxes, tmp_path: Path) -> None:
    client = await _client(sandboxes)
    ids = {}
    for name, seconds in (("short", 0.1), ("long_enough", 0.3)):
        audio = make_tone_audio(tmp_path / f"{name}.flac", [[(0.0, seconds)]], duration_s=seconds)
        upload = await client.post("/v2/upload", data=audio.read_bytes(), headers=KEY)
        body = {"audio_url": (await upload.json())["upload_url"]}
        created = await client.post("/v2/transcript", json=body, headers=KEY)
        ids[name] = (await created.json())["id"]

    for name, status, error in (("short", "error", "Audio duration is too short."), ("long_enough", "completed", None)):
        path = f"/v2/transcript/{ids[name]}"

        async def transcript(path: str = path) -> dict[str, Any]:
            body: dict[str, Any] = await (await client.get(path, headers=KEY)).json()
            return body

        done = await eventually(transcript, lambda body: body["status"] in ("completed", "error"), what=name)
        assert (done["status"], done["error"]) == (status, error), name


async def test_an_unknown_transcript_id_is_a_400_lookup_error(sandboxes: ProviderSandboxes) -> None:
    client = await _client(sandboxes)
    for method in ("GET", "DELETE"):
        resp = await client.request(method, "/v2/transcript/5552493-16d8-42d8-8feb-c2a16b56f6e8", headers=KEY)
        assert (resp.status, await resp.json()) == (400, {"error": "Transcript lookup error, transcript id not found"})


async def _finished_webhook(client: TestClient[Any, Any], audio: Path, hook: str) -> dict[str, Any]:
    upload = await client.post("/v2/upload", data=audio.read_bytes(), headers=KEY)
    created = await client.post(
        "/v2/transcript", json={"audio_url": (await upload.json())["upload_url"], "webhook_url": hook}, headers=KEY
    )
    transcript_id = (await created.json())["id"]

    async def transcript() -> dict[str, Any]:
        body: dict[str, Any] = await (await client.get(f"/v2/transcript/{transcript_id}", headers=KEY)).json()
        return body

    return await eventually(
        transcript, lambda t: t["webhook_status_code"] is not None, what="the webhook's final status"
    )


async def test_a_webhook_without_a_2xx_is_delivered_again(
    sandboxes: ProviderSandboxes, scripted: tuple[ScriptedReceiver, str], tone_audio: Path
) -> None:
    receiver, hook = scripted
    receiver.script = [503, 500, 200]
    done = await _finished_webhook(await _client(sandboxes), tone_audio, hook)
    assert done["webhook_status_code"] == 200
    assert [d["status"] for d in receiver.deliveries] == ["completed"] * 3


async def test_webhook_attempts_stop_at_ten(
    sandboxes: ProviderSandboxes, scripted: tuple[ScriptedReceiver, str], tone_audio: Path
) -> None:
    receiver, hook = scripted
    receiver.script = [503]
    done = await _finished_webhook(await _client(sandboxes), tone_audio, hook)
    assert (done["webhook_status_code"], len(receiver.deliveries)) == (503, 10)


async def test_a_4xx_stops_the_webhook_retries(
    sandboxes: ProviderSandboxes, scripted: tuple[ScriptedReceiver, str], tone_audio: Path
) -> None:
    receiver, hook = scripted
    receiver.script = [401, 200]
    done = await _finished_webhook(await _client(sandboxes), tone_audio, hook)
    assert (done["webhook_status_code"], len(receiver.deliveries)) == (401, 1)
