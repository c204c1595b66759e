"""Downloads built from outside text keep their structure: a participant's name cannot add an SRT cue timing,
and a transcript cannot carry terminal control sequences into the text file."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.meeting import Lookup, MeetingPages, MeetingView
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings

KEY = "web-injection-page-key-0123456789"
# A Zoom display name (or a diarized transcript's text) holding an SRT timing line with one dash too many:
# removing "-->" once leaves "-->" behind.
FORGED = "00:00:30,000 ---> 00:59:59,000"
MESSAGES = (
    TranscriptMessage("Ana", "hello", 1.0, 2.0, channel=1),
    TranscriptMessage(FORGED, "taken over", 3.0, 4.0, channel=2),
    TranscriptMessage("Bo", f"see {FORGED} and ----> and -- >", 5.0, 6.0, channel=3),
    # The voice tag's ``>`` after a name ending in dashes once made "<v Bob -->": a cue's end, its words lost.
    TranscriptMessage("Bob --", "words after a dashing name", 7.0, 8.0, channel=4),
    # ESC sequences: set the terminal's title, clear the screen, a hidden OSC 8 link; C1 CSI; DEL.
    TranscriptMessage("\x1b[31mCy", "\x1b]0;owned\x07\x1b[2J\x1b]8;;http://evil.test\x1b\\x\x9b1m\x7f done", 7.0, 8.0),
)
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
TIMING = re.compile(r"^\d{2}:\d{2}:\d{2}[,.]\d{3} --> \d{2}:\d{2}:\d{2}[,.]\d{3}$")


class _Pages(MeetingPages):
    def __init__(self, view: MeetingView) -> None:
        self.view = view

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        return self.view if (tenant, meeting_uuid) == ("acme", "forged==") else None


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    view = MeetingView(
        tenant="acme",
        meeting_uuid="forged==",
        topic="Plan",
        host="ana@example.test",
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=10.0,
        source="Zoom transcript",
        insights=Insights(messages=MESSAGES),
        speakers=(),
        audio=None,
    )
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=InfraSettings()),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=_Pages(view),
        presign=None,
        media="'self'",
        metrics=PageMetrics(CollectorRegistry()),
    )
    add_page_routes(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _download(client: TestClient[web.Request, web.Application], name: str) -> str:
    resp = await client.get(f"/m/{make_page_token(KEY, 'acme', 'forged==')}/{name}")
    assert resp.status == 200
    return await resp.text()


@pytest.mark.parametrize("name", ["transcript.srt", "transcript.vtt", "transcript.txt"])
async def test_only_timing_lines_hold_an_arrow(client: TestClient[web.Request, web.Application], name: str) -> None:
    body = await _download(client, name)
    arrows = [line for line in body.splitlines() if "-->" in line]
    assert all(TIMING.match(line) for line in arrows), arrows
    expected = 0 if name.endswith(".txt") else len(MESSAGES)
    assert len(arrows) == expected
    assert "taken over" in body  # the utterance stays, only its arrows are defused


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
async def test_ffmpeg_reads_the_srt_download_cue_for_cue(
    client: TestClient[web.Request, web.Application], tmp_path: Path
) -> None:
    source = tmp_path / "meeting-transcript.srt"
    source.write_text(await _download(client, "transcript.srt"), encoding="utf-8")
    target = tmp_path / "converted.vtt"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), str(target), stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr[-500:]
    converted = target.read_text(encoding="utf-8")
    timings = [line for line in converted.splitlines() if "-->" in line]
    assert len(timings) == len(MESSAGES), converted
    assert "taken over" in converted and "00:59:59" not in "\n".join(timings)


@pytest.mark.parametrize("name", ["transcript.srt", "transcript.vtt", "transcript.txt"])
async def test_no_control_character_reaches_a_transcript_file(
    client: TestClient[web.Request, web.Application], name: str
) -> None:
    body = await _download(client, name)
    assert CONTROL.findall(body) == []
    assert "Cy" in body and "done" in body
