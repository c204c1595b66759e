"""The SSRF guard: which download URLs pass, and which resolved addresses may be connected to."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL
from zoomsymbl_common.tenants import ZOOM_DOWNLOAD_HOSTS
from zoomsymbl_mixer.errors import DownloadRefused
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy, address_is_public, check_url, host_matches

ZOOM = HostPolicy(ZOOM_DOWNLOAD_HOSTS)
SANDBOX = HostPolicy(("127.0.0.1", "localhost"), allow_private=True)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("zoom.us", True),
        ("us06web.zoom.us", True),
        ("SSRWEB.Zoom.US.", True),
        ("zoom.us.evil.com", False),
        ("evilzoom.us", False),
        ("zoomgov.com", True),
        ("example.com", False),
    ],
)
def test_zoom_hosts_match_by_exact_name_or_subdomain(host: str, allowed: bool) -> None:
    assert host_matches(host, ZOOM_DOWNLOAD_HOSTS) is allowed


def test_a_zoom_https_url_passes() -> None:
    check_url(URL("https://us06web.zoom.us/rec/download/abc"), ZOOM)
    check_url(URL("https://us06web.zoom.us:443/rec/download/abc"), ZOOM)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.com/rec/download/abc", "allowlist"),
        ("http://zoom.us/rec/download/abc", "plain http"),
        ("https://user:pw@zoom.us/rec/download/abc", "credentials"),
        ("ftp://zoom.us/file", "scheme"),
        ("https://127.0.0.1/rec/download/abc", "allowlist"),
        ("https://zoom.us:8443/rec/download/abc", "port 8443"),  # issue 18 item 6: an allowed host, another port
        ("https://us06web.zoom.us:22/rec/download/abc", "port 22"),
    ],
)
def test_urls_off_policy_are_refused(url: str, why: str) -> None:
    with pytest.raises(DownloadRefused, match=why):
        check_url(URL(url), ZOOM)


def test_an_ip_literal_on_the_allowlist_is_refused_outside_the_sandbox() -> None:
    policy = HostPolicy(("10.0.0.5",), allow_private=False)
    with pytest.raises(DownloadRefused, match="IP literal"):
        check_url(URL("https://10.0.0.5/x"), policy)


def test_the_sandbox_may_use_loopback_over_http_but_still_only_listed_hosts() -> None:
    check_url(URL("http://127.0.0.1:8080/rec/download/abc"), SANDBOX)
    with pytest.raises(DownloadRefused, match="allowlist"):
        check_url(URL("http://evil.example.invalid/dl/abc?signature=x"), SANDBOX)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("2001:4860:4860::8888", True),
        ("0.0.0.0", False),
        ("100.64.0.1", False),  # CGNAT
        ("fd00::1", False),  # ULA
        # IPv6 addresses that lead to an IPv4 one are judged by it (Python 3.11 calls all of these global):
        ("64:ff9b::7f00:1", False),  # NAT64 → 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 → 169.254.169.254 (cloud metadata)
        ("64:ff9b::808:808", True),  # NAT64 → 8.8.8.8
        ("64:ff9b:1::808:808", False),  # local-use NAT64: whatever the operator maps it to
        ("2002:7f00:1::1", False),  # 6to4 → 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 → 10.0.0.1
        ("2002:808:808::1", True),  # 6to4 → 8.8.8.8
        ("::7f00:1", False),  # IPv4-compatible ::127.0.0.1
        ("::808:808", False),  # IPv4-compatible addresses are deprecated, never public
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_only_global_addresses_are_public(address: str, public: bool) -> None:
    assert address_is_public(address) is public


class _FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0) for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_a_name_resolving_into_the_cluster_is_refused() -> None:
    resolver = GuardedResolver(inner=_FixedResolver("10.0.0.7", "127.0.0.1"))
    with pytest.raises(DownloadRefused, match="private or loopback"):
        await resolver.resolve("rebind.zoom.us", 443)


async def test_private_answers_are_dropped_and_public_ones_kept() -> None:
    resolver = GuardedResolver(inner=_FixedResolver("10.0.0.7", "52.1.2.3"))
    results = await resolver.resolve("ssrweb.zoom.us", 443)
    assert [r["host"] for r in results] == ["52.1.2.3"]


async def test_the_sandbox_resolver_keeps_loopback() -> None:
    resolver = GuardedResolver(allow_private=True, inner=_FixedResolver("127.0.0.1"))
    assert [r["host"] for r in await resolver.resolve("localhost", 80)] == ["127.0.0.1"]
