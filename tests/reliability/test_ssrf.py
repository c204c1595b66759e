"""SSRF: download URLs and redirects aimed at loopback, link-local metadata, private ranges, foreign hosts and
non-HTTP schemes are refused by the mixer's download path, and no connection is made (measured, not assumed).

The mixer's own ``Fetcher`` runs under the production host policy (Zoom's domains only, no private
addresses, https only). "DNS" is a stand-in: ``origin.zoom.us`` and ``cdn.zoom.us`` reach a local
TLS server as if they were public Zoom hosts; other ``*.zoom.us`` names resolve to forbidden
addresses (DNS rebinding) and go through the mixer's ``GuardedResolver``. Every TCP connection the
event loop attempts is recorded, and a listener on loopback counts what reaches it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.tenants import ZOOM_DOWNLOAD_HOSTS
from zoomsymbl_mixer.download import DownloadPolicy, Fetcher
from zoomsymbl_mixer.errors import DownloadRefused
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy

from tests.reliability.results import record

pytestmark = pytest.mark.timeout(300)
PUBLIC_STAND_INS = ("origin.zoom.us", "cdn.zoom.us")  # reach the local TLS server as if they were Zoom's
REBINDING = {
    "rebind.zoom.us": "127.0.0.1",
    "localhost.zoom.us": "127.0.0.1",
    "metadata.zoom.us": "169.254.169.254",
    "internal.zoom.us": "10.1.2.3",
    "mapped.zoom.us": "::ffff:127.0.0.1",
    "v6.zoom.us": "::1",
}
AUDIO = b"\x00\x00\x00\x20ftypM4A " + bytes(4000)
TOKEN = SecretStr("DLTOKEN-ssrf-5e6f7a8b9c")


def result(host: str, ip: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return ResolveResult(hostname=host, host=ip, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST)


class FakeDns(AbstractResolver):
    """Answers from a table; other names do not exist."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        if host not in self.table:
            raise OSError(f"no such host {host!r}")
        return [result(host, self.table[host], port)]

    async def close(self) -> None:
        return None


class HarnessResolver(AbstractResolver):
    """The stand-in Zoom hosts resolve to the local TLS server; every other name goes through the mixer's guard."""

    def __init__(self) -> None:
        self.guard = GuardedResolver(allow_private=False, inner=FakeDns(REBINDING))

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        if host in PUBLIC_STAND_INS:
            return [result(host, "127.0.0.1", port)]
        return await self.guard.resolve(host, port, family)

    async def close(self) -> None:
        await self.guard.close()


@dataclass
class Connections:
    """Every address the event loop tried to connect to, and every connection the trap accepted."""

    attempted: list[tuple[Any, ...]] = field(default_factory=list)
    trapped: int = 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ",".join(f"DNS:{name}" for name in PUBLIC_STAND_INS)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=origin.zoom.us",
         "-addext", f"subjectAltName={names}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    yield cert, key


@pytest.fixture
async def connections() -> AsyncIterator[tuple[Connections, int]]:
    """A trap listening on loopback, and a record of every ``sock_connect`` of the event loop."""
    seen = Connections()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.trapped += 1
        writer.close()

    trap = await asyncio.start_server(accepted, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    original = loop.sock_connect

    async def recording(sock: socket.socket, address: Any) -> None:
        seen.attempted.append(tuple(address))
        await original(sock, address)

    loop.sock_connect = recording  # type: ignore[method-assign]
    try:
        yield seen, int(trap.sockets[0].getsockname()[1])
    finally:
        loop.sock_connect = original  # type: ignore[method-assign]
        trap.close()
        await trap.wait_closed()


SERVED = web.AppKey("served", list)


async def _serve(request: web.Request) -> web.StreamResponse:
    request.app[SERVED].append(request.path_qs)
    target = request.query.get("to")
    if target:
        return web.Response(status=302, headers={"Location": target})
    return web.Response(body=AUDIO, content_type="audio/mp4")


@dataclass
class Origin:
    port: int
    served: list[str]


@pytest.fixture
async def origin(certificate: tuple[Path, Path]) -> AsyncIterator[Origin]:
    """The stand-in Zoom download host over TLS: serves audio, or redirects to ``?to=``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    app = web.Application()
    app[SERVED] = []
    app.router.add_get("/rec/download/{name}", _serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield Origin(int(runner.addresses[0][1]), app[SERVED])
    await runner.cleanup()


@pytest.fixture
async def fetcher(origin: Origin) -> AsyncIterator[Fetcher]:
    """The mixer's Fetcher under the production policy (Zoom's hosts, no private addresses, https only)."""
    connector = aiohttp.TCPConnector(resolver=HarnessResolver(), ssl=False)  # the stand-in's certificate is ours
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def no_wait(_: float) -> None:
            return None

        policy = DownloadPolicy(retries=0, base_delay=0.01, max_redirects=5)
        # The stand-in Zoom listens on a free port, not 443: the only port besides 443 it may use.
        yield Fetcher(session, HostPolicy(ZOOM_DOWNLOAD_HOSTS, allowed_ports=(443, origin.port)), policy, no_wait)


def hostile_targets(trap: int) -> list[str]:
    """Where an attacker would like the mixer to connect (``trap`` is the loopback listener's port)."""
    return [
        f"http://127.0.0.1:{trap}/rec/download/a",
        f"https://127.0.0.1:{trap}/rec/download/a",
        f"https://[::1]:{trap}/a",
        f"https://[::ffff:127.0.0.1]:{trap}/a",
        f"https://2130706433:{trap}/a",
        f"https://0x7f000001:{trap}/a",
        f"https://0177.0.0.1:{trap}/a",
        f"https://localhost:{trap}/a",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://10.0.0.7/internal",
        "https://10.255.255.1:8443/x",
        "https://192.168.1.1/x",
        "https://evil.example.com/rec/download/a",
        "https://zoom.us.evil.example/a",
        "https://evilzoom.us/a",
        "https://user:pass@zoom.us/a",
        f"https://zoom.us@127.0.0.1:{trap}/a",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{trap}/_INFO",
        f"dict://127.0.0.1:{trap}/info",
        "ftp://zoom.us/a",
        f"https://rebind.zoom.us:{trap}/a",
        f"https://localhost.zoom.us:{trap}/a",
        "https://metadata.zoom.us/latest/meta-data/",
        "https://internal.zoom.us/a",
        f"https://mapped.zoom.us:{trap}/a",
        f"https://v6.zoom.us:{trap}/a",
    ]


async def attempt(fetcher: Fetcher, url: str) -> BaseException | None:
    try:
        async for _ in fetcher.stream("f1", url, TOKEN, len(AUDIO)):
            pass
    except (PoisonInputError, aiohttp.ClientError, Exception) as exc:
        return exc
    return None


async def test_hostile_urls_and_redirects_are_refused_without_a_connection(
    fetcher: Fetcher, origin: Origin, connections: tuple[Connections, int]
) -> None:
    seen, trap = connections
    zoom = f"https://origin.zoom.us:{origin.port}/rec/download"
    # Controls: the stand-in Zoom host serves, and a redirect to the stand-in CDN is followed.
    assert await attempt(fetcher, f"{zoom}/ok") is None
    cdn = f"https://cdn.zoom.us:{origin.port}/rec/download/ok"
    assert await attempt(fetcher, f"{zoom}/r?to={quote(cdn)}") is None
    allowed = {("127.0.0.1", origin.port)}
    assert {a[:2] for a in seen.attempted} == allowed
    before, served = len(seen.attempted), len(origin.served)
    outcomes: dict[str, str] = {}
    for target in hostile_targets(trap):
        direct = await attempt(fetcher, target)
        redirected = await attempt(fetcher, f"{zoom}/r?to={quote(target)}")
        outcomes[target] = f"{type(direct).__name__} / {type(redirected).__name__}"
        for exc in (direct, redirected):
            assert isinstance(exc, DownloadRefused), (target, exc)
            assert exc.stage == "download"  # the consumer marks the meeting failed with this stage
            assert exc.host not in PUBLIC_STAND_INS, (target, exc)  # refused at the hostile hop itself
    forbidden = [a for a in seen.attempted[before:] if a[:2] not in allowed]
    record(
        "ssrf",
        injected="download URLs and redirects to 127.0.0.1 (also as ::1, ::ffff:, decimal, hex, octal), "
        "169.254.169.254, 10/8, 192.168/16, non-Zoom hosts, userinfo tricks, file:/gopher:/dict:/ftp:, "
        "*.zoom.us names resolving to private addresses (DNS rebinding)",
        how_often=f"{len(outcomes)} targets, each direct and as a redirect from the Zoom host",
        expected="every one refused (DownloadRefused, meeting failed at stage download); 0 connections to them",
        measured={
            "targets": len(outcomes),
            "refused": 2 * len(outcomes),
            "connections attempted to forbidden addresses": len(forbidden),
            "connections accepted by the loopback trap": seen.trapped,
            "redirects served by the Zoom stand-in": len(origin.served) - served,
        },
    )
    assert len(origin.served) - served == len(outcomes)  # every redirect was really received and followed
    assert forbidden == []
    assert seen.trapped == 0
