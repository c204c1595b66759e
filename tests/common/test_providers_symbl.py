"""The Symbl client against the Symbl sandbox: token, submit (stream and URL), status, insights, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError, RetryableError
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.providers.symbl import SymblProvider, as_query, symbl_options
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver, make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE

from tests.support.providers import CHANNELS, ProviderSandboxes, submit_request, wait_completed


def client(session: aiohttp.ClientSession, server: TestServer, **kwargs: Any) -> SymblProvider:
    return SymblProvider(
        session,
        app_id="sandbox-app-id",
        app_secret=SecretStr("sandbox-app-secret"),
        api_base=str(server.make_url("")),
        summary_delay=0.01,
        **kwargs,
    )


def test_options_carry_named_channels_and_the_meeting_name() -> None:
    options = symbl_options(submit_request(Path(__file__), "https://n.example/webhooks/symbl/tok"))
    assert options["name"] == "Weekly sync"
    assert options["enableSeparateRecognitionPerChannel"] is True
    assert options["channelMetadata"] == [
        {"channel": 1, "speaker": {"name": "Elisa L", "email": "elisa@example.com"}},
        {"channel": 2, "speaker": {"name": "Bob K"}},
    ]
    assert json.loads(as_query(options)["channelMetadata"]) == options["channelMetadata"]
    assert as_query(options)["enableSeparateRecognitionPerChannel"] == "true"
    # Without it Symbl never makes a summary (Get summary using Async API).
    assert options["enableSummary"] is True
    assert as_query(options)["enableSummary"] == "true"


def test_one_shared_channel_asks_for_diarization() -> None:
    shared = (ChannelAssignment(channel=1, participant_name="Others", file_ids=("a", "b", "c"), offset_seconds=0,
                                mixed=True),)  # fmt: skip
    options = symbl_options(
        submit_request(Path(__file__), "https://x", channels=1, channel_map=shared, diarization=True)
    )
    assert options["enableSpeakerDiarization"] is True
    assert options["diarizationSpeakerCount"] == 3
    assert "channelMetadata" not in options


async def test_a_streamed_recording_becomes_a_job_with_named_speakers_and_insights(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.symbl(summary_not_ready_calls=2)
    provider = client(session, server)
    job = await provider.submit(submit_request(tone_audio, f"{receiver.base_url}/webhooks/symbl/tok123"))
    await wait_completed(provider, job.job_id)
    await receiver.wait_for(lambda calls: any(c.payload == {"jobId": job.job_id, "status": "completed"} for c in calls))
    assert {c.path for c in receiver.callbacks} == {"/webhooks/symbl/tok123"}

    insights = await provider.fetch_insights(job)
    assert [(m.speaker, m.email) for m in insights.messages] == [("Elisa L", "elisa@example.com"), ("Bob K", None)]
    assert insights.messages[0].start_seconds == pytest.approx(0.5, abs=0.2)
    assert {t.text for t in insights.topics} == {"Elisa L talk", "Bob K talk"}
    assert len(insights.questions) == 2
    assert {a.assignee for a in insights.action_items} == {"Elisa L", "Bob K"}
    assert all(a.due for a in insights.action_items)
    assert [f.text for f in insights.follow_ups] == ["Bob K to send a recap"]
    assert insights.summary and "Elisa L spoke" in insights.summary[0]
    assert insights.summary_url is not None and insights.summary_url.endswith(f"/summary/{job.conversation_id}")


async def test_a_url_submission_is_fetched_by_the_provider(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.symbl()
    provider = client(session, server)
    url = receiver.file_url("meeting.flac", tone_audio)
    job = await provider.submit(
        submit_request(tone_audio, f"{receiver.base_url}/hook", audio=None, audio_url=SecretStr(url))
    )
    await wait_completed(provider, job.job_id)


async def test_the_concurrency_cap_is_a_rate_limit_not_a_failure(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.symbl(max_concurrent_jobs=1, timings=JobTimings(5.0, 5.0))
    provider = client(session, server)
    await provider.submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))
    with pytest.raises(RateLimitedError, match="429"):
        await provider.submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))


async def test_a_rejected_request_fails_with_the_providers_message_and_no_secret(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server = await sandboxes.symbl()
    provider = client(session, server)
    mono = make_tone_audio(tmp_path / "mono.flac", [[(0.5, 1.5)]], duration_s=2.0)  # the request names two channels
    with pytest.raises(PoisonInputError, match="channelMetadata describes channels") as caught:
        await provider.submit(submit_request(mono, "http://127.0.0.1:9/hook/secret-token"))
    assert caught.value.stage == "submit"
    assert "secret-token" not in str(caught.value)


async def test_three_channels_never_reach_symbl_but_their_mono_mix_does(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server = await sandboxes.symbl()
    provider = client(session, server)
    third = ChannelAssignment(channel=3, participant_name="Chen W", file_ids=("f3",), offset_seconds=0.0)
    three = make_tone_audio(tmp_path / "three.flac", [[(0.5, 1.0)], [(1.5, 2.0)], [(2.5, 3.0)]], duration_s=3.5)
    with pytest.raises(PoisonInputError, match="mono or dual-channel"):
        await provider.submit(
            submit_request(three, "http://127.0.0.1:9/hook", channels=3, channel_map=(*CHANNELS, third))
        )
    assert server.app[SYMBL_STATE].stats()["submit_attempts"] == 0

    mono = make_tone_audio(tmp_path / "mono.flac", [[(0.5, 1.0), (1.5, 2.0), (2.5, 3.0)]], duration_s=3.5)
    mixed = submit_request(
        mono, "http://127.0.0.1:9/hook", channels=1, channel_map=(*CHANNELS, third), diarization=True
    )
    job = await provider.submit(mixed)
    await wait_completed(provider, job.job_id)
    insights = await provider.fetch_insights(job)
    assert [m.speaker for m in insights.messages] == ["Speaker 1", "Speaker 2", "Speaker 3"]
    assert server.app[SYMBL_STATE].stats()["submissions_by_name"] == {"Weekly sync": 1}


async def test_server_errors_are_retryable(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.symbl()
    server.app[SYMBL_STATE].faults.update({"reject_next": 1, "reject_status": 503})
    with pytest.raises(RetryableError, match="503"):
        await client(session, server).submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))


async def test_an_expired_token_is_refreshed_once_by_concurrent_callers(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.symbl(token_expires_in_s=1)
    provider = client(session, server)
    job = await provider.submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))
    await asyncio.sleep(1.1)
    await asyncio.gather(*(provider.job_status(job.job_id) for _ in range(8)))
    assert server.app[SYMBL_STATE].token_issues == 2


async def test_a_revoked_token_is_replaced_and_the_call_repeated(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.symbl()
    provider = client(session, server)
    job = await provider.submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))
    server.app[SYMBL_STATE].tokens.clear()
    await asyncio.gather(*(provider.job_status(job.job_id) for _ in range(4)))
    assert server.app[SYMBL_STATE].token_issues == 2


async def test_wrong_credentials_fail_clearly(sandboxes: ProviderSandboxes, session: aiohttp.ClientSession) -> None:
    server = await sandboxes.symbl()
    provider = SymblProvider(
        session, app_id="x", app_secret=SecretStr("wrong-secret"), api_base=str(server.make_url(""))
    )
    with pytest.raises(PoisonInputError, match="401"):
        await provider.job_status("any")


async def test_an_unknown_job_is_reported_failed(sandboxes: ProviderSandboxes, session: aiohttp.ClientSession) -> None:
    state = await client(session, await sandboxes.symbl()).job_status("no-such-job")
    assert state.status == "failed"
    assert state.reason is not None and "no-such-job" in state.reason


async def test_a_summary_that_never_gets_ready_leaves_the_rest_of_the_insights(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    server = await sandboxes.symbl(summary_not_ready_calls=100)
    provider = client(session, server, summary_attempts=3)
    job = await provider.submit(submit_request(tone_audio, "http://127.0.0.1:9/hook"))
    await wait_completed(provider, job.job_id)
    insights = await provider.fetch_insights(SubmittedJob(job.job_id, job.conversation_id))
    assert insights.summary == ()
    assert insights.extra == {"summary": "not ready"}
    assert len(insights.messages) == 2
