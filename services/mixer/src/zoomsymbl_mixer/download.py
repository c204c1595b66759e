"""One Zoom file as a stream of bytes: Bearer auth, hand-followed redirects, Range resume, retries.

Redirects are followed by hand (``allow_redirects=False``) so every hop passes the SSRF guard, and
the ``Authorization`` header goes only to the host of the original URL: Zoom redirects downloads to
its CDN with a signed URL, which needs no token and must not receive one. A broken transfer is
resumed with ``Range: bytes=N-`` from the original URL (a signed CDN URL may have expired). Zoom
sometimes answers 200 with a JSON or HTML error document instead of audio: the first bytes are
checked and such a body becomes a failure carrying Zoom's code. A file gets a transfer time of its size at a floor
throughput plus an allowance (:meth:`DownloadPolicy.transfer_seconds`): a server that trickles bytes just fast enough
to beat each read's timeout fails it retryably (:class:`DownloadFailed`) instead of holding the meeting for ever.
Nothing here logs a URL or token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar

import aiohttp
from pydantic import SecretStr
from yarl import URL
from zoomsymbl_common import download_urls
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.zoom_retries import retry_after_seconds

from zoomsymbl_mixer.errors import (
    DownloadFailed,
    DownloadRateLimited,
    DownloadRefused,
    TokenRejected,
    TrackInvalid,
    TrackMissing,
    ZoomErrorBody,
)
from zoomsymbl_mixer.hosts import HostPolicy, check_url

# Zoom's download URLs and their CDN redirects are valid for 24 hours.
SIGNED_URL_TTL = timedelta(hours=25)

log = logging.getLogger("zoomsymbl.mixer.download")
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_ERROR_TYPES: Final = ("application/json", "text/html")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
MAX_ERROR_BODY: Final = 64 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard one file is tried before the failure goes to the consumer's retry policy."""

    retries: int = 5  # broken transfers in a row that brought no new byte
    max_resumes: int = 1000  # broken transfers of one file in all, progress or not
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_redirects: int = 5
    chunk_bytes: int = 1 << 20
    max_rate_limited: int = 10
    max_rate_limit_wait: float = 120.0
    # A file whose size Zoom did not announce may not grow past this (24 h of 128 kbit/s audio): a server
    # that never stops sending must not fill the scratch volume and get the pod evicted.
    max_unannounced_bytes: int = 24 * 3600 * 16_000
    # A file's transfer (waiting for the server: connecting, redirects, reads, resumes; not backoff, rate-limit
    # waits or our own writes) may take its size at this throughput plus the allowance, the largest unannounced
    # size when Zoom gave none. A 30 MB hour of Zoom audio gets 7 min + 10 min; a 1 GiB MP4 4.5 h + 10 min.
    min_bytes_per_second: float = 64 * 1024
    time_allowance: float = 600.0

    def transfer_seconds(self, expected: int | None) -> float:
        """How long the transfer of a file of ``expected`` bytes (None: unannounced) may take in all."""
        size = self.max_unannounced_bytes if expected is None else expected
        return self.time_allowance + size / self.min_bytes_per_second

    def delay(self, failure: int) -> float:
        """Exponential backoff with jitter for the given 1-based failure count."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (failure - 1)))
        return random.uniform(ceiling / 2, ceiling)


class _Broken(Exception):
    """A transfer ended before all bytes arrived; resume it."""


class _Overdue(Exception):
    """The file's transfer time is spent; not resumed."""


class _TransferClock:
    """The transfer time a file has left, spent by each wait for the server (:meth:`run`)."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.left = seconds

    async def run(self, waited: Awaitable[_T]) -> _T:
        """``waited``'s result; :class:`_Overdue` when the time left runs out first."""
        # Time spent already: ``waited`` still starts (cancelled at its first wait), so no coroutine is left unawaited.
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            async with asyncio.timeout(self.left) as limit:
                return await waited
        except TimeoutError:
            # aiohttp's own read timeout is a TimeoutError too: only ours is the deadline (that one resumes).
            if limit.expired():
                raise _Overdue from None
            raise
        finally:
            self.left -= loop.time() - began


def without_token_params(url: str) -> URL:
    """``url`` without query parameters that would carry a token (tokens go in headers only).

    Events carry such URLs stripped already; a URL from Zoom's recordings API may still have them.
    """
    return URL(download_urls.without_token_params(url), encoded=True)


def target(url: str, base: URL | None = None) -> URL:
    """``url`` (a redirect's Location: joined to ``base``) to fetch, without token parameters; one that is no URL (a
    port that is no number, an unclosed IPv6 bracket) is :class:`DownloadRefused`, never a bug retried for the whole
    attempt budget. yarl parses the host and the port only when they are read: both are read here."""
    try:
        parsed = without_token_params(url) if base is None else base.join(URL(url, encoded=True))
        _read = (parsed.raw_host, parsed.port)
    except (ValueError, TypeError):
        raise DownloadRefused("", "malformed URL") from None
    return parsed


def parse_error_body(body: bytes) -> tuple[int | None, str]:
    """Zoom's ``{"code": 124, "message": "..."}`` or an HTML page → (code, short message)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = data.get("code")
        return (code if isinstance(code, int) else None), str(data.get("message", ""))[:200]
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    found = re.search(r"\b(?:code|errorCode)\D{0,5}(\d{3,5})", text)
    return (int(found.group(1)) if found else None), (title.group(1).strip() if title else text[:120])


def looks_like_error(content_type: str, first: bytes) -> bool:
    """True when a 200 body is a JSON/HTML document rather than media (no audio container starts with { or <)."""
    if content_type.split(";")[0].strip().lower() in _ERROR_TYPES:
        return True
    return first.lstrip()[:1] in (b"{", b"<")


class Fetcher:
    """Streams Zoom files through one aiohttp session under one tenant's host policy."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        hosts: HostPolicy,
        policy: DownloadPolicy = DownloadPolicy(),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.hosts = hosts
        self.policy = policy
        self.sleep = sleep

    async def stream(
        self, file_id: str, url: str, token: SecretStr, expected: int | None
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of one file, resuming after breaks; exactly ``expected`` bytes when known.

        :class:`DownloadFailed` when breaks without progress, resumes in all or the transfer time run out."""
        offset, failures, limited, resumes = 0, 0, 0, 0
        clock = _TransferClock(self.policy.transfer_seconds(expected))
        while True:
            start = offset
            try:
                async for chunk in self._attempt(file_id, url, token, offset, expected, clock):
                    offset += len(chunk)
                    yield chunk
                return
            except _Overdue:
                # Retried by the consumer (its attempts, then the meeting failed at stage download), not resumed:
                # a server this slow is no better on the next Range request.
                raise DownloadFailed(
                    file_id,
                    f"not done within {clock.total:.1f} s ({self.policy.min_bytes_per_second:g} bytes/s at least,"
                    f" plus {self.policy.time_allowance:g} s), {offset} bytes received",
                ) from None
            except DownloadRateLimited as exc:
                limited += 1
                if limited > self.policy.max_rate_limited:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self.policy.delay(limited)
                await self.sleep(min(wait, self.policy.max_rate_limit_wait))
            except (_Broken, aiohttp.ClientError, TimeoutError) as exc:
                # A transfer that broke after bringing new bytes is resumed (Range) without spending
                # the retry budget: a flaky link that drops every few MiB still finishes the file.
                failures = 0 if offset > start else failures + 1
                resumes += 1
                why = f"{type(exc).__name__} after {offset} bytes"
                if failures > self.policy.retries or resumes > self.policy.max_resumes:
                    raise DownloadFailed(file_id, why) from None
                log.warning("download interrupted, resuming", extra={"file_id": file_id, "why": why})
                await self.sleep(self.policy.delay(max(failures, 1)))

    async def _attempt(
        self, file_id: str, url: str, token: SecretStr, offset: int, expected: int | None, clock: _TransferClock
    ) -> AsyncGenerator[bytes, None]:
        if expected is not None and offset >= expected:
            return
        response = await clock.run(self._open(file_id, url, token, offset))
        async with response:
            skip = await self._check_status(file_id, response, offset, expected)
            received = offset
            # A body that starts at the file's first byte may be Zoom's error document instead: a 200 answers the
            # first request and a resumed one (Range) alike. A 206's body starts mid-file, where any byte may come.
            first = response.status == 200 or offset == 0
            # Each read under the clock, never the yield: the time the caller takes to store a chunk is not Zoom's.
            while chunk := await clock.run(response.content.read(self.policy.chunk_bytes)):
                if first and looks_like_error(response.headers.get("Content-Type", ""), chunk):
                    await self._raise_error_body(file_id, response, chunk)
                first = False
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                if not chunk:
                    continue
                received += len(chunk)
                if expected is not None and received > expected:
                    raise TrackInvalid(file_id, f"more than the announced {expected} bytes")
                if expected is None and received > self.policy.max_unannounced_bytes:
                    raise TrackInvalid(
                        file_id, f"more than {self.policy.max_unannounced_bytes} bytes, size unannounced"
                    )
                yield chunk
        if expected is not None and received < expected:
            raise _Broken(f"ended at {received} of {expected} bytes")

    async def _open(self, file_id: str, url: str, token: SecretStr, offset: int) -> aiohttp.ClientResponse:
        current = target(url)
        origin = (current.scheme, current.raw_host, current.port)
        for _ in range(self.policy.max_redirects + 1):
            check_url(current, self.hosts)
            headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
            if (current.scheme, current.raw_host, current.port) == origin:
                headers["Authorization"] = f"Bearer {token.get_secret_value()}"
            if offset:
                headers["Range"] = f"bytes={offset}-"
            response = await self.session.get(current, headers=headers, allow_redirects=False)
            if response.status not in REDIRECTS:
                return response
            location = response.headers.get("Location", "")
            response.release()
            if not location:
                raise DownloadFailed(file_id, f"redirect {response.status} without Location")
            register_secret(location, ttl=SIGNED_URL_TTL)  # CDN redirects carry signed query strings
            current = target(location, current)
        raise DownloadRefused(current.raw_host or "", f"more than {self.policy.max_redirects} redirects")

    async def _check_status(
        self, file_id: str, response: aiohttp.ClientResponse, offset: int, expected: int | None
    ) -> int:
        """Raise for unusable answers; return how many leading bytes to drop (Range ignored)."""
        status = response.status
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise _Broken("206 without the requested Content-Range")
            total = match.group(3)
            if expected is not None and total != "*" and int(total) != expected:
                raise TrackInvalid(file_id, f"server says {total} bytes, Zoom announced {expected}")
            return 0
        if status == 200:
            return offset
        if status == 416 and expected is not None:
            raise TrackInvalid(file_id, f"server has fewer than the announced {expected} bytes (416 at {offset})")
        if status == 429:
            raise DownloadRateLimited(file_id, retry_after_seconds(response.headers))
        if status >= 500:
            raise _Broken(f"status {status}")
        code, message = parse_error_body(await response.content.read(MAX_ERROR_BODY))
        if status in (401, 403):
            raise TokenRejected(file_id, status, code)
        if status == 404:
            raise TrackMissing(file_id, status, code)
        raise ZoomErrorBody(file_id, status, code, message)

    async def _raise_error_body(self, file_id: str, response: aiohttp.ClientResponse, first: bytes) -> None:
        rest = await response.content.read(max(0, MAX_ERROR_BODY - len(first)))
        code, message = parse_error_body(first + rest)
        # Even code 124 ("invalid access token") is final here: Zoom signals a rejected token with 401.
        raise ZoomErrorBody(file_id, response.status, code, message)
