"""Which failed provider calls may have left a job at the provider: the errors as the provider clients raise them.

Each error is made the way a real submission meets it: an aiohttp request through the providers'
``transport_errors`` and ``read_json``, against a local server that answers (or does not) as a provider
or a gateway in front of it would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from zoomsymbl_common.errors import MongoUnavailable, ObjectNotFound, PoisonInputError, RetryableError
from zoomsymbl_common.providers.http import read_json, transport_errors
from zoomsymbl_submitter.ambiguity import maybe_accepted

from tests.submitter.support import free_port


@pytest.fixture
async def provider() -> AsyncIterator[TestServer]:
    """A provider (or its gateway): ``/status/N`` answers N, ``/html`` a 200 web page, ``/hang`` nothing."""
    never = asyncio.Event()

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"message": "as asked"}, status=int(request.match_info["code"]))

    async def html(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")

    async def hang(request: web.Request) -> web.Response:
        await request.read()  # the whole request arrived: the provider may act on it
        await never.wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/html", html)
    app.router.add_post("/hang", hang)
    server = TestServer(app)
    await server.start_server()
    yield server
    never.set()
    await server.close()


async def submit_error(url: str, *, connector: aiohttp.BaseConnector | None = None, **options: Any) -> Exception:
    """What a provider client's submit raises when its POST to ``url`` fails."""
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            async with (
                transport_errors("symbl", "submit"),
                http.post(url, json={"name": "Meeting"}, **options) as resp,
            ):
                await read_json("symbl", "submit", resp)
        except Exception as exc:
            return exc
    raise AssertionError(f"POST {url} did not fail")


class UnresolvableResolver(AbstractResolver):
    """DNS that knows no name (NXDOMAIN)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, f"{host} does not resolve")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408, 409])
async def test_a_server_error_or_conflict_answer_may_hide_an_accepted_job(provider: TestServer, code: int) -> None:
    error = await submit_error(str(provider.make_url(f"/status/{code}")))
    assert isinstance(error, RetryableError)
    assert maybe_accepted(error)


async def test_a_success_answer_that_is_not_json_may_hide_an_accepted_job(provider: TestServer) -> None:
    error = await submit_error(str(provider.make_url("/html")))
    assert isinstance(error, RetryableError) and "non-JSON" in str(error)
    assert maybe_accepted(error)


async def test_a_timeout_after_the_request_was_sent_may_hide_an_accepted_job(provider: TestServer) -> None:
    error = await submit_error(str(provider.make_url("/hang")), timeout=aiohttp.ClientTimeout(sock_read=0.2))
    assert isinstance(error, RetryableError) and "timed out" in str(error)
    assert maybe_accepted(error)


async def test_a_refused_connection_left_no_job() -> None:
    error = await submit_error(f"http://127.0.0.1:{free_port()}/v1/process/audio")
    assert isinstance(error, RetryableError)
    assert not maybe_accepted(error)


async def test_a_host_that_does_not_resolve_left_no_job() -> None:
    connector = aiohttp.TCPConnector(resolver=UnresolvableResolver())
    error = await submit_error("http://api.symbl.invalid/v1/process/audio", connector=connector)
    assert isinstance(error, RetryableError)
    assert not maybe_accepted(error)


@pytest.mark.parametrize(("code", "kind"), [(429, RetryableError), (400, PoisonInputError), (404, PoisonInputError)])
async def test_a_refusal_left_no_job(provider: TestServer, code: int, kind: type[Exception]) -> None:
    error = await submit_error(str(provider.make_url(f"/status/{code}")))
    assert isinstance(error, kind)
    assert not maybe_accepted(error)


@pytest.mark.parametrize("error", [MongoUnavailable("timed out"), ObjectNotFound("bucket", "mixed/acme/m.flac")])
def test_a_failure_of_our_own_servers_left_no_job(error: Exception) -> None:
    assert not maybe_accepted(error)


def test_an_error_of_no_known_kind_may_hide_an_accepted_job() -> None:
    assert maybe_accepted(KeyError("id"))
