"""A stored provider id of "." or ".." never reaches another endpoint of the provider's host with our key.

Quoting keeps ``/ ? #`` inside one path segment, but aiohttp's URLs normalise dot segments (``%2E%2E`` too): before,
``DELETE /v1/conversations/..`` became ``DELETE /v1/`` (Symbl's 404 then read as "already deleted") and AssemblyAI's
status ``GET /v2/transcript/..`` became ``GET /v2/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.providers.http import path_segment

from tests.common.test_providers_assemblyai import client as assemblyai_client
from tests.common.test_providers_symbl import client as symbl_client

DOTS = [".", ".."]


async def recorder() -> tuple[TestServer, list[str]]:
    """A host that answers every request 404 (Symbl's token excepted) and notes each one ("METHOD path")."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/oauth2/token:generate":
            return web.json_response({"accessToken": "t", "expiresIn": 86400})
        seen.append(f"{request.method} {request.path}")
        return web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, seen


@pytest.fixture
async def host() -> AsyncIterator[tuple[TestServer, list[str]]]:
    server, seen = await recorder()
    yield server, seen
    await server.close()


@pytest.mark.parametrize("stored", DOTS)
async def test_assemblyai_asks_nothing_for_a_dot_id(
    session: aiohttp.ClientSession, host: tuple[TestServer, list[str]], stored: str
) -> None:
    """Its status is a transcript AssemblyAI does not know (the job fails, a slot it held is freed); its delete has
    nothing to delete."""
    server, seen = host
    provider = assemblyai_client(session, server)
    state = await provider.job_status(stored)
    assert state.status == "failed" and state.reason is not None and "does not know" in state.reason
    assert await provider.delete_transcript(stored) is False
    assert seen == []


@pytest.mark.parametrize("stored", DOTS)
async def test_symbl_asks_nothing_for_a_dot_id(
    session: aiohttp.ClientSession, host: tuple[TestServer, list[str]], stored: str
) -> None:
    server, seen = host
    provider = symbl_client(session, server)
    state = await provider.job_status(stored)
    assert state.status == "failed" and state.reason is not None and "does not know" in state.reason
    with pytest.raises(PoisonInputError, match="is not a name") as insights:
        await provider.fetch_insights(SubmittedJob(job_id="j", conversation_id=stored))
    assert insights.value.stage == "insights"
    assert await provider.delete_conversation(stored) is False
    assert seen == []


def test_any_other_id_is_one_quoted_segment() -> None:
    assert path_segment("symbl", "a/b?c#d", "status") == "a%2Fb%3Fc%23d"
    assert path_segment("symbl", "...", "status") == "..."  # not a dot segment: a name
