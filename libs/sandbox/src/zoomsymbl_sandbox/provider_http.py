"""SANDBOX HTTP plumbing shared by the provider sandboxes: errors, streaming uploads, downloads, webhooks.

Uploads are streamed to disk in chunks (recordings can be gigabytes). Outbound calls (audio downloads and
webhooks) go to loopback addresses only unless a config explicitly allows more, so a sandbox can never be
pointed at the internet by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from aiohttp import web
from yarl import URL

from zoomsymbl_sandbox.provider_stats import Faults

_CHUNK = 1 << 16


class TransferError(Exception):
    """An upload or download that cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_error(status: int, message: str, key: str = "message") -> web.Response:
    """Symbl puts the text under "message", AssemblyAI under "error"."""
    return web.json_response({key: message}, status=status)


def is_loopback_url(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return False
    host = parsed.host or ""
    if parsed.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_http_url(url: str) -> bool:
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


def _open_for_write(path: Path) -> IO[bytes]:
    return path.open("wb")


def discard(path: Path) -> None:
    """Remove a stored upload that will not be used (a quick local unlink, fine on the event loop)."""
    path.unlink(missing_ok=True)


async def stream_to_file(stream: aiohttp.StreamReader, path: Path, max_bytes: int) -> int:
    """Copy a body to ``path`` chunk by chunk; removes the partial file on any failure."""
    handle = await asyncio.to_thread(_open_for_write, path)
    size = 0
    try:
        async for chunk in stream.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise TransferError(f"file larger than {max_bytes!r} bytes", status=413)
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        handle.close()
        discard(path)
        raise
    handle.close()
    if size == 0:
        discard(path)
        raise TransferError("empty body: no audio received")
    return size


async def fetch_to_file(
    session: aiohttp.ClientSession, url: str, path: Path, max_bytes: int, allow_any_host: bool
) -> int:
    """Download ``url`` to ``path`` (loopback only unless allowed), as the provider fetches audio URLs."""
    if not (is_loopback_url(url) or (allow_any_host and is_http_url(url))):
        raise TransferError(f"sandbox only downloads from loopback http(s) URLs, got {url!r}")
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=600)) as resp:
            if resp.status != 200:
                raise TransferError(f"could not download audio: HTTP {resp.status} from {url!r}")
            return await stream_to_file(resp.content, path, max_bytes)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransferError(f"could not download audio from {url!r}: {exc!r}") from exc


@dataclass
class CallbackRecord:
    url: str
    payload: dict[str, object]
    status: int | None
    outcome: str


@dataclass
class WebhookSender:
    """Posts job-status callbacks, honouring the drop/duplicate faults and recording every attempt.

    ``attempts`` > 1 retries a delivery that got no answer in ``timeout_s`` or an answer that is neither 2xx
    nor 4xx, ``retry_interval_s`` apart; a 4xx stops it (AssemblyAI's documented webhook behaviour).
    """

    faults: Faults
    timeout_s: float = 5.0
    allow_any_host: bool = False
    session: aiohttp.ClientSession | None = None
    records: list[CallbackRecord] = field(default_factory=list)
    attempts: int = 1
    retry_interval_s: float = 1.0

    async def send(self, url: str, payload: dict[str, object], headers: Mapping[str, str]) -> int | None:
        """Returns the receiver's HTTP status of the last post (None if dropped, refused or failed)."""
        if self.faults.take("drop_callbacks"):
            self.records.append(CallbackRecord(url, payload, None, "dropped"))
            return None
        copies = 2 if self.faults.take("duplicate_callbacks") else 1
        status: int | None = None
        for copy in range(copies):
            status = await self._deliver(url, payload, headers, "duplicate" if copy else "sent")
        return status

    async def _deliver(
        self, url: str, payload: dict[str, object], headers: Mapping[str, str], outcome: str
    ) -> int | None:
        status, retryable = await self._post(url, payload, headers, outcome)
        for _ in range(self.attempts - 1):
            if not retryable:
                break
            await asyncio.sleep(self.retry_interval_s)
            status, retryable = await self._post(url, payload, headers, "retry")
        return status

    async def _post(
        self, url: str, payload: dict[str, object], headers: Mapping[str, str], outcome: str
    ) -> tuple[int | None, bool]:
        """(the receiver's status, whether another attempt may follow)."""
        if self.session is None or not (is_loopback_url(url) or (self.allow_any_host and is_http_url(url))):
            self.records.append(CallbackRecord(url, payload, None, "refused"))
            return None, False
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self.session.post(url, json=payload, headers=dict(headers), timeout=timeout) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            # A real provider does not retry forever either (``attempts``); the client must poll.
            self.records.append(CallbackRecord(url, payload, None, "failed"))
            return None, True
        self.records.append(CallbackRecord(url, payload, status, outcome))
        return status, not (200 <= status < 300 or 400 <= status < 500)

    def snapshot(self) -> dict[str, object]:
        outcomes: dict[str, int] = {}
        for record in self.records:
            outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        return {
            "callbacks": outcomes,
            "callback_log": [
                {"url": r.url, "payload": r.payload, "status": r.status, "outcome": r.outcome} for r in self.records
            ],
        }

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(aiohttp.ClientError):
                await self.session.close()
            self.session = None
