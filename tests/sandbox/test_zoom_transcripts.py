"""The Zoom sandbox's transcript files and its signed ``recording.transcript_completed``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.webvtt import parse
from zoomsymbl_sandbox.zoom import (
    ZoomSandboxConfig,
    is_valid_zoom_signature,
    running_zoom_sandbox,
    typical_meeting_spec,
)

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"
UUID = "transcriptMeetingUuid0000=="
SPEC = typical_meeting_spec(UUID).model_copy(update={"transcript": True, "captions": True})
CONFIG = ZoomSandboxConfig(cache_dir=CACHE, meetings=(SPEC,))
Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Received]]:
    received: Received = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/hook")), received


async def test_transcripts_come_in_their_own_signed_event_and_download_as_zoom_webvtt(
    receiver: tuple[str, Received],
) -> None:
    url, received = receiver
    async with running_zoom_sandbox(CONFIG) as sandbox, aiohttp.ClientSession() as http:
        listed = {f["file_type"]: f for f in sandbox.meeting_object(UUID)["recording_files"]}
        assert {"TRANSCRIPT", "CC", "M4A", "MP4"} <= set(listed)
        assert (listed["TRANSCRIPT"]["recording_type"], listed["TRANSCRIPT"]["file_extension"]) == (
            "audio_transcript",
            "VTT",
        )
        assert listed["CC"]["recording_type"] == "closed_caption"

        assert await sandbox.send_recording_completed(http, url, UUID) == 200
        order = {"meeting_uuid": UUID, "target_url": url}
        async with http.post(f"{sandbox.base_url}/_sandbox/webhooks/transcript-completed", json=order) as answer:
            assert await answer.json() == {"status": 200}

        completed = json.loads(received[0][1])
        assert {f["file_type"] for f in completed["payload"]["object"]["recording_files"]} == {"M4A", "MP4"}
        headers, raw = received[1]
        assert is_valid_zoom_signature(CONFIG.webhook_secret, headers["x-zm-request-timestamp"], raw,
                                       headers["x-zm-signature"])  # fmt: skip
        event = json.loads(raw)
        assert event["event"] == "recording.transcript_completed"
        files = event["payload"]["object"]["recording_files"]
        assert {f["file_type"] for f in files} == {"TRANSCRIPT", "CC"}
        assert event["payload"]["object"]["uuid"] == UUID

        bearer = {"Authorization": f"Bearer {event['download_token']}"}
        texts = {}
        for file in files:
            async with http.get(file["download_url"], headers=bearer) as response:
                assert response.status == 200
                texts[file["file_type"]] = await response.read()
                assert len(texts[file["file_type"]]) == file["file_size"]
    cues = parse(texts["TRANSCRIPT"])
    assert [c.speaker for c in cues] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert cues[1].start == 6.5
    assert b"\r\n" in texts["CC"] and [c.speaker for c in parse(texts["CC"])] == [c.speaker for c in cues]
