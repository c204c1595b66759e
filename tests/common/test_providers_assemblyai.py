"""The AssemblyAI client against the AssemblyAI sandbox: upload or URL, webhook auth, per-channel insights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError, RetryableError
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider, parse_topics
from zoomsymbl_common.providers.assemblyai_request import assemblyai_language, transcript_body
from zoomsymbl_common.providers.base import JobState, SubmitRequest
from zoomsymbl_common.providers.factory import make_provider
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_sandbox.assemblyai import ASSEMBLYAI_STATE
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes, submit_request, wait_completed

KEY = "sandbox-assemblyai-key"


def client(session: aiohttp.ClientSession, server: TestServer, key: str = KEY) -> AssemblyAIProvider:
    return AssemblyAIProvider(session, api_key=key, api_base=str(server.make_url("")))


def request(path: Path, webhook: str, **overrides: Any) -> SubmitRequest:
    """``submit_request`` with the per-job header AssemblyAI's webhook is to carry."""
    auth = ("x-zoomsymbl-callback", SecretStr("per-job-token"))
    return submit_request(path, webhook, **({"webhook_auth_header": auth} | overrides))


@pytest.mark.parametrize(
    ("tag", "code"), [("en-US", "en_us"), ("en-GB", "en_uk"), ("en", "en"), ("fr-FR", "fr"), ("de", "de")]
)
def test_language_tags_become_assemblyai_codes(tag: str, code: str) -> None:
    assert assemblyai_language(tag) == code


def test_multichannel_files_ask_for_multichannel_and_carry_the_auth_header() -> None:
    body = transcript_body(request(Path(__file__), "https://n.example/webhooks/assemblyai"), "https://audio")
    assert body["multichannel"] is True
    assert "speaker_labels" not in body
    assert body["webhook_auth_header_name"] == "x-zoomsymbl-callback"
    assert body["webhook_auth_header_value"] == "per-job-token"
    assert body["speech_understanding"] == {
        "request": {"summarization": {"summary_type": "bullets"}, "action_items": {}}
    }
    assert body["iab_categories"] is True
    for deprecated in ("summarization", "summary_model", "summary_type", "auto_chapters"):
        assert deprecated not in body


def test_a_language_without_speech_understanding_gets_neither_it_nor_english_only_topics() -> None:
    body = transcript_body(request(Path(__file__), "https://x", language="sw"), "https://audio")
    assert "speech_understanding" not in body
    assert "iab_categories" not in body


def test_a_single_shared_channel_asks_for_speaker_labels_and_no_english_extras_elsewhere() -> None:
    body = transcript_body(
        request(Path(__file__), "https://x", channels=1, diarization=True, language="fr-FR"), "https://audio"
    )
    assert body["speaker_labels"] is True
    assert "multichannel" not in body
    assert "speech_understanding" in body  # French has summaries, not IAB topics
    assert "iab_categories" not in body


def test_topics_are_parsed_most_relevant_first() -> None:
    topics = parse_topics({"summary": {"Business>Meetings": 0.4, "Technology>Software": 0.9}})
    assert [(t.text, t.score) for t in topics] == [("Software", 0.9), ("Meetings", 0.4)]


def test_every_body_names_its_speech_models_so_the_account_default_never_decides() -> None:
    submit = request(Path(__file__), "https://x")
    assert transcript_body(submit, "https://audio")["speech_models"] == ["assemblyai-stt-3-7", "universal-2"]
    assert transcript_body(submit, "https://audio", ("universal-2",))["speech_models"] == ["universal-2"]


async def test_the_tenants_speech_models_reach_assemblyai_in_order(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai()
    tenant = TenantConfig.model_validate(
        {
            "id": "acme",
            "zoom_webhook_secret": "zoom-secret-123",
            "assemblyai_api_key": KEY,
            "assemblyai_api_base": str(server.make_url("")),
            "assemblyai_speech_models": ["universal-3-pro", "assemblyai-stt-3-7"],
        }
    )
    provider = make_provider(tenant, session)
    job = await provider.submit(request(tone_audio, f"{receiver.base_url}/webhooks/assemblyai"))
    await wait_completed(provider, job.job_id)
    url = server.make_url(f"/v2/transcript/{job.job_id}")
    async with session.get(url, headers={"authorization": KEY}) as resp:
        transcript = await resp.json()
    assert transcript["speech_models"] == ["universal-3-pro", "assemblyai-stt-3-7"]
    assert transcript["speech_model_used"] == "universal-3-pro"


async def test_an_uploaded_recording_is_transcribed_per_channel_with_an_authenticated_webhook(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai()
    provider = client(session, server)
    job = await provider.submit(request(tone_audio, f"{receiver.base_url}/webhooks/assemblyai"))
    assert job.job_id == job.conversation_id
    await wait_completed(provider, job.job_id)
    calls = await receiver.wait_for(lambda calls: len(calls) == 1)
    assert calls[0].payload == {"transcript_id": job.job_id, "status": "completed"}
    assert calls[0].headers["x-zoomsymbl-callback"] == "per-job-token"

    insights = await provider.fetch_insights(job)
    assert [(m.speaker, m.channel) for m in insights.messages] == [("Channel 1", 1), ("Channel 2", 2)]
    assert insights.messages[1].start_seconds == pytest.approx(2.0, abs=0.2)
    # Tones are not words: the summary by topic exists (one topic, headed by its first "sentence").
    assert len(insights.summary_topics) == 1
    assert insights.summary_topics[0].start_seconds == pytest.approx(0.5, abs=0.2)
    assert insights.unavailable == {}


async def test_a_presigned_url_is_fetched_by_the_provider(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai()
    provider = client(session, server)
    url = SecretStr(receiver.file_url("meeting.flac", tone_audio))
    job = await provider.submit(request(tone_audio, f"{receiver.base_url}/hook", audio=None, audio_url=url))
    await wait_completed(provider, job.job_id)
    assert server.app[ASSEMBLYAI_STATE].stats()["uploads"] == 0


async def test_insights_before_completion_are_retryable(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai(timings=JobTimings(5.0, 5.0))
    provider = client(session, server)
    job = await provider.submit(request(tone_audio, "http://127.0.0.1:9/hook"))
    with pytest.raises(RetryableError, match="not completed"):
        await provider.fetch_insights(job)


async def test_a_wrong_key_fails_clearly_and_a_429_is_a_rate_limit(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai()
    with pytest.raises(PoisonInputError, match="401"):
        await client(session, server, key="wrong").submit(request(tone_audio, "http://127.0.0.1:9/hook"))
    server.app[ASSEMBLYAI_STATE].faults.update({"reject_next": 1, "reject_status": 429})
    url = SecretStr("http://127.0.0.1:9/audio.flac")
    with pytest.raises(RateLimitedError):
        await client(session, server).submit(request(tone_audio, "http://x/hook", audio=None, audio_url=url))


async def test_an_unknown_transcript_is_reported_failed(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    state = await client(session, await sandboxes.assemblyai()).job_status("nope")
    assert state.status == "failed"


@pytest.mark.parametrize("stored", ["../upload", "nope?x=1", "a/b"])
async def test_a_stored_id_that_is_a_path_stays_one_path_segment(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, stored: str
) -> None:
    """Ids stored before the submitter refused path-like ones went into the URL as they were: ``../upload`` asked
    another endpoint with our key. Quoted, it is one unknown transcript."""
    state = await client(session, await sandboxes.assemblyai()).job_status(stored)
    assert state.status == "failed" and state.reason is not None and "does not know" in state.reason


async def test_a_providers_error_never_carries_our_presigned_url(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    """AssemblyAI answers "unable to access file at <the URL we gave>": the reason keeps the host only."""
    server = await sandboxes.assemblyai()
    provider = client(session, server)
    presigned = "http://127.0.0.1:9/mixed/acme/m.flac?X-Amz-Credential=AKIA%2Fus&X-Amz-Signature=deadbeef"
    job = await provider.submit(
        request(tone_audio, "http://127.0.0.1:9/hook", audio=None, audio_url=SecretStr(presigned))
    )

    async def status() -> JobState:
        return await provider.job_status(job.job_id)

    state = await eventually(status, lambda s: s.status == "failed", what="the job to fail")
    assert state.reason is not None and "127.0.0.1" in state.reason
    assert "X-Amz" not in state.reason and "deadbeef" not in state.reason and "/mixed/" not in state.reason
    with pytest.raises(PoisonInputError) as caught:
        await provider.fetch_insights(job)
    assert "deadbeef" not in str(caught.value)


async def test_a_completion_reads_the_whole_transcript_once(sandboxes: ProviderSandboxes, tone_audio: Path) -> None:
    """The status check's finished transcript serves the insights read right after it, once."""
    server = await sandboxes.assemblyai()
    gets: list[str] = []

    async def on_start(_: aiohttp.ClientSession, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        if params.method == "GET" and params.url.path.startswith("/v2/transcript/"):
            gets.append(params.url.path)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as traced:
        provider = client(traced, server)
        job = await provider.submit(request(tone_audio, "http://127.0.0.1:9/hook"))
        await wait_completed(provider, job.job_id)
        gets.clear()
        assert (await provider.job_status(job.job_id)).status == "completed"
        first = await provider.fetch_insights(job)
        assert len(gets) == 1
        again = await provider.fetch_insights(job)  # a retry asks the provider again: kept for one read only
        assert len(gets) == 2
    assert first == again
