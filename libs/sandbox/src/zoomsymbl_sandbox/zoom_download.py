"""SANDBOX: Zoom's recording downloads — Bearer auth, byte ranges, redirects and broken transfers."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from aiohttp import web

from zoomsymbl_sandbox.zoom_faults import DownloadRecord
from zoomsymbl_sandbox.zoom_http import unauthorized, zoom_error
from zoomsymbl_sandbox.zoom_recordings import StoredFile
from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX, ZoomSandbox
from zoomsymbl_sandbox.zoom_tokens import bearer_token

DownloadAuth = Literal["oauth", "download_token", "invalid", "expired"]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(ValueError):
    """The requested byte range lies outside the file."""


@dataclass(frozen=True)
class ByteRange:
    """Inclusive byte positions, as in `Content-Range`."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes the range covers."""
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a `Range` header asks for; None means the whole file.

    Malformed or multi-range headers are ignored (the whole file is served), as RFC 9110 allows.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix range: the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(f"range {header!r} outside a file of {size} bytes")
    return ByteRange(start, end)


def _authorize(sandbox: ZoomSandbox, request: web.Request, stored: StoredFile | None) -> DownloadAuth:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return "invalid"
    access = sandbox.tokens.check_access(token)
    if access == "valid":
        return "oauth"
    download = sandbox.tokens.check_download(token, stored.meeting_uuid) if stored else "invalid"
    if download == "valid":
        return "download_token"
    return "expired" if "expired" in (access, download) else "invalid"


def _redirect_location(sandbox: ZoomSandbox, request: web.Request, file_id: str) -> str | None:
    fault = sandbox.faults.take("download", frozenset({"redirect"}), file_id)
    target = fault.target if fault is not None else sandbox.config.download_redirect
    if target == "none":
        return None
    base = sandbox.config.offsite_base_url if target == "offsite" else sandbox.base_url_for(request)
    return f"{base.rstrip('/')}/dl/{file_id}?{sandbox.cdn_query(file_id)}"


async def download_handler(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /rec/download/{file_id}: the token only counts in the Authorization header."""
    sandbox = request.app[ZOOM_SANDBOX]
    file_id = request.match_info["file_id"]
    if "access_token" in request.query:
        # Zoom refuses tokens in URLs: they leak into proxy and server logs.
        return unauthorized("invalid")
    stored = sandbox.files.get(file_id)
    auth = _authorize(sandbox, request, stored)
    if auth == "invalid" or auth == "expired":
        return unauthorized(auth)
    if stored is None:
        return zoom_error(404, 3301, "This recording does not exist.")
    location = _redirect_location(sandbox, request, file_id)
    if location is not None:
        return web.Response(status=302, headers={"Location": location})
    return await serve_file(request, sandbox, stored, auth)


async def cdn_download_handler(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /dl/{file_id}: where downloads redirect to; authorised by the signed query alone."""
    sandbox = request.app[ZOOM_SANDBOX]
    file_id = request.match_info["file_id"]
    stored = sandbox.files.get(file_id)
    query = request.query
    if stored is None or not sandbox.cdn_query_valid(file_id, query.get("expires", ""), query.get("signature", "")):
        return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
    return await serve_file(request, sandbox, stored, "signed_url")


def _open(path: Path) -> BinaryIO:
    return path.open("rb")


async def serve_file(request: web.Request, sandbox: ZoomSandbox, stored: StoredFile, auth: str) -> web.StreamResponse:
    """Send the file (or the asked-for range), honouring a pending truncation fault."""
    try:
        wanted = parse_range(request.headers.get("Range"), stored.size)
    except RangeNotSatisfiable:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{stored.size}"})
    span = wanted or ByteRange(0, stored.size - 1)
    response = web.StreamResponse(status=206 if wanted else 200)
    response.content_type = stored.content_type
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Disposition"] = f'attachment; filename="{stored.file_id}.{stored.extension}"'
    if wanted:
        response.headers["Content-Range"] = f"bytes {span.start}-{span.end}/{stored.size}"
    response.content_length = span.length
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    fault = sandbox.faults.take("download", frozenset({"truncate"}), stored.file_id)
    limit = fault.after_bytes if fault is not None else None
    with sandbox.stats.downloading():
        sent = await _stream(request, response, sandbox, stored.path, span, limit)
    truncated = limit is not None and sent < span.length
    sandbox.stats.record_download(
        DownloadRecord(stored.file_id, response.status, span.start, span.end if wanted else None, sent, auth, truncated)
    )
    if not truncated:
        await response.write_eof()
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    sandbox: ZoomSandbox,
    path: Path,
    span: ByteRange,
    limit: int | None,
) -> int:
    handle = await asyncio.to_thread(_open, path)
    sent = 0
    try:
        handle.seek(span.start)
        while sent < span.length:
            want = min(sandbox.config.chunk_size, span.length - sent)
            if limit is not None:
                want = min(want, limit - sent)
            chunk = await asyncio.to_thread(handle.read, want) if want > 0 else b""
            if not chunk:
                break
            if sandbox.config.chunk_delay_s:
                await asyncio.sleep(sandbox.config.chunk_delay_s)
            await response.write(chunk)
            sent += len(chunk)
        if limit is not None and sent < span.length and request.transport is not None:
            # Closing mid-body leaves the client short of Content-Length: a broken transfer.
            request.transport.close()
    finally:
        handle.close()
    return sent
