"""The Symbl client against Symbl's documented examples (tests/common/fixtures/symbl, pages in its README).

A local aiohttp server answers with the rewritten examples of Symbl's documentation and records every
request, so each test asserts what the client sends (paths, headers, query, body) and what it reads.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.providers.symbl_options import ACCEPTED_UPLOAD_TYPES

from tests.support.providers import CHANNELS, submit_request

FIXTURES = Path(__file__).parent / "fixtures" / "symbl"
AUDIO = b"fLaC" + bytes(range(256)) * 4
WEBHOOK = "https://notifier.example.com/webhooks/symbl/token"
THREE = (*CHANNELS, ChannelAssignment(channel=3, participant_name="Chen W", file_ids=("f3",), offset_seconds=0.0))


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Seen:
    """One request as the fake Symbl received it."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes


@dataclass
class FakeSymbl:
    """Answers with the documented examples; ``answers`` overrides (status, fixture) per path."""

    seen: list[Seen] = field(default_factory=list)
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.headers), dict(request.query), body))
        queued = self.answers.get(request.path)
        if queued:
            status, name = queued.pop(0)
            return web.json_response(fixture(name), status=status)
        return web.json_response(fixture(self.default(request.path)), status=self.status(request.path))

    @staticmethod
    def default(path: str) -> str:
        tail = path.rstrip("/").rsplit("/", 1)[-1]
        return {
            "token:generate": "token_generate.response",
            "audio": "process_audio.response",
            "url": "process_audio.response",
            "messages": "messages.response",
            "topics": "topics.response",
            "questions": "questions.response",
            "action-items": "action_items.response",
            "follow-ups": "follow_ups.response",
            "summary": "summary.response",
            "experiences": "experiences.response",
        }.get(tail, "job_status.response")

    @staticmethod
    def status(path: str) -> int:
        return 201 if path.startswith("/v1/process/") else 200

    def submits(self) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith("/v1/process/")]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeSymbl, SymblProvider]]:
    symbl = FakeSymbl()
    server = TestServer(symbl.app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        provider = SymblProvider(
            session,
            app_id="contract-app-id",
            app_secret=SecretStr("contract-app-secret"),
            api_base=str(server.make_url("")),
            summary_delay=0.0,
        )
        yield symbl, provider
    await server.close()


Fake = tuple[FakeSymbl, SymblProvider]


def request(**overrides: Any) -> SubmitRequest:
    return submit_request(AUDIO, WEBHOOK, **({"duration_seconds": 60.0} | overrides))


async def test_the_token_is_requested_as_documented_and_sent_as_bearer(fake: Fake) -> None:
    symbl, provider = fake
    await provider.job_status("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    token, status = symbl.seen
    assert (token.method, token.path) == ("POST", "/oauth2/token:generate")
    assert json.loads(token.body) == fixture("token_generate.request")
    assert status.headers["Authorization"] == f"Bearer {fixture('token_generate.response')['accessToken']}"


async def test_a_flac_upload_carries_no_content_type_and_asks_for_a_summary(fake: Fake) -> None:
    symbl, provider = fake
    job = await provider.submit(request())

    created = fixture("process_audio.response")
    assert job == SubmittedJob(job_id=created["jobId"], conversation_id=created["conversationId"])
    (sent,) = symbl.submits()
    assert (sent.method, sent.path, sent.body) == ("POST", "/v1/process/audio", AUDIO)
    assert "Content-Type" not in sent.headers  # "If your audio is in a format other than these, do not use this field"
    assert sent.headers["Content-Length"] == str(len(AUDIO))
    documented = fixture("process_audio_url.request")
    assert sent.query["enableSummary"] == "true"
    assert sent.query["enableSeparateRecognitionPerChannel"] == "true"
    assert json.loads(sent.query["channelMetadata"]) == documented["channelMetadata"]
    assert (sent.query["name"], sent.query["webhookUrl"], sent.query["languageCode"]) == (
        "Weekly sync",
        WEBHOOK,
        "en-US",
    )


@pytest.mark.parametrize("audio_format", ["flac", "wav", "opus", "m4a"])
async def test_an_upload_carries_only_an_accepted_content_type_or_none(fake: Fake, audio_format: str) -> None:
    symbl, provider = fake
    await provider.submit(request(audio_format=audio_format))
    (sent,) = symbl.submits()
    media = sent.headers.get("Content-Type")
    assert media is None or media in ACCEPTED_UPLOAD_TYPES
    assert (media == "audio/wav") == (audio_format == "wav")


async def test_a_url_submission_sends_the_documented_body(fake: Fake) -> None:
    symbl, provider = fake
    documented = fixture("process_audio_url.request")
    await provider.submit(request(audio=None, audio_url=SecretStr(documented["url"])))
    (sent,) = symbl.submits()
    assert (sent.path, sent.headers["Content-Type"]) == ("/v1/process/audio/url", "application/json")
    assert json.loads(sent.body) == documented


async def test_a_file_of_three_channels_is_refused_before_anything_is_sent(fake: Fake) -> None:
    symbl, provider = fake
    with pytest.raises(PoisonInputError, match="mono or dual-channel") as caught:
        await provider.submit(request(channels=3, channel_map=THREE))
    assert caught.value.stage == "submit"
    assert symbl.submits() == []


async def test_a_mono_mix_of_three_channels_asks_for_three_diarized_speakers(fake: Fake) -> None:
    symbl, provider = fake
    await provider.submit(request(channels=1, channel_map=THREE, diarization=True))
    (sent,) = symbl.submits()
    assert sent.query["enableSpeakerDiarization"] == "true"
    assert sent.query["diarizationSpeakerCount"] == "3"
    assert "channelMetadata" not in sent.query and "enableSeparateRecognitionPerChannel" not in sent.query
    assert sent.query["name"] == "Weekly sync"
    assert sent.query["enableSummary"] == "true"


async def test_the_concurrency_cap_is_a_rate_limit(fake: Fake) -> None:
    symbl, provider = fake
    symbl.answers["/v1/process/audio"] = [(429, "concurrency_limit.response")]
    with pytest.raises(RateLimitedError, match="concurrent jobs"):
        await provider.submit(request())


async def test_the_documented_job_status_is_read(fake: Fake) -> None:
    _, provider = fake
    state = await provider.job_status("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    assert (state.status, state.reason) == ("in_progress", None)


async def test_the_documented_conversation_answers_become_insights(fake: Fake) -> None:
    symbl, provider = fake
    symbl.answers["/v1/conversations/5815170693595136/summary"] = [(404, "summary_in_progress.response")]
    insights = await provider.fetch_insights(SubmittedJob("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "5815170693595136"))

    first, second = insights.messages
    documented = fixture("messages.response")["messages"]
    assert (first.speaker, first.email, first.text) == ("Elisa L", "elisa@example.com", documented[0]["text"])
    assert (first.start_seconds, first.end_seconds) == pytest.approx((5.9, 6.9))  # timeOffset, + duration
    assert second.speaker == "Bob K"
    assert second.start_seconds == pytest.approx(15.27)
    assert [t.text for t in insights.topics] == ["renewal pricing", "contracts"]
    assert [q.text for q in insights.questions] == ["Where is the contract?"]
    (action,) = insights.action_items
    assert action.assignee == "Bob K"
    assert action.score == pytest.approx(0.9456, abs=1e-4)
    (follow_up,) = insights.follow_ups
    assert (follow_up.assignee, follow_up.due) == (None, "2026-07-14T07:00:00.000Z")
    assert insights.summary == (fixture("summary.response")["summary"][0]["text"],)
    assert insights.summary_url == fixture("experiences.response")["url"]
    summaries = [s for s in symbl.seen if s.path.endswith("/summary")]
    assert len(summaries) == 2  # the documented 404 "in progress" is asked again, not taken as "no summary"
    (experience,) = [s for s in symbl.seen if s.path.endswith("/experiences")]
    assert json.loads(experience.body) == fixture("experiences.request")
