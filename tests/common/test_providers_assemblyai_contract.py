"""AssemblyAI's and the LLM Gateway's published examples (tests/common/fixtures/assemblyai, pages named in its
README) served to our clients: what they send matches the documented request, what they read is the answer's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.insights_engine import EngineConfig, InsightsEngine, People
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob, TranscriptMessage

FIXTURES = Path(__file__).parent / "fixtures" / "assemblyai"
KEY = "contract-key"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


class Documented:
    """A server that answers with the documentation's examples and records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.transcript = "transcript.completed.response.json"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/transcript", self.submit)
        app.router.add_get("/v2/transcript/{id}", self.get)
        app.router.add_post("/v1/chat/completions", self.chat)
        return app

    async def submit(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.json()))
        return web.json_response(fixture("transcript.queued.response.json"))

    async def get(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), None))
        return web.json_response(fixture(self.transcript))

    async def chat(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.json()))
        return web.json_response(fixture("chat_completions.response.json"))


@pytest.fixture
async def documented() -> AsyncIterator[tuple[Documented, str, aiohttp.ClientSession]]:
    server_state = Documented()
    server = TestServer(server_state.app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield server_state, str(server.make_url("")).rstrip("/"), session
    await server.close()


def _shape(value: Any) -> Any:
    """Keys and value types, not values: what "the same request" means for a contract."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


async def test_the_submit_body_has_the_documented_shape_and_no_deprecated_parameter(
    documented: tuple[Documented, str, aiohttp.ClientSession],
) -> None:
    server, base, session = documented
    provider = AssemblyAIProvider(session, api_key=KEY, api_base=base)
    request = SubmitRequest(
        name="Weekly sync",
        language="en-US",
        audio_format="flac",
        channels=2,
        channel_map=(
            ChannelAssignment(channel=1, participant_name="Elisa L", file_ids=("a",), offset_seconds=0.0),
            ChannelAssignment(channel=2, participant_name="Bob K", file_ids=("b",), offset_seconds=0.0),
        ),
        diarization=False,
        webhook_url=SecretStr("https://notifier.example.com/webhooks/assemblyai"),
        size_bytes=1,
        duration_seconds=95.0,
        audio_url=SecretStr("https://objects.example.com/mixed/acme/meeting.flac"),
        webhook_auth_header=("x-zoomsymbl-callback", SecretStr("per-job-token")),
    )
    job = await provider.submit(request)
    assert job.job_id == fixture("transcript.queued.response.json")["id"]
    [(path, headers, body)] = server.requests
    assert path == "/v2/transcript"
    assert headers["Authorization"] == KEY, "AssemblyAI takes the raw key, no Bearer"
    assert _shape(body) == _shape(fixture("transcript.request.json"))
    assert body == fixture("transcript.request.json")


async def test_a_completed_transcript_is_read_as_documented(
    documented: tuple[Documented, str, aiohttp.ClientSession],
) -> None:
    _, base, session = documented
    provider = AssemblyAIProvider(session, api_key=KEY, api_base=base)
    insights = await provider.fetch_insights(SubmittedJob("6nwn3d4b3f", "6nwn3d4b3f"))
    assert [(m.channel, m.start_seconds, m.text) for m in insights.messages] == [
        (1, 1.2, "Can we ship on Friday?"),
        (2, 61.0, "I will send the release notes tomorrow."),
    ]
    assert [(t.headline, t.start_seconds, t.end_seconds) for t in insights.summary_topics] == [
        ("Release date", 1.2, 40.0),
        ("Release notes", 61.0, 64.5),
    ]
    [action] = insights.action_items
    assert (action.text, action.start_seconds, action.quote) == (
        "Send the release notes",
        61.0,
        "I will send the release notes tomorrow.",
    )
    assert [t.text for t in insights.topics] == ["Software", "BusinessPlanning", "Release date", "Release notes"]
    assert insights.unavailable == {}


async def test_a_failed_transcript_is_poison_with_the_providers_reason(
    documented: tuple[Documented, str, aiohttp.ClientSession],
) -> None:
    server, base, session = documented
    server.transcript = "transcript.error.response.json"
    provider = AssemblyAIProvider(session, api_key=KEY, api_base=base)
    assert (await provider.job_status("0bad0bad")).reason == "Download error, unable to download audio file"
    with pytest.raises(PoisonInputError, match="Download error"):
        await provider.fetch_insights(SubmittedJob("0bad0bad", "0bad0bad"))


async def test_the_gateway_gets_the_documented_request_and_its_answer_is_read(
    documented: tuple[Documented, str, aiohttp.ClientSession],
) -> None:
    server, base, session = documented
    engine = InsightsEngine(
        session,
        EngineConfig(base_url=f"{base}/v1", model="claude-sonnet-4-6", api_key=SecretStr(KEY), auth_scheme="raw"),
    )
    messages = (TranscriptMessage("Elisa L", "Can we ship on Friday?", 1.2, 3.9),)
    result = await engine.derive(messages, People({"Elisa L": "elisa@example.com", "Bob K": "bob@example.com"}))
    [(path, headers, body)] = server.requests
    assert (path, headers["Authorization"]) == ("/v1/chat/completions", KEY)
    documented_request = fixture("chat_completions.request.json")
    assert set(documented_request) <= set(body)
    assert all(isinstance(m["content"], str) and m["role"] in ("system", "user") for m in body["messages"])
    assert [(q.text, q.speaker, q.start_seconds) for q in result.questions] == [
        ("Can we ship on Friday?", "Elisa L", 1.2)
    ]
    [action] = result.action_items
    assert (action.assignee, action.assignee_email) == ("Bob K", "bob@example.com")
