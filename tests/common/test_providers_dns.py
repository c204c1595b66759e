"""Provider API hosts that do not resolve are named, and make /readyz fail with their names."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.health import add_health_routes, add_readiness_check
from zoomsymbl_common.providers.dns import UnresolvableHostError, host_of, resolvable_check, unresolvable_hosts

GONE = {"api.symbl.ai"}
HANGS = {"slow.example.com"}


async def fake_resolve(host: str) -> object:
    """api.symbl.ai is gone from DNS, slow.example.com never answers, everything else resolves."""
    if host in GONE:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if host in HANGS:
        await asyncio.Event().wait()
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0))]


def test_hosts_are_read_from_urls_and_ip_literals_need_no_lookup() -> None:
    assert host_of("https://API.Symbl.ai/v1") == "api.symbl.ai"
    assert host_of("http://127.0.0.1:8080") is None
    assert host_of("http://[::1]:8080/") is None
    assert host_of("not a url") is None


async def test_unresolvable_and_silent_hosts_are_named_once_each() -> None:
    asked: list[str] = []

    async def resolve(host: str) -> object:
        asked.append(host)
        return await fake_resolve(host)

    urls = [
        "https://api.symbl.ai",
        "https://api.symbl.ai/v1",
        "https://api.assemblyai.com",
        "https://slow.example.com",
        "http://127.0.0.1:9000",
    ]
    missing = await unresolvable_hosts(urls, timeout=0.2, resolve=resolve)
    assert missing == ["api.symbl.ai", "slow.example.com"]
    assert sorted(asked) == ["api.assemblyai.com", "api.symbl.ai", "slow.example.com"]


async def test_the_system_resolver_knows_localhost_and_not_an_invalid_name() -> None:
    # RFC 6761: names under .invalid never resolve; localhost always does.
    missing = await unresolvable_hosts(["http://localhost:1", "https://api.zoomsymbl-test.invalid"], timeout=5.0)
    assert missing == ["api.zoomsymbl-test.invalid"]


async def test_the_check_raises_a_config_error_naming_the_host() -> None:
    check = resolvable_check(["https://api.symbl.ai"], what="symbl API", resolve=fake_resolve)
    with pytest.raises(UnresolvableHostError, match=r"symbl API host\(s\) 'api\.symbl\.ai' do not resolve") as caught:
        await check()
    assert caught.value.hosts == ("api.symbl.ai",)
    await resolvable_check(["https://api.assemblyai.com"], resolve=fake_resolve)()


async def test_readyz_fails_and_names_the_host() -> None:
    app = web.Application()
    add_health_routes(app)
    add_readiness_check(app, "symbl-dns", resolvable_check(["https://api.symbl.ai"], resolve=fake_resolve))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        body = await resp.json()
    assert resp.status == 503
    assert body["checks"]["symbl-dns"] == "unavailable: provider API host(s) 'api.symbl.ai' do not resolve"
