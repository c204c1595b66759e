"""``GET /m/{token}`` and its downloads: the token checked, the meeting read, the page rendered.

The token's checks and the answers that replace a page are :mod:`zoomsymbl_web.lookup`'s, the audio stream
:mod:`zoomsymbl_web.playback`'s; the access log names the route template only (:mod:`zoomsymbl_common.access_log`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final
from urllib.parse import quote

from aiohttp import web
from zoomsymbl_common import protocol_errors
from zoomsymbl_common.page_headers import PAGE_HEADERS, PLAIN_CSP

from zoomsymbl_web import exports, render, timeline
from zoomsymbl_web.headers import page_csp
from zoomsymbl_web.lookup import lookup, plain
from zoomsymbl_web.meeting import MeetingView
from zoomsymbl_web.page_deps import PageDeps
from zoomsymbl_web.playback import audio, playable

log = logging.getLogger("zoomsymbl.web.routes")

_FILES: Final[dict[str, tuple[str, Callable[[MeetingView], str]]]] = {
    "transcript.vtt": ("text/vtt", lambda v: exports.vtt(v.insights.messages)),
    "transcript.srt": ("application/x-subrip", lambda v: exports.srt(v.insights.messages)),
    "transcript.txt": ("text/plain", lambda v: exports.text(v.insights.messages)),
    "insights.json": ("application/json", exports.insights_json),
}

PAGE_PATHS = ("/m/",)
"""Paths whose next segment is a page token."""


def add_page_routes(app: web.Application) -> None:
    """The page, its downloads, the headers every answer under ``/m/`` carries; no page path in aiohttp's errors."""
    protocol_errors.install(PAGE_PATHS)
    app.router.add_get("/m/{token}", page)
    app.router.add_get("/m/{token}/audio", audio)
    app.router.add_get("/m/{token}/{file}", download)
    app.on_response_prepare.append(_page_headers)


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith("/m/"):
        return
    response.headers.update(PAGE_HEADERS)
    response.headers.setdefault("Content-Security-Policy", PLAIN_CSP)


async def page(request: web.Request) -> web.Response:
    """The meeting page (200), a plain page while it is processed (200), unknown (404), refused (403)."""
    started = time.perf_counter()
    deps, found = await lookup(request, "page")
    if isinstance(found, web.Response):
        return found
    rows = timeline.rows(
        found.speakers,
        (timeline.Said(m.speaker, m.start_seconds, m.end_seconds, m.channel) for m in found.insights.messages),
        found.axis_seconds,
    )
    token = request.match_info["token"]
    audio_url = _audio_url(deps, found, token)
    nonce = secrets.token_urlsafe(18)
    body = render.meeting_page(
        found,
        rows,
        token=token,
        audio_url=audio_url,
        nonce=nonce,
        limit=deps.settings.max_messages,
        renew_audio=deps.presign is not None,
    )
    response = web.Response(text=body, content_type="text/html")
    response.headers["Content-Security-Policy"] = page_csp(nonce, deps.media)
    elapsed = time.perf_counter() - started
    # The server's own time (read, compute, render), for the benchmark and the browser's dev tools.
    response.headers["Server-Timing"] = f"page;dur={elapsed * 1000:.1f}"
    deps.metrics.pages.labels("page", "ok").inc()
    deps.metrics.seconds.observe(elapsed)
    return response


def _audio_url(deps: PageDeps, found: MeetingView, token: str) -> str | None:
    """Where the page's player fetches the audio (a presigned S3 URL, or our own stream); None: no player."""
    stored = playable(deps, found)
    if stored is None:
        return None
    lifetime = timedelta(seconds=deps.settings.audio_url_seconds)
    try:
        return deps.presign(stored, lifetime) if deps.presign else f"/m/{quote(token, safe='')}/audio"
    except ValueError as exc:  # minio refuses a key or bucket name it cannot sign: the page, without a player
        log.error("audio not signed", extra={"error": str(exc)[:200]})
        return None


async def download(request: web.Request) -> web.Response:
    """A transcript (``transcript.vtt``, ``.srt``, ``.txt``) or the insights (``insights.json``) as a file."""
    name = request.match_info["file"]
    if name not in _FILES:
        # Known token or not, an unknown file name says nothing about the token.
        return plain(404, "Not found", "There is no such download.")
    deps, found = await lookup(request, "download")
    if isinstance(found, web.Response):
        return found
    content_type, make = _FILES[name]
    response = web.Response(text=make(found), content_type=content_type, charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-{name}"'
    deps.metrics.pages.labels("download", "ok").inc()
    return response
