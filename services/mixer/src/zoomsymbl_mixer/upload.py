"""S3 uploads from scratch files: raw tracks while they download, the mix (:class:`PartUploads`).

A raw track whose size is known before it downloads (Zoom announces ``file_size``; the fetcher then
delivers exactly that many bytes or fails) goes up in **one streamed PUT** (issue 21): the
request starts with the download and its body is read from the scratch file as the download writes
it, in chunks each signed with SigV4's streaming signature (:mod:`zoomsymbl_common.s3_chunked`). The
server then writes every byte once; versitygw's posix backend, for one, copies a multipart upload's
parts into the object a second time when it completes (2.00 bytes written per byte against 1.00,
measured by ``bench/bench_download.py``). Above ``single_put_max`` (S3 takes 5 GiB in one PUT at most),
for a size Zoom did not announce, or with ``single_put_max`` 0, the file goes up in parts, a bounded
number at a time (:mod:`zoomsymbl_mixer.multipart`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlunsplit

import urllib3
from minio.error import S3Error, ServerError
from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.s3_chunked import MAX_SINGLE_PUT_BYTES, ChunkSigner, seed_signature, signed_headers
from zoomsymbl_common.storage import ObjectStore

from zoomsymbl_mixer.multipart import MultipartUploads

log = logging.getLogger("zoomsymbl.mixer.upload")
STREAM_CHUNK_BYTES = 1 << 20  # of a streamed PUT: one signature (and one file read) per MiB


class _Abandoned(StorageUnavailable):
    """The download behind a streamed PUT failed or ended short: the request is broken off, no object is made."""


class _Progress:
    """How far the download has written the scratch file, shared with the thread that sends it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._written = 0
        self._state = "open"

    def advance(self, written: int) -> None:
        with self._changed:
            self._written = written
            self._changed.notify_all()

    def end(self, *, failed: bool) -> None:
        with self._changed:
            self._state = "failed" if failed else "done"
            self._changed.notify_all()

    def wait_for(self, end: int) -> None:
        """Block until ``end`` bytes are written; :class:`_Abandoned` if the download failed or ended before."""
        with self._changed:
            self._changed.wait_for(lambda: self._written >= end or self._state != "open")
            if self._written < end or self._state == "failed":
                raise _Abandoned(f"the download stopped at {self._written} of {end} bytes")


class PartUploads(MultipartUploads):
    """The uploads of one loader (one meeting): streamed PUTs, each in a thread of their own, and the parallel part
    uploads (:class:`MultipartUploads`) of what does not go up in one."""

    def __init__(
        self,
        objects: ObjectStore,
        *,
        part_bytes: int,
        parallel: int,
        single_put_max: int = MAX_SINGLE_PUT_BYTES,
        streams: int = 4,
    ) -> None:
        super().__init__(objects, part_bytes=part_bytes, parallel=parallel)
        self.single_put_max = min(single_put_max, MAX_SINGLE_PUT_BYTES)
        # A streamed PUT holds its thread for the whole download: one per track loaded at once
        # (``streams``), never taken from the parts' pool.
        self._streams = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="s3-stream")

    def close(self) -> None:
        super().close()
        self._streams.shutdown(wait=False)

    async def upload(
        self, key: str, pieces: AsyncIterator[bytes], path: Path, *, content_type: str, size: int | None = None
    ) -> int:
        """Upload ``path`` as ``key`` while ``pieces`` (each already written to ``path``) arrive; the byte count.

        ``size``: the number of bytes ``pieces`` will bring, when known for sure beforehand; up to
        ``single_put_max`` they go up in one streamed PUT. Pieces that end short of it or run past it
        raise :class:`StorageUnavailable` and leave no object.
        """

        async def lengths() -> AsyncIterator[int]:
            async for piece in pieces:
                yield len(piece)

        if size is not None and size <= self.single_put_max:
            return await self._streamed(key, lengths(), path, size, content_type)
        return await self._upload(key, lengths(), path, content_type)

    async def upload_file(self, key: str, path: Path, *, content_type: str) -> int:
        """Upload the finished file ``path`` as ``key``; its size.

        Up to ``single_put_max`` in one streamed PUT (one MiB in memory; the server writes it once),
        larger ones ``parallel`` parts at a time. ``minio``'s ``fput_object`` holds its three parallel
        parts and the one it is reading (four 8 MiB parts, ~40 MiB of RSS measured for the mix of 8 h).
        """
        size = (await asyncio.to_thread(path.stat)).st_size

        async def whole() -> AsyncIterator[int]:
            yield size

        if size <= self.single_put_max:
            return await self._streamed(key, whole(), path, size, content_type)
        return await self._upload(key, whole(), path, content_type)

    async def _streamed(self, key: str, lengths: AsyncIterator[int], path: Path, size: int, content_type: str) -> int:
        """One PUT of ``size`` bytes, sent from ``path`` by a thread as ``lengths`` report them written.

        A PUT that fails (the server refused aws-chunked, or dropped a request the download kept idle
        longer than it waits) hands the file over to the parts: the bytes written so far are uploaded
        from the scratch file, the rest as it arrives, so the download never starts over for it.
        """
        progress = _Progress()
        sending = self._call_in(self._streams, key, self._put_streamed, key, path, size, content_type, progress)
        put = asyncio.ensure_future(sending)
        written = 0
        try:
            async for length in lengths:
                written += length
                _check_size(key, written, size)
                progress.advance(written)
                if put.done():  # failed before the end: the parts take over below
                    break
            else:
                _check_size(key, written, size, final=True)
                progress.end(failed=False)
                await asyncio.wait([put])
        except BaseException:
            progress.end(failed=True)
            # The thread breaks the request off at its next chunk; its outcome is no longer wanted.
            put.add_done_callback(_retrieved)
            raise
        failure = put.exception()
        if failure is None:
            return written
        log.warning("streamed upload failed, uploading in parts", extra={"key": key, "error": type(failure).__name__})
        return await self._upload(key, _so_far_then_the_rest(key, written, lengths, size), path, content_type)

    def _put_streamed(self, key: str, path: Path, size: int, content_type: str, progress: _Progress) -> None:
        """The streamed PUT itself (in a thread): raises minio's errors as its other calls do."""
        client, bucket = self.objects.client, self.objects.bucket
        credentials = client._provider.retrieve() if client._provider else None
        if credentials is None:
            raise StorageUnavailable("a streamed upload needs S3 credentials")
        region = client._get_region(bucket)
        url = client._base_url.build(method="PUT", region=region, bucket_name=bucket, object_name=key)
        date = datetime.now(UTC).replace(microsecond=0)
        headers = signed_headers(
            url,
            region=region,
            credentials=credentials,
            size=size,
            chunk=STREAM_CHUNK_BYTES,
            date=date,
            extra={"Content-Type": content_type, "User-Agent": client._user_agent},
        )
        signer = ChunkSigner(secret_key=credentials.secret_key, region=region, date=date, seed=seed_signature(headers))
        response = client._http.urlopen(
            "PUT",
            urlunsplit(url),
            body=_signed_chunks(path, size, progress, signer),
            headers=urllib3.HTTPHeaderDict(headers),
            chunked=False,
            retries=False,  # a body read as it is produced cannot be sent twice: the step is retried whole
            preload_content=True,
        )
        if response.status != 200:
            raise _s3_error(response)


async def _so_far_then_the_rest(key: str, written: int, lengths: AsyncIterator[int], size: int) -> AsyncIterator[int]:
    """The ``written`` bytes a failed streamed PUT leaves to the parts, then the rest as ``lengths`` report it."""
    total = written
    yield written
    async for length in lengths:
        total += length
        _check_size(key, total, size)
        yield length
    _check_size(key, total, size, final=True)


def _check_size(key: str, written: int, size: int, *, final: bool = False) -> None:
    """Refuse pieces that run past the announced ``size`` (or, once they end, fall short of it)."""
    if written > size or (final and written != size):
        raise StorageUnavailable(f"{written} bytes of the {size} announced for {key!r}")


def _signed_chunks(path: Path, size: int, progress: _Progress, signer: ChunkSigner) -> Iterator[bytes]:
    """The body of a streamed PUT: each chunk read from ``path`` once the download has written it, then signed."""
    handle: BinaryIO | None = None
    sent = 0
    try:
        while sent < size:
            end = min(sent + STREAM_CHUNK_BYTES, size)
            progress.wait_for(end)
            if handle is None:  # opened once the download has created it
                handle = path.open("rb")
            data = os.pread(handle.fileno(), end - sent, sent)
            if len(data) != end - sent:
                raise _Abandoned(f"scratch file shorter than its {end} bytes written")
            yield signer.header(data)
            yield data
            yield b"\r\n"
            sent = end
        yield signer.header(b"") + b"\r\n"
    finally:
        if handle is not None:
            handle.close()


def _s3_error(response: urllib3.BaseHTTPResponse) -> Exception:
    """What minio raises for this answer: its XML error as :class:`S3Error`, else a :class:`ServerError`."""
    if response.data and "xml" in response.headers.get("content-type", ""):
        with contextlib.suppress(ET.ParseError, UnicodeDecodeError):  # unreadable: the status below
            return S3Error.fromxml(response)
    return ServerError(f"server failed with HTTP status code {response.status}", response.status)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Marks an abandoned upload's outcome as seen (it failed or no longer matters)."""
    if not future.cancelled():
        future.exception()
