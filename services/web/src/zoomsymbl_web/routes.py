"""``GET /m/{token}`` and its downloads: the token checked, the meeting read, the page rendered.

An altered or expired token (or one for a tenant no longer configured) gets the same plain 403 page, with
no detail. A valid token is handed to the log redactor until it expires, before anything is logged; the
access log names the route template only (:mod:`zoomsymbl_common.access_log`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar
from urllib.parse import quote

from aiohttp import web
from minio.error import S3Error
from minio.helpers import check_object_name
from prometheus_client import CollectorRegistry, Counter, Histogram
from zoomsymbl_common import protocol_errors
from zoomsymbl_common.errors import InfrastructureUnavailable, ObjectNotFound, ZoomsymblError
from zoomsymbl_common.logs import register_secret, scrub
from zoomsymbl_common.page_tokens import PageClaim, verify_page_token
from zoomsymbl_common.records import MalformedRecord, StoredObject
from zoomsymbl_common.tenants import Tenants

from zoomsymbl_web import exports, render, timeline
from zoomsymbl_web.audio import AudioReader, RangeNotSatisfiable, byte_range, content_type
from zoomsymbl_web.headers import PAGE_HEADERS, PLAIN_CSP, page_csp
from zoomsymbl_web.meeting import MeetingPages, MeetingView, NotReady, Playable
from zoomsymbl_web.settings import Settings

log = logging.getLogger("zoomsymbl.web.routes")
_MAX_TOKEN: Final = 4096
Presign = Callable[[StoredObject, timedelta], str]
T = TypeVar("T", MeetingView, Playable)


class PageMetrics:
    """Pages served by outcome, and the server time of each."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pages = Counter(
            "zoomsymbl_web_pages", "Meeting pages and downloads by outcome.", ["kind", "outcome"], registry=registry
        )
        self.seconds = Histogram(
            "zoomsymbl_web_page_seconds",
            "Server time of a meeting page.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5),
            registry=registry,
        )


@dataclass(frozen=True)
class PageDeps:
    """What the routes need: settings, tenants, the meeting reader, how the audio reaches the browser.

    With ``presign`` (S3 reachable by browsers at ``audio_public_url``) the page hands out a presigned S3
    URL and ``media`` is that origin; without, the player streams ``/m/{token}/audio`` through
    ``read_audio`` and ``media`` is ``'self'``.
    """

    settings: Settings
    tenants: Tenants
    pages: MeetingPages
    presign: Presign | None
    media: str
    metrics: PageMetrics
    read_audio: AudioReader | None = None


PAGE_DEPS = web.AppKey("page_deps", PageDeps)
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


def claim_of(deps: PageDeps, token: str, *, now: float | None = None) -> PageClaim | None:
    """The meeting ``token`` opens, or None (altered, expired, too long, or its tenant is gone)."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    moment = time.time() if now is None else now
    claim = verify_page_token(deps.settings.page_key, token, now=moment)
    if claim is None:
        return None
    register_secret(token, ttl=timedelta(seconds=max(1.0, claim.expires - moment)))
    return claim if deps.tenants.get(claim.tenant) is not None else None


def _plain(status: int, title: str, text: str) -> web.Response:
    return web.Response(status=status, text=render.plain_page(title, text), content_type="text/html")


def unavailable() -> web.Response:
    """MongoDB or S3 did not answer: try again shortly (503, ``Retry-After``)."""
    text = "The archive cannot be reached right now. Reload this page in a minute."
    response = _plain(503, "Try again shortly", text)
    response.headers["Retry-After"] = "30"
    return response


def forbidden() -> web.Response:
    """The one answer to every refused token: no hint of why."""
    return _plain(403, "Link not valid", "This link is not valid or has expired. Ask the meeting's host for a new one.")


async def _lookup(request: web.Request, kind: str) -> tuple[PageDeps, MeetingView | web.Response]:
    """The page of the request's token, or the answer that replaces it (refused, not found, not ready, ...)."""
    return await _read(request, kind, lambda pages, tenant, meeting_uuid: pages.lookup(tenant, meeting_uuid))


async def _read(
    request: web.Request, kind: str, read: Callable[[MeetingPages, str, str], Awaitable[T | NotReady | None]]
) -> tuple[PageDeps, T | web.Response]:
    deps = request.app[PAGE_DEPS]
    claim = claim_of(deps, request.match_info["token"])
    if claim is None:
        deps.metrics.pages.labels(kind, "forbidden").inc()
        return deps, forbidden()
    try:
        found = await read(deps.pages, claim.tenant, claim.meeting_uuid)
    except InfrastructureUnavailable as exc:
        deps.metrics.pages.labels(kind, "unavailable").inc()
        log.warning("meeting not read, server unavailable", extra={"error": type(exc).__name__})
        return deps, unavailable()
    except MalformedRecord as exc:
        deps.metrics.pages.labels(kind, "unreadable").inc()
        log.error("meeting documents unreadable", extra={"error": str(exc)[:300]})
        text = "This meeting's records cannot be read. Tell your administrator."
        return deps, _plain(500, "Meeting unreadable", text)
    if found is None:
        deps.metrics.pages.labels(kind, "not_found").inc()
        return deps, _plain(404, "Meeting not found", "This meeting is not (or no longer) in the archive.")
    if isinstance(found, NotReady):
        deps.metrics.pages.labels(kind, "not_ready").inc()
        if found.failed:
            failed = render.failed_page(found.topic or "Zoom meeting", found.where, found.reason)
            return deps, web.Response(text=failed, content_type="text/html")
        text = "This meeting is still being processed; reload this page in a few minutes."
        return deps, _plain(200, found.topic or "Zoom meeting", text)
    return deps, found


async def page(request: web.Request) -> web.Response:
    """The meeting page (200), a plain page while it is processed (200), unknown (404), refused (403)."""
    started = time.perf_counter()
    deps, found = await _lookup(request, "page")
    if isinstance(found, web.Response):
        return found
    settings = deps.settings
    rows = timeline.rows(
        found.speakers,
        (timeline.Said(m.speaker, m.start_seconds, m.end_seconds, m.channel) for m in found.insights.messages),
        found.duration_seconds,
    )
    audio = None
    stored = playable(deps, found)
    if stored is not None:
        token = request.match_info["token"]
        lifetime = timedelta(seconds=settings.audio_url_seconds)
        try:
            audio = deps.presign(stored, lifetime) if deps.presign else f"/m/{quote(token, safe='')}/audio"
        except ValueError as exc:  # minio refuses a key or bucket name it cannot sign: the page, without a player
            log.error("audio not signed", extra={"error": str(exc)[:200]})
    nonce = secrets.token_urlsafe(18)
    body = render.meeting_page(
        found, rows, token=request.match_info["token"], audio_url=audio, nonce=nonce, limit=settings.max_messages
    )
    response = web.Response(text=body, content_type="text/html")
    response.headers["Content-Security-Policy"] = page_csp(nonce, deps.media)
    elapsed = time.perf_counter() - started
    # The server's own time (read, compute, render), for the benchmark and the browser's dev tools.
    response.headers["Server-Timing"] = f"page;dur={elapsed * 1000:.1f}"
    deps.metrics.pages.labels("page", "ok").inc()
    deps.metrics.seconds.observe(elapsed)
    return response


async def download(request: web.Request) -> web.Response:
    """A transcript (``transcript.vtt``, ``.srt``, ``.txt``) or the insights (``insights.json``) as a file."""
    name = request.match_info["file"]
    if name not in _FILES:
        # Known token or not, an unknown file name says nothing about the token.
        return _plain(404, "Not found", "There is no such download.")
    deps, found = await _lookup(request, "download")
    if isinstance(found, web.Response):
        return found
    content_type, make = _FILES[name]
    response = web.Response(text=make(found), content_type=content_type, charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-{name}"'
    deps.metrics.pages.labels("download", "ok").inc()
    return response


def playable(deps: PageDeps, found: MeetingView | Playable) -> StoredObject | None:
    """The meeting's mixed audio when it is in our own bucket (the document names it; nothing else is read) at a key
    S3 can address: minio refuses a ``.`` or ``..`` segment (ValueError) before any request, so streaming it was a
    player whose every request failed."""
    stored = found.audio
    if stored is None or stored.bucket != deps.settings.infra.s3_bucket:
        return None
    try:
        check_object_name(stored.key)
    except ValueError:
        return None
    return stored


async def audio(request: web.Request) -> web.StreamResponse:
    """The meeting's mixed audio (200 whole, 206 for a ``Range``, 416 past its end), under the page's token.

    The object is opened before the status line goes out, so a missing object is a 404 and S3 down a 503;
    a body that ends short of what was announced (the stored size was wrong, S3 failed mid-way) closes the
    connection, so the browser sees it cut rather than waiting for bytes that never come.
    """
    deps, found = await _read(
        request, "audio", lambda pages, tenant, meeting_uuid: pages.audio_of(tenant, meeting_uuid)
    )
    if isinstance(found, web.Response):
        return found
    stored = playable(deps, found)
    if stored is None or deps.read_audio is None:
        return _plain(404, "Not found", "The meeting's audio is not available here.")
    size = stored.size
    # RFC 9110 13.1.5: with If-Range the Range applies only while the validator matches; this answer carries none
    # (a replay may write another file under the same key), so none matches and the whole file is sent: a client
    # resuming a download gets it whole rather than the end of another file spliced onto its start.
    asked = None if "If-Range" in request.headers else request.headers.get("Range")
    try:
        wanted = byte_range(asked, size)
    except RangeNotSatisfiable as exc:
        return web.Response(status=416, headers={"Content-Range": str(exc)})
    start, end = wanted if wanted is not None else (0, size - 1)
    response = web.StreamResponse(status=206 if wanted is not None else 200)
    response.content_type = content_type(stored.key)
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = max(0, end - start + 1)
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD" or size <= 0:
        await response.prepare(request)
        await response.write_eof()
        deps.metrics.pages.labels("audio", "ok").inc()
        return response
    chunks = deps.read_audio(stored, start, end)
    try:
        first = await anext(chunks, b"")
    except ObjectNotFound:
        deps.metrics.pages.labels("audio", "not_found").inc()
        return _plain(404, "Not found", "The meeting's audio is no longer in the archive.")
    except InfrastructureUnavailable:
        deps.metrics.pages.labels("audio", "unavailable").inc()
        return unavailable()
    except (ZoomsymblError, S3Error) as exc:
        deps.metrics.pages.labels("audio", "failed").inc()
        log.error("audio not read", extra={"error": scrub(f"{type(exc).__name__}: {exc}", 300)})
        return _plain(502, "Audio unavailable", "The meeting's audio cannot be read right now.")
    try:
        await response.prepare(request)
        sent = await _stream(response, first, chunks, response.content_length)
        if sent < response.content_length:
            # Fewer bytes than announced: end the connection, or the browser waits for the rest until it times out.
            response.force_close()
            deps.metrics.pages.labels("audio", "cut_short").inc()
            log.warning("audio cut short", extra={"sent": sent, "announced": response.content_length})
        else:
            deps.metrics.pages.labels("audio", "ok").inc()
        await response.write_eof()
    except ConnectionError:
        # The browser dropped the request (a seek past what it buffered, the tab closed): routine, nobody to answer.
        # Left to aiohttp, it was "Error handling request" at ERROR with a traceback, once per seek.
        await chunks.aclose()
        deps.metrics.pages.labels("audio", "aborted").inc()
        log.debug("audio request dropped by the client")
    return response


async def _stream(response: web.StreamResponse, first: bytes, rest: AsyncGenerator[bytes, None], announced: int) -> int:
    """Write ``first`` and then ``rest`` (never past ``announced`` bytes); how many bytes went out."""
    sent = 0
    chunk: bytes | None = first
    try:
        while chunk:
            chunk = chunk[: announced - sent]
            await response.write(chunk)
            sent += len(chunk)
            if sent >= announced:
                break
            chunk = await anext(rest, b"")
    except (ZoomsymblError, S3Error) as exc:
        log.warning("audio read failed mid-way", extra={"error": scrub(f"{type(exc).__name__}: {exc}", 300)})
    finally:
        await rest.aclose()
    return sent
