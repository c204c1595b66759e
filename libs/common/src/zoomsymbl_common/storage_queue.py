"""The hand-over of a streamed upload's bytes from the event loop to minio's worker thread.

The producer puts chunks on a bounded asyncio queue (:func:`put_unless_done`, which stops when the upload already
failed); minio reads them in its thread through :class:`QueueReader`, a blocking file-like object. :data:`EOF` ends
the stream; an exception put on the queue is raised in the reading thread, failing the upload with it.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any, Final

from zoomsymbl_common.errors import StorageUnavailable

EOF: Final = b""


class QueueReader(io.RawIOBase):
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
            self._done = item == EOF
            self._buffer = item
        want = size if size is not None and size >= 0 else len(self._buffer)
        if want >= len(self._buffer):
            chunk, self._buffer = self._buffer, b""
            return chunk
        chunk, self._buffer = self._buffer[:want], self._buffer[want:]
        return chunk


async def put_unless_done(
    queue: asyncio.Queue[bytes | BaseException], item: bytes, upload: asyncio.Future[Any]
) -> None:
    """Put ``item`` on the queue, unless the upload already failed (then raise its error)."""
    put = asyncio.ensure_future(queue.put(item))
    done, _ = await asyncio.wait({put, upload}, return_when=asyncio.FIRST_COMPLETED)
    if put not in done:
        put.cancel()
        upload.result()
        raise StorageUnavailable("upload ended before all data was sent")
