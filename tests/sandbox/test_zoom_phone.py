"""The Zoom sandbox's Zoom Phone side: MP3 recordings, /phone/recordings paging and 429s, the signed webhook."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from zoomsymbl_sandbox.zoom import (
    Fault,
    PhoneCallSpec,
    ZoomSandbox,
    ZoomSandboxConfig,
    demo_call_spec,
    is_valid_zoom_signature,
    running_zoom_sandbox,
)

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"
LINES = (("caller", "Hello, is this support?"), ("callee", "Yes, how can I help?"))


def call(recording_id: str, *, hours_ago: int = 1, stereo: bool = False) -> PhoneCallSpec:
    start = (datetime.now(UTC) - timedelta(hours=hours_ago)).replace(microsecond=0)
    return PhoneCallSpec(recording_id=recording_id, start_time=start, lines=LINES, stereo=stereo)


@pytest.fixture
async def zoom() -> AsyncIterator[ZoomSandbox]:
    async with running_zoom_sandbox(ZoomSandboxConfig(cache_dir=CACHE)) as sandbox:
        yield sandbox


async def token(http: aiohttp.ClientSession, sandbox: ZoomSandbox) -> str:
    config = sandbox.config
    basic = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
    url = f"{sandbox.base_url}/oauth/token?grant_type=account_credentials&account_id={config.account_id}"
    async with http.post(url, headers={"Authorization": f"Basic {basic}"}) as response:
        value: str = (await response.json())["access_token"]
        return value


async def probe(path: Path) -> dict[str, Any]:
    import asyncio

    process = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "json", str(path),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    stream: dict[str, Any] = json.loads(out)["streams"][0]
    return stream


async def test_a_call_is_a_48_khz_mp3_mono_unless_stereo_is_asked_for(zoom: ZoomSandbox) -> None:
    mono = await zoom.add_phone_call(call("monocall1"))
    stereo = await zoom.add_phone_call(call("stereocall1", stereo=True))
    assert await probe(mono.media.path) == {"codec_name": "mp3", "sample_rate": "48000", "channels": 1}
    assert (await probe(stereo.media.path))["channels"] == 2
    assert mono.duration_s >= 2


async def test_listing_pages_through_one_month_and_downloads_need_the_oauth_token(zoom: ZoomSandbox) -> None:
    for i in range(3):
        await zoom.add_phone_call(call(f"pagedcall{i}", hours_ago=1 + i))
    async with aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {await token(http, zoom)}"}
        today = datetime.now(UTC).date()
        params = {"from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat(), "page_size": "2"}
        seen: list[str] = []
        url = f"{zoom.base_url}/v2/phone/recordings"
        async with http.get(url, params=params, headers=bearer) as response:
            first = await response.json()
        seen += [r["id"] for r in first["recordings"]]
        assert first["next_page_token"]
        async with http.get(url, params={**params, "next_page_token": first["next_page_token"]}, headers=bearer) as r:
            second = await r.json()
        seen += [r["id"] for r in second["recordings"]]
        assert second["next_page_token"] == ""
        assert seen == ["pagedcall0", "pagedcall1", "pagedcall2"], "newest first, each once"
        entry = first["recordings"][0]
        assert entry["owner"]["extension_number"] == 1026 and "file_size" not in entry
        async with http.get(entry["download_url"]) as response:
            assert response.status == 401, "no token, no recording"
        async with http.get(entry["download_url"], headers=bearer) as response:
            assert response.status == 200 and response.content_type == "audio/mpeg"
            assert len(await response.read()) > 1000
        async with http.get(f"{zoom.base_url}/v2/users/{entry['user_id']}", headers=bearer) as response:
            assert (await response.json())["email"] == "host@example.com"


async def test_the_listing_answers_an_injected_429_with_retry_after(zoom: ZoomSandbox) -> None:
    zoom.faults.add(Fault(route="phone_recordings", kind="status", status=429, retry_after=1))
    async with aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {await token(http, zoom)}"}
        async with http.get(f"{zoom.base_url}/v2/phone/recordings", headers=bearer) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "1"
        async with http.get(f"{zoom.base_url}/v2/phone/recordings", headers=bearer) as response:
            assert response.status == 200


async def test_the_phone_webhook_is_signed_and_shaped_as_documented(zoom: ZoomSandbox) -> None:
    await zoom.add_phone_call(demo_call_spec("webhookcall1"))
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.json_response({"status": "published"})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            status = await zoom.send_phone_recording_completed(http, f"http://127.0.0.1:{port}/hook", "webhookcall1")
    finally:
        await runner.cleanup()
    assert status == 200
    [(headers, body)] = received
    assert is_valid_zoom_signature(
        zoom.config.webhook_secret, headers["x-zm-request-timestamp"], body, headers["x-zm-signature"]
    )
    event = json.loads(body)
    assert event["event"] == "phone.recording_completed"
    assert event["payload"]["account_id"] == zoom.config.account_id
    [entry] = event["payload"]["object"]["recordings"]
    assert entry["download_url"].endswith("/v2/phone/recording/download/webhookcall1")
    assert "download_token" not in event
