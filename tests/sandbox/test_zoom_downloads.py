"""Zoom sandbox downloads: Bearer-only auth, ranges, redirects and injected faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from zoomsymbl_sandbox.zoom import (
    ZoomSandbox,
    ZoomSandboxConfig,
    running_zoom_sandbox,
    typical_meeting_spec,
)
from zoomsymbl_sandbox.zoom_recordings import StoredFile

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"
UUID = "/ajXp112QmuoKj4854875=="
OTHER_UUID = "otherMeetingUuid000000=="
CONFIG = ZoomSandboxConfig(
    cache_dir=CACHE,
    meetings=(typical_meeting_spec(UUID), typical_meeting_spec(OTHER_UUID)),
    chunk_size=4096,
)


@dataclass
class Zoom:
    sandbox: ZoomSandbox
    http: aiohttp.ClientSession
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def track(self, index: int = 0, meeting_uuid: str = UUID) -> StoredFile:
        return [f for f in self.sandbox.meetings[meeting_uuid].files if f.kind == "participant"][index]

    def url(self, stored: StoredFile) -> str:
        return f"{self.sandbox.base_url}/rec/download/{stored.file_id}"

    async def inject(self, *faults: dict[str, Any]) -> None:
        async with self.http.post(f"{self.sandbox.base_url}/_sandbox/faults", json=list(faults)) as response:
            assert response.status == 200, await response.text()

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(f"{self.sandbox.base_url}/_sandbox/stats") as response:
            body: dict[str, Any] = await response.json()
            return body


@pytest.fixture
async def zoom() -> AsyncIterator[Zoom]:
    async with running_zoom_sandbox(CONFIG) as sandbox, aiohttp.ClientSession() as http:
        yield Zoom(sandbox, http, sandbox.tokens.issue_access(3600))


async def test_oauth_bearer_downloads_the_exact_file(zoom: Zoom) -> None:
    stored = zoom.track(1)
    async with zoom.http.get(zoom.url(stored), headers=zoom.bearer) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/mp4"
        assert int(response.headers["Content-Length"]) == stored.size
        assert await response.read() == stored.path.read_bytes()


async def test_download_without_token_is_refused(zoom: Zoom) -> None:
    async with zoom.http.get(zoom.url(zoom.track())) as response:
        assert response.status == 401
        assert await response.json() == {"code": 124, "message": "Invalid access token."}


async def test_token_in_query_string_is_never_accepted(zoom: Zoom) -> None:
    url = f"{zoom.url(zoom.track())}?access_token={zoom.token}"
    async with zoom.http.get(url) as response:
        assert response.status == 401
    async with zoom.http.get(url, headers=zoom.bearer) as response:
        assert response.status == 401


async def test_download_token_opens_only_its_own_meeting(zoom: Zoom) -> None:
    token = zoom.sandbox.issue_download_token(UUID)
    headers = {"Authorization": f"Bearer {token}"}
    async with zoom.http.get(zoom.url(zoom.track(0)), headers=headers) as response:
        assert response.status == 200
    async with zoom.http.get(zoom.url(zoom.track(0, OTHER_UUID)), headers=headers) as response:
        assert response.status == 401
    zoom.sandbox.tokens.expire("download")
    async with zoom.http.get(zoom.url(zoom.track(0)), headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["message"] == "Access token is expired."


async def test_head_reports_size_without_body(zoom: Zoom) -> None:
    stored = zoom.track(2)
    async with zoom.http.head(zoom.url(stored), headers=zoom.bearer) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == stored.size
        assert await response.read() == b""


async def _read_until_broken(zoom: Zoom, stored: StoredFile) -> tuple[bytearray, bool]:
    received = bytearray()
    try:
        async with zoom.http.get(zoom.url(stored), headers=zoom.bearer) as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(1024):
                received += chunk
    except aiohttp.ClientPayloadError:
        return received, True
    return received, False


async def test_range_resume_after_truncation_yields_identical_bytes(zoom: Zoom) -> None:
    stored = zoom.track(0)
    await zoom.inject({"route": "download", "kind": "truncate", "file_id": stored.file_id, "after_bytes": 10_000})
    received, broken = await _read_until_broken(zoom, stored)
    assert (len(received), broken) == (10_000, True)
    headers = {**zoom.bearer, "Range": f"bytes={len(received)}-"}
    async with zoom.http.get(zoom.url(stored), headers=headers) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 10000-{stored.size - 1}/{stored.size}"
        received += await response.read()
    assert bytes(received) == stored.path.read_bytes()
    records = (await zoom.stats())["downloads"][stored.file_id]
    assert [(r["range_start"], r["truncated"]) for r in records] == [(0, True), (10_000, False)]


async def test_unsatisfiable_range_is_416(zoom: Zoom) -> None:
    stored = zoom.track(0)
    headers = {**zoom.bearer, "Range": f"bytes={stored.size}-"}
    async with zoom.http.get(zoom.url(stored), headers=headers) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{stored.size}"


async def test_429_with_and_without_retry_after_then_success(zoom: Zoom) -> None:
    await zoom.inject(
        {"route": "download", "kind": "status", "status": 429, "retry_after": 7},
        {"route": "download", "kind": "status", "status": 429},
    )
    url = zoom.url(zoom.track(0))
    async with zoom.http.get(url, headers=zoom.bearer) as response:
        assert (response.status, response.headers.get("Retry-After")) == (429, "7")
    async with zoom.http.get(url, headers=zoom.bearer) as response:
        assert (response.status, response.headers.get("Retry-After")) == (429, None)
    async with zoom.http.get(url, headers=zoom.bearer) as response:
        assert response.status == 200
    stats = await zoom.stats()
    assert (stats["responses_429"], stats["requests"]["download"]) == (2, 3)


async def test_server_error_injected_on_the_api(zoom: Zoom) -> None:
    await zoom.inject({"route": "list_recordings", "kind": "status", "status": 503, "count": 2})
    url = f"{zoom.sandbox.base_url}/v2/users/me/recordings"
    statuses = []
    for _ in range(3):
        async with zoom.http.get(url, headers=zoom.bearer) as response:
            statuses.append(response.status)
    assert statuses == [503, 503, 200]


@pytest.mark.parametrize(("body", "marker"), [("json", '"code": 124'), ("html", "<html>")])
async def test_200_with_error_body(zoom: Zoom, body: str, marker: str) -> None:
    stored = zoom.track(0)
    await zoom.inject({"route": "download", "kind": "error_body", "body": body})
    async with zoom.http.get(zoom.url(stored), headers=zoom.bearer) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        text = await response.text()
    assert marker in text
    assert len(text.encode()) != stored.size


async def test_offsite_redirect_points_off_the_allowlist(zoom: Zoom) -> None:
    stored = zoom.track(0)
    await zoom.inject({"route": "download", "kind": "redirect", "target": "offsite"})
    async with zoom.http.get(zoom.url(stored), headers=zoom.bearer, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith(f"http://evil.example.invalid/dl/{stored.file_id}?")


async def test_local_redirect_serves_the_file_via_signed_url(zoom: Zoom) -> None:
    stored = zoom.track(1)
    await zoom.inject({"route": "download", "kind": "redirect", "target": "local"})
    async with zoom.http.get(zoom.url(stored), headers=zoom.bearer) as response:
        assert response.status == 200
        assert response.url.path == f"/dl/{stored.file_id}"
        assert await response.read() == stored.path.read_bytes()
    async with zoom.http.get(f"{zoom.sandbox.base_url}/dl/{stored.file_id}?expires=9999999999&signature=x") as r:
        assert r.status == 403


async def test_invalid_fault_is_rejected(zoom: Zoom) -> None:
    bad = {"route": "oauth", "kind": "truncate"}
    async with zoom.http.post(f"{zoom.sandbox.base_url}/_sandbox/faults", json=bad) as response:
        assert response.status == 400
    assert zoom.sandbox.faults.to_json() == []


async def test_peak_concurrent_downloads_is_reported() -> None:
    config = CONFIG.model_copy(update={"chunk_delay_s": 0.02})
    async with running_zoom_sandbox(config) as sandbox, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {sandbox.tokens.issue_access(60)}"}
        tracks = [f for f in sandbox.meetings[UUID].files if f.kind == "participant"]

        async def fetch(stored: StoredFile) -> int:
            async with http.get(f"{sandbox.base_url}/rec/download/{stored.file_id}", headers=headers) as r:
                return len(await r.read())

        sizes = await asyncio.gather(*(fetch(t) for t in tracks))
        assert sizes == [t.size for t in tracks]
        assert sandbox.stats.max_concurrent_downloads == 3
