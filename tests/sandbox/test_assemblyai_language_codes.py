"""The AssemblyAI sandbox takes only the ``language_code`` values AssemblyAI documents.

https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually lists them ("Possible values are
found in Supported Languages"); a BCP 47 tag or an ISO code AssemblyAI spells otherwise is refused with 400,
and the client's request for such a tag is one the sandbox accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from zoomsymbl_common.providers.assemblyai_request import transcript_body
from zoomsymbl_sandbox.assemblyai import ASSEMBLYAI_STATE
from zoomsymbl_sandbox.provider_jobs import JobTimings

from tests.common.test_providers_assemblyai import request
from tests.support.providers import ProviderSandboxes

KEY = {"authorization": "sandbox-assemblyai-key"}
URL = "http://127.0.0.1:9/a.flac"


async def _client(sandboxes: ProviderSandboxes) -> TestClient[Any, Any]:
    return await sandboxes.client(await sandboxes.assemblyai(timings=JobTimings(0.2, 0.3)))


@pytest.mark.parametrize("code", ["en-US", "nb", "EN_US", "xx", "", "iw", 7])
async def test_a_language_code_assemblyai_does_not_list_is_refused(sandboxes: ProviderSandboxes, code: object) -> None:
    client = await _client(sandboxes)
    resp = await client.post("/v2/transcript", json={"audio_url": URL, "language_code": code}, headers=KEY)
    assert resp.status == 400
    assert "language_code" in (await resp.json())["error"]
    assert client.app is not None and client.app[ASSEMBLYAI_STATE].board.jobs == {}


@pytest.mark.parametrize("code", ["en_us", "en_uk", "en_au", "en", "no", "nn", "he", "jw", "haw", "sw"])
async def test_a_listed_language_code_is_taken_and_echoed(sandboxes: ProviderSandboxes, code: str) -> None:
    client = await _client(sandboxes)
    resp = await client.post("/v2/transcript", json={"audio_url": URL, "language_code": code}, headers=KEY)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["language_code"] == code


async def test_without_a_language_code_it_is_us_english(sandboxes: ProviderSandboxes) -> None:
    client = await _client(sandboxes)
    for body in ({"audio_url": URL}, {"audio_url": URL, "language_code": None}):
        resp = await client.post("/v2/transcript", json=body, headers=KEY)
        assert resp.status == 200
        assert (await resp.json())["language_code"] == "en_us"


@pytest.mark.parametrize("tag", ["nb-NO", "iw-IL", "fil-PH", "en-IN", "pt-BR", "sw"])
async def test_the_clients_request_for_a_tenant_language_is_accepted(sandboxes: ProviderSandboxes, tag: str) -> None:
    """A tenant on Norwegian Bokmål (``nb-NO``) was sent as ``nb``: AssemblyAI lists ``no``, so every job failed."""
    client = await _client(sandboxes)
    body = transcript_body(request(Path(__file__), "http://127.0.0.1:9/hook", language=tag), URL)
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 200, await resp.text()


async def test_language_detection_is_taken_and_answers_the_detected_language(sandboxes: ProviderSandboxes) -> None:
    """https://www.assemblyai.com/docs/pre-recorded-audio/language-detection: the detected language comes back as the
    transcript's ``language_code``."""
    client = await _client(sandboxes)
    resp = await client.post("/v2/transcript", json={"audio_url": URL, "language_detection": True}, headers=KEY)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert (answer["language_detection"], answer["language_code"]) == (True, "en")
    assert 0 <= answer["language_confidence"] <= 1


@pytest.mark.parametrize("detection", [True, "yes"])
async def test_a_language_code_beside_detection_or_a_detection_that_is_no_boolean_is_refused(
    sandboxes: ProviderSandboxes, detection: object
) -> None:
    client = await _client(sandboxes)
    body = {"audio_url": URL, "language_code": "de", "language_detection": detection}
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 400
    assert "language_detection" in (await resp.json())["error"]
    assert client.app is not None and client.app[ASSEMBLYAI_STATE].board.jobs == {}


async def test_the_clients_request_for_an_auto_tenant_is_accepted(sandboxes: ProviderSandboxes) -> None:
    client = await _client(sandboxes)
    body = transcript_body(request(Path(__file__), "http://127.0.0.1:9/hook", language="auto"), URL)
    resp = await client.post("/v2/transcript", json=body, headers=KEY)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["language_code"] == "en"
