"""A provider or LLM endpoint that answers a redirect does not choose where we connect next.

aiohttp follows redirects by default: to any host, from https to http, resending a 307/308's body and every
header but ``Authorization`` (Symbl's ``x-api-key`` included). Here the provider answers a redirect to a second
loopback server (standing in for 169.254.169.254 or an attacker's host) that records what reaches it and
answers as the provider would. The call must fail with a reason naming the redirect, and nothing reach it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.insights_engine import EngineConfig, InsightsEngine, People
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SubmitRequest, TranscriptMessage
from zoomsymbl_common.providers.symbl import SymblProvider

from tests.support.http_servers import Servers
from tests.support.tls import make_tls_material

API_KEY = "AAI-KEY-5f1e2d3c"
APP_SECRET = "SYMBL-APP-SECRET-9a8b7c"
SYMBL_TOKEN = "SYMBL-TOKEN-1b2c3d"
LLM_KEY = "LLM-KEY-4e5f6a"
WEBHOOK_SECRET = "CALLBACK-TOKEN-7d8e9f"
PRESIGNED = "https://s3.example.com/audio.flac?X-Amz-Signature=abc123"
SECRETS = (API_KEY, APP_SECRET, SYMBL_TOKEN, LLM_KEY, WEBHOOK_SECRET, PRESIGNED, "secret meeting words")
ELSEWHERE_ANSWER = {
    "id": "t-elsewhere",
    "status": "completed",
    "accessToken": "token-elsewhere",
    "expiresIn": 3600,
    "choices": [{"message": {"content": json.dumps({"questions": [{"text": "Answered elsewhere?"}]})}}],
}


@dataclass
class Elsewhere:
    """The host a redirect names: what reached it, as text."""

    server: TestServer
    seen: list[str] = field(default_factory=list)

    def url(self, path: str = "/latest/meta-data/iam/security-credentials/") -> str:
        return str(self.server.make_url(path))


@dataclass
class Hostile:
    """A provider that answers ``status`` with ``Location: elsewhere`` (Symbl's token endpoint too if asked)."""

    base: str
    elsewhere: Elsewhere


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    started = Servers()
    yield started
    await started.close()


async def elsewhere(servers: Servers) -> Elsewhere:
    seen: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        body = (await request.read()).decode("utf-8", errors="replace")
        seen.append(f"{request.method} {request.path_qs} {dict(request.headers)!r} {body}")
        return web.json_response(ELSEWHERE_ANSWER)

    return Elsewhere(await servers.start(record), seen)


async def hostile(servers: Servers, status: int, *, redirect_token: bool = False) -> Hostile:
    target = await elsewhere(servers)

    async def provider(request: web.Request) -> web.StreamResponse:
        if request.path == "/oauth2/token:generate" and not redirect_token:
            return web.json_response({"accessToken": SYMBL_TOKEN, "expiresIn": 3600})
        return web.Response(status=status, headers={"Location": target.url()})

    server = await servers.start(provider)
    return Hostile(str(server.make_url("")).rstrip("/"), target)


def submit_request() -> SubmitRequest:
    return SubmitRequest(
        name="weekly",
        language="en-US",
        audio_format="flac",
        channels=1,
        channel_map=(),
        diarization=True,
        webhook_url=SecretStr("https://notifier.example.com/webhooks/assemblyai"),
        size_bytes=1000,
        duration_seconds=60.0,
        audio_url=SecretStr(PRESIGNED),
        webhook_auth_header=("X-Callback-Token", SecretStr(WEBHOOK_SECRET)),
    )


async def assert_not_followed(call: Awaitable[object], status: int, target: Elsewhere) -> None:
    """``call`` fails naming the redirect, and nothing reached the host it named (checked first: it is the harm)."""
    try:
        outcome: object = await call
    except PoisonInputError as exc:
        outcome = exc
    assert_nothing_reached(target)
    assert isinstance(outcome, PoisonInputError), f"the redirect was followed, and answered {outcome!r}"
    assert f"answered a redirect (HTTP {status}) to '127.0.0.1', not followed" in outcome.reason
    assert "meta-data" not in outcome.reason  # a Location's path or query may hold a signed URL's secret


def assert_nothing_reached(target: Elsewhere) -> None:
    leaked = [secret for secret in SECRETS if any(secret in request for request in target.seen)]
    assert target.seen == [], f"{len(target.seen)} request(s) reached the host a redirect named, with {leaked}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_assemblyai_status_check_is_not_redirected_to_another_host(
    session: aiohttp.ClientSession, servers: Servers, status: int
) -> None:
    provider = await hostile(servers, status)
    client = AssemblyAIProvider(session, api_key=API_KEY, api_base=provider.base)
    # Followed, the other host's "completed" was this job's status.
    await assert_not_followed(client.job_status("t-1"), status, provider.elsewhere)


async def test_assemblyai_submission_redirected_does_not_resend_its_callback_secret_and_audio_url(
    session: aiohttp.ClientSession, servers: Servers
) -> None:
    provider = await hostile(servers, 307)  # 307: the POST body goes again, to the new host
    client = AssemblyAIProvider(session, api_key=API_KEY, api_base=provider.base)
    await assert_not_followed(client.submit(submit_request()), 307, provider.elsewhere)


async def test_symbl_call_redirected_does_not_hand_its_token_to_another_host(
    session: aiohttp.ClientSession, servers: Servers
) -> None:
    provider = await hostile(servers, 302)
    client = SymblProvider(session, app_id="app", app_secret=SecretStr(APP_SECRET), api_base=provider.base)
    # Symbl's x-api-key holds the token too, and aiohttp drops only Authorization on a cross-origin redirect.
    await assert_not_followed(client.job_status("j-1"), 302, provider.elsewhere)


async def test_symbl_token_request_redirected_does_not_send_the_app_secret_elsewhere(
    session: aiohttp.ClientSession, servers: Servers
) -> None:
    provider = await hostile(servers, 308, redirect_token=True)
    client = SymblProvider(session, app_id="app", app_secret=SecretStr(APP_SECRET), api_base=provider.base)
    await assert_not_followed(client.job_status("j-1"), 308, provider.elsewhere)


async def test_insights_engine_redirected_sends_no_transcript_and_takes_no_answer_from_elsewhere(
    session: aiohttp.ClientSession, servers: Servers
) -> None:
    provider = await hostile(servers, 307)
    config = EngineConfig(base_url=provider.base, model="m", api_key=SecretStr(LLM_KEY), attempts=1)
    engine = InsightsEngine(session, config)
    said = [TranscriptMessage("Elisa L", "secret meeting words", 0.0, 1.0)]
    result = await engine.derive(said, People({"Elisa L": None}))
    assert_nothing_reached(provider.elsewhere)
    assert result.questions == ()  # followed, the other host's answer became the report's questions
    assert "answered a redirect (HTTP 307)" in result.unavailable["questions"]


async def test_an_https_provider_is_not_downgraded_to_http_by_a_redirect(servers: Servers, tmp_path: Path) -> None:
    target = await elsewhere(servers)  # plain http

    async def provider(_: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": target.url("/v2/transcript/t-1")})

    tls = make_tls_material(tmp_path)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider)
    secure = TestServer(app, host="127.0.0.1")
    await secure.start_server(ssl=tls.server_context())
    trust = ssl.create_default_context(cafile=str(tls.ca_file))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session:
            client = AssemblyAIProvider(session, api_key=API_KEY, api_base=str(secure.make_url("")).rstrip("/"))
            assert client._base.startswith("https://")
            await assert_not_followed(client.job_status("t-1"), 301, target)
    finally:
        await secure.close()
