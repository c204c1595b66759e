"""The meeting page's player: which stored audio it may play, and ``GET /m/{token}/audio`` streaming it.

The byte ranges and the S3 reader are :mod:`zoomsymbl_web.audio`'s; here the answer is built around them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator

from aiohttp import web
from minio.error import MinioException
from minio.helpers import check_object_name
from zoomsymbl_common.errors import InfrastructureUnavailable, ObjectNotFound, ZoomsymblError
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.records import StoredObject

from zoomsymbl_web.audio import RangeNotSatisfiable, StoredSizeWrong, byte_range, content_type
from zoomsymbl_web.lookup import plain, read_claimed, unavailable
from zoomsymbl_web.meeting import MeetingView, Playable
from zoomsymbl_web.page_deps import PageDeps

log = logging.getLogger("zoomsymbl.web.routes")
_WARNED_MAX = 1024
# Objects whose stored size was found wrong, oldest first: a player asks again on every seek, one line says it.
_warned: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()


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
    connection, so the browser sees it cut rather than waiting for bytes that never come; a range past the real end
    of an object shorter than its stored size is S3's 416 with the real size, said once at WARNING.
    """
    deps, found = await read_claimed(
        request, "audio", lambda pages, tenant, meeting_uuid: pages.audio_of(tenant, meeting_uuid)
    )
    if isinstance(found, web.Response):
        return found
    stored = playable(deps, found)
    if stored is None or deps.read_audio is None:
        return plain(404, "Not found", "The meeting's audio is not available here.")
    try:
        response, start, end = _ranged_response(request, stored)
    except RangeNotSatisfiable as exc:
        return web.Response(status=416, headers={"Content-Range": str(exc)})
    if request.method == "HEAD" or stored.size <= 0:
        await response.prepare(request)
        await response.write_eof()
        deps.metrics.pages.labels("audio", "ok").inc()
        return response
    chunks = deps.read_audio(stored, start, end)
    first = await _first_chunk(deps, stored, chunks)
    if isinstance(first, web.Response):
        return first
    await _send(request, response, deps, first, chunks)
    return response


def _ranged_response(request: web.Request, stored: StoredObject) -> tuple[web.StreamResponse, int, int]:
    """The answer's status and headers for the request's ``Range``, and the first and last byte it covers."""
    size = stored.size
    # RFC 9110 13.1.5: with If-Range the Range applies only while the validator matches; this answer carries none
    # (a replay may write another file under the same key), so none matches and the whole file is sent: a client
    # resuming a download gets it whole rather than the end of another file spliced onto its start.
    asked = None if "If-Range" in request.headers else request.headers.get("Range")
    wanted = byte_range(asked, size)
    start, end = wanted if wanted is not None else (0, size - 1)
    response = web.StreamResponse(status=206 if wanted is not None else 200)
    response.content_type = content_type(stored.key)
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = max(0, end - start + 1)
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response, start, end


async def _first_chunk(
    deps: PageDeps, stored: StoredObject, chunks: AsyncGenerator[bytes, None]
) -> bytes | web.Response:
    """The object's first bytes, or the answer in their place while no status line has gone out yet."""
    try:
        return await anext(chunks, b"")
    except StoredSizeWrong as exc:
        # S3's 416, with the real size: the player learns where the file ends and asks within it.
        deps.metrics.pages.labels("audio", "stored_size_wrong").inc()
        _warn_once(stored, exc.size)
        return web.Response(status=416, headers={"Content-Range": str(exc)})
    except ObjectNotFound:
        deps.metrics.pages.labels("audio", "not_found").inc()
        return plain(404, "Not found", "The meeting's audio is no longer in the archive.")
    except InfrastructureUnavailable:
        deps.metrics.pages.labels("audio", "unavailable").inc()
        return unavailable()
    except (ZoomsymblError, MinioException) as exc:
        # MinioException: also what our storage does not translate, an answer without S3's XML (a proxy's error page:
        # InvalidResponseError) or a 4xx ServerError; left to aiohttp, a bare 500 with a traceback per request.
        deps.metrics.pages.labels("audio", "failed").inc()
        log.error("audio not read", extra={"error": scrub(f"{type(exc).__name__}: {exc}", 300)})
        return plain(502, "Audio unavailable", "The meeting's audio cannot be read right now.")


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    deps: PageDeps,
    first: bytes,
    chunks: AsyncGenerator[bytes, None],
) -> None:
    """The status line, then the bytes; a body cut short closes the connection."""
    try:
        await response.prepare(request)
        announced = response.content_length
        assert announced is not None  # _ranged_response set it
        sent = await _stream(response, first, chunks, announced)
        if sent < announced:
            # Fewer bytes than announced: end the connection, or the browser waits for the rest until it times out.
            response.force_close()
            deps.metrics.pages.labels("audio", "cut_short").inc()
            log.warning("audio cut short", extra={"sent": sent, "announced": announced})
        else:
            deps.metrics.pages.labels("audio", "ok").inc()
        await response.write_eof()
    except ConnectionError:
        # The browser dropped the request (a seek past what it buffered, the tab closed): routine, nobody to answer.
        # Left to aiohttp, it was "Error handling request" at ERROR with a traceback, once per seek.
        await chunks.aclose()
        deps.metrics.pages.labels("audio", "aborted").inc()
        log.debug("audio request dropped by the client")


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
    except (ZoomsymblError, MinioException) as exc:
        log.warning("audio read failed mid-way", extra={"error": scrub(f"{type(exc).__name__}: {exc}", 300)})
    finally:
        await rest.aclose()
    return sent


def _warn_once(stored: StoredObject, real: int) -> None:
    """One WARNING per object and pair of sizes (among the last :data:`_WARNED_MAX` warned of) that the meeting
    document records more bytes than S3 holds: a wrong record, not an outage, and not one line per seek."""
    seen = (stored.bucket, stored.key, stored.size, real)
    if seen in _warned:
        return
    _warned[seen] = None
    if len(_warned) > _WARNED_MAX:
        _warned.popitem(last=False)
    log.warning("stored audio size larger than the object", extra={"stored_size": stored.size, "size": real})
