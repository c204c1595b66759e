"""The AssemblyAI client against the AssemblyAI sandbox: upload or URL, webhook auth, per-channel insights."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError, RetryableError
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.providers.assemblyai import (
    AssemblyAIProvider,
    assemblyai_language,
    parse_topics,
    transcript_body,
)
from zoomsymbl_common.providers.base import SubmitRequest
from zoomsymbl_sandbox.assemblyai import ASSEMBLYAI_STATE, AssemblyAIConfig, build_assemblyai_app
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver, make_tone_audio

KEY = "sandbox-assemblyai-key"
CHANNELS = (
    ChannelAssignment(channel=1, participant_name="Elisa L", file_ids=("f1",), offset_seconds=0.0),
    ChannelAssignment(channel=2, participant_name="Bob K", file_ids=("f2",), offset_seconds=0.0),
)
Sandbox = Callable[..., Any]


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "meeting.flac"
    return make_tone_audio(path, [[(0.5, 1.5)], [(2.0, 3.0)]], duration_s=3.5)


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    recv = CallbackReceiver()
    await recv.start()
    yield recv
    await recv.close()


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    servers: list[TestServer] = []

    async def make(**overrides: Any) -> TestServer:
        settings: dict[str, Any] = {"storage_dir": tmp_path / "aai", "timings": JobTimings(0.1, 0.1)}
        server = TestServer(build_assemblyai_app(AssemblyAIConfig(**(settings | overrides))))
        await server.start_server()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def client(session: aiohttp.ClientSession, server: TestServer, key: str = KEY) -> AssemblyAIProvider:
    return AssemblyAIProvider(session, api_key=key, api_base=str(server.make_url("")))


def request(path: Path, webhook: str, **overrides: Any) -> SubmitRequest:
    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(4096):
                yield chunk

    fields: dict[str, Any] = {
        "name": "Weekly sync",
        "language": "en-US",
        "audio_format": "flac",
        "channels": 2,
        "channel_map": CHANNELS,
        "diarization": False,
        "webhook_url": SecretStr(webhook),
        "size_bytes": path.stat().st_size,
        "duration_seconds": 3.5,
        "audio": chunks,
        "webhook_auth_header": ("x-zoomsymbl-callback", SecretStr("per-job-token")),
    }
    return SubmitRequest(**(fields | overrides))


async def wait_completed(provider: AssemblyAIProvider, job_id: str) -> None:
    for _ in range(200):
        if (await provider.job_status(job_id)).status == "completed":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"transcript {job_id!r} never completed")


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


async def test_an_uploaded_recording_is_transcribed_per_channel_with_an_authenticated_webhook(
    sandbox: Sandbox, session: aiohttp.ClientSession, receiver: CallbackReceiver, two_speakers: Path
) -> None:
    server = await sandbox()
    provider = client(session, server)
    job = await provider.submit(request(two_speakers, f"{receiver.base_url}/webhooks/assemblyai"))
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
    sandbox: Sandbox, session: aiohttp.ClientSession, receiver: CallbackReceiver, two_speakers: Path
) -> None:
    server = await sandbox()
    provider = client(session, server)
    url = SecretStr(receiver.file_url("meeting.flac", two_speakers))
    job = await provider.submit(request(two_speakers, f"{receiver.base_url}/hook", audio=None, audio_url=url))
    await wait_completed(provider, job.job_id)
    assert server.app[ASSEMBLYAI_STATE].stats()["uploads"] == 0


async def test_insights_before_completion_are_retryable(
    sandbox: Sandbox, session: aiohttp.ClientSession, two_speakers: Path
) -> None:
    server = await sandbox(timings=JobTimings(5.0, 5.0))
    provider = client(session, server)
    job = await provider.submit(request(two_speakers, "http://127.0.0.1:9/hook"))
    with pytest.raises(RetryableError, match="not completed"):
        await provider.fetch_insights(job)


async def test_a_wrong_key_fails_clearly_and_a_429_is_a_rate_limit(
    sandbox: Sandbox, session: aiohttp.ClientSession, two_speakers: Path
) -> None:
    server = await sandbox()
    with pytest.raises(PoisonInputError, match="401"):
        await client(session, server, key="wrong").submit(request(two_speakers, "http://127.0.0.1:9/hook"))
    server.app[ASSEMBLYAI_STATE].faults.update({"reject_next": 1, "reject_status": 429})
    url = SecretStr("http://127.0.0.1:9/audio.flac")
    with pytest.raises(RateLimitedError):
        await client(session, server).submit(request(two_speakers, "http://x/hook", audio=None, audio_url=url))


async def test_an_unknown_transcript_is_reported_failed(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    state = await client(session, await sandbox()).job_status("nope")
    assert state.status == "failed"


async def test_a_providers_error_never_carries_our_presigned_url(
    sandbox: Sandbox, session: aiohttp.ClientSession, two_speakers: Path
) -> None:
    """AssemblyAI answers "unable to access file at <the URL we gave>": the reason keeps the host only."""
    server = await sandbox()
    provider = client(session, server)
    presigned = "http://127.0.0.1:9/mixed/acme/m.flac?X-Amz-Credential=AKIA%2Fus&X-Amz-Signature=deadbeef"
    job = await provider.submit(
        request(two_speakers, "http://127.0.0.1:9/hook", audio=None, audio_url=SecretStr(presigned))
    )
    for _ in range(200):
        state = await provider.job_status(job.job_id)
        if state.status == "failed":
            break
        await asyncio.sleep(0.05)
    assert state.status == "failed"
    assert state.reason is not None and "127.0.0.1" in state.reason
    assert "X-Amz" not in state.reason and "deadbeef" not in state.reason and "/mixed/" not in state.reason
    with pytest.raises(PoisonInputError) as caught:
        await provider.fetch_insights(job)
    assert "deadbeef" not in str(caught.value)
