"""Whether provider API hosts resolve: a readiness check that names the hosts that do not.

A tenant whose provider host has gone from DNS (Symbl's, reportedly, since 2026-08) should make the
service unready at start-up, with the host in the message, instead of failing its first meeting.
Only names are looked up (IP literals need no DNS); the look-ups run concurrently through the event
loop's resolver, each bounded by a timeout (the resolver thread itself cannot be interrupted and
finishes in the background).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from zoomsymbl_common.errors import ConfigError

Resolver = Callable[[str], Awaitable[object]]
"""Looks one host name up; raises :class:`OSError` (``socket.gaierror``) when it does not resolve."""


class UnresolvableHostError(ConfigError):
    """A configured provider API host does not resolve in DNS."""

    def __init__(self, message: str, *, hosts: tuple[str, ...]) -> None:
        super().__init__(message)
        self.hosts = hosts


def host_of(url: str) -> str | None:
    """The host name of ``url`` in lower case; None for an IP literal or a URL without a host."""
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.rstrip(".").lower() or None
    return None


async def _getaddrinfo(host: str) -> object:
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)


async def unresolvable_hosts(
    urls: Iterable[str], *, timeout: float = 2.0, resolve: Resolver | None = None
) -> list[str]:
    """The host names among ``urls`` that do not resolve within ``timeout`` seconds, sorted, each once."""
    lookup = resolve or _getaddrinfo
    hosts = sorted({host for host in map(host_of, urls) if host is not None})

    async def resolves(host: str) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await lookup(host)
        except (OSError, TimeoutError):
            return False
        return True

    answers = await asyncio.gather(*(resolves(host) for host in hosts))
    return [host for host, ok in zip(hosts, answers, strict=True) if not ok]


def resolvable_check(
    urls: Iterable[str], *, what: str = "provider API", timeout: float = 2.0, resolve: Resolver | None = None
) -> Callable[[], Awaitable[None]]:
    """A readiness check raising :class:`UnresolvableHostError` that names every host that does not resolve."""
    targets = tuple(urls)

    async def check() -> None:
        missing = await unresolvable_hosts(targets, timeout=timeout, resolve=resolve)
        if missing:
            names = ", ".join(repr(host) for host in missing)
            raise UnresolvableHostError(f"{what} host(s) {names} do not resolve", hosts=tuple(missing))

    return check


__all__ = ["Resolver", "UnresolvableHostError", "host_of", "resolvable_check", "unresolvable_hosts"]
