"""S3 object storage on the minio client (MinIO in production, any S3 API locally).

The minio client is blocking; each call runs in a worker thread. Streams cross the thread boundary
through a bounded queue, so an object of any size moves with a few parts in memory at most:
uploads of unknown length become multipart uploads of ``part_size`` parts. The client and how it connects are made in
:mod:`zoomsymbl_common.storage_client`, the queue's two ends are in :mod:`zoomsymbl_common.storage_queue`, a
download's local file is written through :mod:`zoomsymbl_common.storage_local`, key segments are made in
:mod:`zoomsymbl_common.storage_keys` and S3's error answers read in :mod:`zoomsymbl_common.storage_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar

from minio.error import S3Error

from zoomsymbl_common.errors import ObjectNotFound
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage_client import s3_client, tls_context
from zoomsymbl_common.storage_errors import CLIENT_ERRORS, raise_translated
from zoomsymbl_common.storage_local import LocalFileError, local_call, unlink_quietly
from zoomsymbl_common.storage_queue import EOF, QueueReader, put_unless_done

# Re-exported: where callers and tests have always found them.
__all__ = ["DEFAULT_PART_SIZE", "MIN_PART_SIZE", "LocalFileError", "ObjectStat", "ObjectStore", "tls_context"]

MIN_PART_SIZE: Final = 5 * 1024 * 1024
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectStat:
    """What S3 says of one object: its size in bytes and its ETag (without quotes; changes with its bytes)."""

    size: int
    etag: str


class ObjectStore:
    """Streaming put/get, stat, delete and presigned GET on one bucket."""

    def __init__(self, infra: InfraSettings, *, bucket: str | None = None, timeout: float = 30.0) -> None:
        self.client = s3_client(infra, timeout=timeout)
        self.bucket = bucket or infra.s3_bucket

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the server lists buckets."""
        await self._call(self.client.list_buckets)

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist."""
        if not await self._call(self.client.bucket_exists, self.bucket):
            try:
                await self._call(self.client.make_bucket, self.bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
        part_size: int = DEFAULT_PART_SIZE,
    ) -> int:
        """Upload ``chunks`` as ``key`` (multipart, bounded memory); returns the byte count."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(maxsize=2)
        reader = QueueReader(queue, loop)
        # A thread of its own, not one of the default pool's: the upload blocks its thread until the
        # last chunk arrives, and producing chunks may need the default pool (file writes, DNS), so
        # enough parallel uploads on borrowed threads would wait for each other forever.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-upload")
        upload = asyncio.ensure_future(
            self._call_in(
                thread,
                self.client.put_object,
                self.bucket,
                key,
                reader,
                -1,
                content_type=content_type,
                part_size=max(part_size, MIN_PART_SIZE),
                num_parallel_uploads=1,
            )
        )
        total = 0
        try:
            async for chunk in chunks:
                if chunk:
                    total += len(chunk)
                    await put_unless_done(queue, chunk, upload)
            await put_unless_done(queue, EOF, upload)
        except BaseException as exc:
            if not upload.done():
                await queue.put(exc if isinstance(exc, Exception) else RuntimeError("upload cancelled"))
            await asyncio.gather(upload, return_exceptions=True)
            raise
        finally:
            thread.shutdown(wait=False)
        await upload
        return total

    async def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> int:
        """Upload a local file as ``key``; returns its size."""
        result = await self._call(
            self.client.fput_object,
            self.bucket,
            key,
            path,
            content_type=content_type,
            part_size=DEFAULT_PART_SIZE,
        )
        stat = await self._call(self.client.stat_object, self.bucket, result.object_name)
        return int(stat.size or 0)

    async def get_stream(
        self,
        key: str,
        *,
        chunk_size: int = 1 << 20,
        offset: int = 0,
        length: int = 0,
        bucket: str | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of ``key`` (from ``offset``, ``length`` of them; 0 = to the end) in chunks of at most
        ``chunk_size``, from this store's bucket or ``bucket``."""
        response: Any = await self._call(
            self.client.get_object, bucket or self.bucket, key, offset=offset, length=length
        )
        try:
            while True:
                chunk: bytes = await self._call(response.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            # Cut short (a cancellation, a deadline) while a read runs in its thread: close() waits for that read, on
            # the event loop, for as long as the server keeps sending (a trickle: for ever). Shut down, it returns.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()
            response.close()
            response.release_conn()

    async def get_file(self, key: str, path: str, *, chunk_size: int = 1 << 20) -> None:
        """Download ``key`` into the local file ``path``; however the download ends early (an error, a cancellation),
        nothing of it is left on disk.

        Written chunk by chunk from this task, not by minio's ``fget_object`` in one thread: that one left
        ``<path>.<etag>.part.minio`` behind when the connection dropped, and, its caller cancelled (a SIGTERM), its
        thread went on to finish the download and rename it into place after the caller had cleaned up: a whole
        mixed file in the transcriber's scratch directory that nothing would ever delete.

        The local file that cannot be opened or written (a full disk, no permission on the scratch directory) raises
        :class:`LocalFileError`, the caller's own failure: not S3's, whose outage would be waited out.
        """
        handle = await local_call(path, open, path, "wb")
        try:
            async for chunk in self.get_stream(key, chunk_size=chunk_size):
                await local_call(path, handle.write, chunk)
            await local_call(path, handle.close)
        except BaseException:
            with contextlib.suppress(OSError):  # the disk that failed a write fails the flush of the rest too
                handle.close()
            unlink_quietly(path)  # at once: a second cancellation must not skip it
            raise

    async def size(self, key: str) -> int:
        """The size of ``key`` in bytes; raises :class:`ObjectNotFound`."""
        return (await self.stat(key)).size

    async def stat(self, key: str) -> ObjectStat:
        """The size and ETag of ``key``; raises :class:`ObjectNotFound`."""
        stat = await self._call(self.client.stat_object, self.bucket, key)
        return ObjectStat(size=int(stat.size or 0), etag=str(stat.etag or "").strip('"'))

    async def exists(self, key: str) -> bool:
        """True when ``key`` exists."""
        try:
            await self.size(key)
        except ObjectNotFound:
            return False
        return True

    async def keys(self, prefix: str) -> list[str]:
        """The keys of the objects under ``prefix`` (current ones: not a versioned bucket's older versions)."""

        def names() -> list[str]:
            found = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return [item.object_name for item in found if item.object_name]

        return await self._call(names)

    async def remove(self, key: str, *, version_id: str | None = None) -> None:
        """Delete ``key`` (no error when it is already gone); with ``version_id``, that version of it for good."""
        await self._call(self.client.remove_object, self.bucket, key, version_id=version_id)

    def presigned_get(self, key: str, *, expires: timedelta = timedelta(hours=6)) -> str:
        """A time-limited GET URL for ``key``: a secret, never to be logged."""
        url: str = self.client.presigned_get_object(self.bucket, key, expires=expires)
        from zoomsymbl_common.logs import register_secret

        register_secret(url, ttl=expires)
        return url

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._call_in(None, fn, *args, **kwargs)

    async def _call_in(self, thread: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in ``thread`` (None: the default pool), with minio's and urllib3's errors translated."""
        try:
            if thread is None:
                return await asyncio.to_thread(fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(thread, functools.partial(fn, *args, **kwargs))
        except CLIENT_ERRORS as exc:
            raise_translated(exc, self.bucket, str(args[1]) if len(args) > 1 else "?")
