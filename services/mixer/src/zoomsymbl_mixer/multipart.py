"""S3 multipart uploads from a scratch file, a bounded number of parts at a time (:class:`MultipartUploads`, the base
of :class:`~zoomsymbl_mixer.upload.PartUploads`).

``ObjectStore.put_stream`` sends one part at a time from one thread, so the download step ran at the
S3 server's single-stream speed (5.5x curl's time for an 8 h track). Here each part is read back from
the scratch file (page cache) once the download has written past it, and up to ``parallel`` parts of
a loader's tracks are in flight at once, each in a thread of the loader's own pool. Memory: at most
``parallel`` parts in all, whatever the meeting's length or number of tracks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from minio.datatypes import Part
from minio.error import S3Error
from zoomsymbl_common.errors import StorageUnavailable, UploadAborted
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_errors import CLIENT_ERRORS, raise_translated

T = TypeVar("T")


class MultipartUploads:
    """The parallel part uploads of one loader (one meeting): a bounded pool of threads and part slots."""

    def __init__(self, objects: ObjectStore, *, part_bytes: int, parallel: int) -> None:
        self.objects = objects
        self.part_bytes = part_bytes
        self._slots = asyncio.Semaphore(parallel)
        # Threads of its own: a part upload must never wait for a default-pool thread that a
        # scratch-file write or a DNS lookup of the same meeting is holding (tests/reliability).
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="s3-part")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    async def _upload(self, key: str, lengths: AsyncIterator[int], path: Path, content_type: str) -> int:
        written, sent, number = 0, 0, 0
        upload_id: str | None = None
        parts: list[asyncio.Task[Part]] = []
        try:
            async for length in lengths:
                written += length
                while written - sent >= self.part_bytes:
                    if upload_id is None:
                        upload_id = await self._start(key, content_type)
                    number += 1
                    parts.append(await self._part(key, upload_id, path, sent, self.part_bytes, number))
                    sent += self.part_bytes
            if upload_id is None:  # smaller than one part: one PUT
                client, bucket = self.objects.client, self.objects.bucket
                await self._call(key, client.fput_object, bucket, key, str(path), content_type)
                return written
            if written > sent:
                number += 1
                parts.append(await self._part(key, upload_id, path, sent, written - sent, number))
            done = list(await asyncio.gather(*parts))
            client, bucket = self.objects.client, self.objects.bucket
            await self._call(key, client._complete_multipart_upload, bucket, key, upload_id, done)
            return written
        except BaseException:
            for task in parts:
                task.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            if upload_id is not None:
                await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _start(self, key: str, content_type: str) -> str:
        client = self.objects.client
        return await self._call(
            key, client._create_multipart_upload, self.objects.bucket, key, {"Content-Type": content_type}
        )

    async def _part(
        self, key: str, upload_id: str, path: Path, offset: int, size: int, number: int
    ) -> asyncio.Task[Part]:
        """Start part ``number`` once a slot is free; the task reads it from the file and sends it."""
        await self._slots.acquire()

        def send() -> Part:
            with path.open("rb") as handle:
                data = os.pread(handle.fileno(), size, offset)
            if len(data) != size:
                raise StorageUnavailable(f"scratch file shorter than part {number} ({len(data)} of {size} bytes)")
            etag = self.objects.client._upload_part(self.objects.bucket, key, data, None, upload_id, number)
            return Part(number, etag)

        async def run() -> Part:
            try:
                return await self._call(key, send)
            finally:
                self._slots.release()

        return asyncio.ensure_future(run())

    async def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: an abandoned upload costs storage, never correctness. One aborted already (UploadAborted: forget
        # aborted it) is what we wanted; raised here it would replace the error, or the cancellation, that ended it.
        with contextlib.suppress(StorageUnavailable, UploadAborted, S3Error):
            await self._call(key, self.objects.client._abort_multipart_upload, self.objects.bucket, key, upload_id)

    async def _call(self, key: str, fn: Callable[..., T], *args: object) -> T:
        """``fn`` in this pool; minio's and urllib3's errors about ``key`` translated as ``ObjectStore`` does."""
        return await self._call_in(self._pool, key, fn, *args)

    async def _call_in(self, pool: Executor, key: str, fn: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except CLIENT_ERRORS as exc:
            raise_translated(exc, self.objects.bucket, key)
