"""S3 object storage on the minio client (MinIO in production, any S3 API locally).

The minio client is blocking; each call runs in a worker thread. Streams cross the thread boundary
through a bounded queue, so an object of any size moves with a few parts in memory at most:
uploads of unknown length become multipart uploads of ``part_size`` parts.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Final, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from zoomsymbl_common.errors import ObjectNotFound, StorageUnavailable
from zoomsymbl_common.settings import InfraSettings

MIN_PART_SIZE: Final = 5 * 1024 * 1024
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
_EOF: Final = b""
T = TypeVar("T")


def meeting_key(meeting_uuid: str) -> str:
    """A reversible, collision-free, path-safe encoding of a Zoom meeting UUID (urlsafe base64)."""
    return base64.urlsafe_b64encode(meeting_uuid.encode("utf-8")).decode("ascii").rstrip("=")


def meeting_uuid_from_key(key: str) -> str:
    """The meeting UUID that :func:`meeting_key` encoded."""
    padded = key + "=" * (-len(key) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")


class _QueueReader(io.RawIOBase):
    """A blocking file-like object fed by an asyncio queue (used from minio's worker thread)."""

    def __init__(self, queue: asyncio.Queue[bytes | BaseException], loop: asyncio.AbstractEventLoop) -> None:
        self._queue = queue
        self._loop = loop
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # Hand out at most one queued chunk per call: minio loops until its part is full, and
        # never joining chunks here keeps the copies (and the RSS) to what minio itself holds.
        if not self._buffer and not self._done:
            item = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if isinstance(item, BaseException):
                raise item
            self._done = item == _EOF
            self._buffer = item
        want = size if size is not None and size >= 0 else len(self._buffer)
        if want >= len(self._buffer):
            chunk, self._buffer = self._buffer, b""
            return chunk
        chunk, self._buffer = self._buffer[:want], self._buffer[want:]
        return chunk


class ObjectStore:
    """Streaming put/get, stat, delete and presigned GET on one bucket."""

    def __init__(self, infra: InfraSettings, *, bucket: str | None = None, timeout: float = 30.0) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
            maxsize=16,
        )
        self.client = Minio(
            infra.s3_endpoint,
            access_key=infra.s3_access_key.get_secret_value(),
            secret_key=infra.s3_secret_key.get_secret_value(),
            secure=infra.s3_secure,
            region=infra.s3_region,
            http_client=http,
        )
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
        reader = _QueueReader(queue, loop)
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
                    await _put_unless_done(queue, chunk, upload)
            await _put_unless_done(queue, _EOF, upload)
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

    async def get_stream(self, key: str, *, chunk_size: int = 1 << 20, offset: int = 0) -> AsyncIterator[bytes]:
        """Yield the bytes of ``key`` (from ``offset``) in chunks of at most ``chunk_size``."""
        response: Any = await self._call(self.client.get_object, self.bucket, key, offset=offset)
        try:
            while True:
                chunk: bytes = await self._call(response.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def get_file(self, key: str, path: str) -> None:
        """Download ``key`` into a local file."""
        await self._call(self.client.fget_object, self.bucket, key, path)

    async def size(self, key: str) -> int:
        """The size of ``key`` in bytes; raises :class:`ObjectNotFound`."""
        stat = await self._call(self.client.stat_object, self.bucket, key)
        return int(stat.size or 0)

    async def exists(self, key: str) -> bool:
        """True when ``key`` exists."""
        try:
            await self.size(key)
        except ObjectNotFound:
            return False
        return True

    async def remove(self, key: str) -> None:
        """Delete ``key`` (no error when it is already gone)."""
        await self._call(self.client.remove_object, self.bucket, key)

    def presigned_get(self, key: str, *, expires: timedelta = timedelta(hours=6)) -> str:
        """A time-limited GET URL for ``key``: a secret, never to be logged."""
        url: str = self.client.presigned_get_object(self.bucket, key, expires=expires)
        from zoomsymbl_common.logs import register_secret

        register_secret(url)
        return url

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._call_in(None, fn, *args, **kwargs)

    async def _call_in(self, thread: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in ``thread`` (None: the default pool), with minio's and urllib3's errors translated."""
        try:
            if thread is None:
                return await asyncio.to_thread(fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(thread, functools.partial(fn, *args, **kwargs))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(self.bucket, str(args[1]) if len(args) > 1 else "?") from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def _put_unless_done(
    queue: asyncio.Queue[bytes | BaseException], item: bytes, upload: asyncio.Future[Any]
) -> None:
    """Put ``item`` on the queue, unless the upload already failed (then raise its error)."""
    put = asyncio.ensure_future(queue.put(item))
    done, _ = await asyncio.wait({put, upload}, return_when=asyncio.FIRST_COMPLETED)
    if put not in done:
        put.cancel()
        upload.result()
        raise StorageUnavailable("upload ended before all data was sent")
