"""S3 object storage on the minio client (MinIO in production, any S3 API locally).

The minio client is blocking; each call runs in a worker thread. Streams cross the thread boundary
through a bounded queue, so an object of any size moves with a few parts in memory at most:
uploads of unknown length become multipart uploads of ``part_size`` parts. Key segments are made in
:mod:`zoomsymbl_common.storage_keys` and S3's error answers read in :mod:`zoomsymbl_common.storage_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import io
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from zoomsymbl_common.errors import ObjectNotFound, RetryableError, StorageUnavailable
from zoomsymbl_common.settings import InfraSettings, file_setting_error
from zoomsymbl_common.storage_errors import CLIENT_ERRORS, error_in_answer, raise_translated, throttled

MIN_PART_SIZE: Final = 5 * 1024 * 1024
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
_EOF: Final = b""
T = TypeVar("T")


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


def tls_context(infra: InfraSettings) -> ssl.SSLContext | None:
    """The TLS context of S3 over HTTPS (None without ``s3_secure``); an unusable CA file raises :class:`ConfigError`.

    The server's certificate and host name are always verified: against ``ZOOMSYMBL_S3_CA_FILE`` alone
    when it is set (a private CA, e.g. an in-cluster MinIO or Ceph), else against the system CAs.
    """
    if not infra.s3_secure:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=infra.s3_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise file_setting_error({"s3_ca_file": infra.s3_ca_file}, exc) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _S3Pool(urllib3.PoolManager):
    """urllib3's pool, except that a 429 raises :class:`~zoomsymbl_common.storage_errors.StorageThrottled` with its
    ``Retry-After``: minio keeps no header of an error answer, and one that is not S3's XML (a proxy's) it raises
    as an ``InvalidResponseError`` of no class of ours."""

    def urlopen(  # type: ignore[override]  # as urllib3's own PoolManager.urlopen
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        error = throttled(response)
        if error is not None:
            response.drain_conn()
            response.release_conn()
            raise error
        return response


class _Minio(Minio):
    """minio's client, except that a CompleteMultipartUpload answered 200 with an error document raises that error
    (:func:`~zoomsymbl_common.storage_errors.error_in_answer`) instead of returning it as the completed upload.

    Every multipart completion goes through here: ``put_object``'s, ``fput_object``'s and the mixer's own.
    """

    def _execute(self, method: str, *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        response = super()._execute(method, *args, **kwargs)
        if method == "POST" and "uploadId" in (kwargs.get("query_params") or {}):
            error = error_in_answer(response)
            if error is not None:
                raise error
        return response


@dataclass(frozen=True)
class ObjectStat:
    """What S3 says of one object: its size in bytes and its ETag (without quotes; changes with its bytes)."""

    size: int
    etag: str


class ObjectStore:
    """Streaming put/get, stat, delete and presigned GET on one bucket."""

    def __init__(self, infra: InfraSettings, *, bucket: str | None = None, timeout: float = 30.0) -> None:
        http = _S3Pool(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            # Not urllib3's Retry-After: it slept it (up to 6 h, twice) in the worker thread, which no deadline or
            # cancellation stops; a 429 is raised at once (_S3Pool) with it, for the caller to wait.
            retries=urllib3.Retry(
                total=2,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
                respect_retry_after_header=False,
            ),
            maxsize=16,
            ssl_context=tls_context(infra),
        )
        self.client = _Minio(
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
        handle = await _local(path, open, path, "wb")
        try:
            async for chunk in self.get_stream(key, chunk_size=chunk_size):
                await _local(path, handle.write, chunk)
            await _local(path, handle.close)
        except BaseException:
            with contextlib.suppress(OSError):  # the disk that failed a write fails the flush of the rest too
                handle.close()
            _unlink_quietly(path)  # at once: a second cancellation must not skip it
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


class LocalFileError(RetryableError):
    """A local file of a download could not be opened or written (a full disk, no permission): the caller's scratch
    directory, not the S3 server. Retried within the attempt budget (space may be freed), then given up naming it."""

    def __init__(self, path: str, error: OSError) -> None:
        what = errno.errorcode.get(error.errno or 0, type(error).__name__)
        super().__init__(
            f"cannot write the local file {path!r}: {error.strerror or error} ({what}): check the free space and the"
            " permissions of its directory (the service's scratch volume)"
        )
        self.path = path
        self.errno = error.errno


async def _local(path: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn`` (on the local file ``path``) in a worker thread; an ``OSError`` raises :class:`LocalFileError`."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        raise LocalFileError(path, exc) from exc


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


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
