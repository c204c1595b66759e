"""The SSRF guard of downloads: which URLs may be fetched, and which addresses may be connected to.

A URL passes when its host matches the tenant's allowlist (``zoom.us``, ``*.zoom.us``, ...), it is
not an IP literal, and it uses https. The resolver then refuses private, loopback, link-local and
other non-public addresses, so a DNS name that resolves into the cluster is refused too (the check
happens on the addresses actually connected to, not on a separate look-up). A tenant with
``allow_private_download_hosts`` (the sandbox) lifts the IP-literal, http and private-address
rules, never the allowlist.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from zoomsymbl_mixer.errors import DownloadRefused


@dataclass(frozen=True)
class HostPolicy:
    """Where one tenant's downloads may go."""

    allowed_hosts: tuple[str, ...]
    allow_private: bool = False
    # Zoom serves recordings on 443 only; another port on an allowed host is someone else's service.
    allowed_ports: tuple[int, ...] = (443,)


def normalize_host(host: str) -> str:
    """Lower-case, without the trailing dot of a fully qualified name."""
    return host.lower().rstrip(".")


def host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    """True when ``host`` equals a pattern or, for ``*.domain``, is a strict subdomain of it."""
    name = normalize_host(host)
    for pattern in patterns:
        wanted = normalize_host(pattern.strip())
        if wanted.startswith("*."):
            if name.endswith(wanted[1:]) and len(name) > len(wanted) - 1:
                return True
        elif name == wanted:
            return True
    return False


def is_ip_literal(host: str) -> bool:
    """True for ``10.0.0.1``, ``::1`` and ``[::1]``."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address
_REFUSED_V6 = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64: translates to anything the operator chose
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291): ::127.0.0.1 is "global" to Python 3.11
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translating or tunnelling IPv6 address reaches (mapped, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_is_public(address: str) -> bool:
    """True when ``address`` is a global unicast address (not private, loopback, link-local, ...).

    An IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is
    judged by the IPv4 address it leads to: ``64:ff9b::7f00:1`` is loopback through a NAT64 gateway.
    Local-use NAT64 and IPv4-compatible addresses are never public; Teredo is not global to ``ipaddress``.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _REFUSED_V6):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def check_url(url: URL, policy: HostPolicy) -> None:
    """Raise :class:`DownloadRefused` unless ``url`` may be fetched under ``policy``."""
    host = url.raw_host or ""
    if not host:
        raise DownloadRefused("", "the URL has no host")
    if url.scheme not in ("https", "http"):
        raise DownloadRefused(host, f"scheme {url.scheme!r} is not http(s)")
    if url.user or url.password:
        raise DownloadRefused(host, "credentials in the URL")
    if not host_matches(host, policy.allowed_hosts):
        raise DownloadRefused(host, "not on the download allowlist")
    if policy.allow_private:
        return
    if url.scheme != "https":
        raise DownloadRefused(host, "plain http")
    if url.explicit_port is not None and url.explicit_port not in policy.allowed_ports:
        raise DownloadRefused(host, f"port {url.explicit_port}")
    if is_ip_literal(host):
        raise DownloadRefused(host, "IP literal")


class GuardedResolver(AbstractResolver):
    """Resolves names like aiohttp does, then drops every non-public address (unless allowed)."""

    def __init__(self, allow_private: bool = False, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [r for r in results if address_is_public(r["host"])]
        if not public:
            # Not an OSError on purpose: aiohttp would wrap that as a retryable connection error.
            raise DownloadRefused(host, "resolves only to private or loopback addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()
