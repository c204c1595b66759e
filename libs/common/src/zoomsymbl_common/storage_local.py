"""The local file side of a download: its failures are the caller's scratch directory's, not the S3 server's.

:func:`local_call` runs a call on the local file in a worker thread and raises :class:`LocalFileError` for its
``OSError`` (not translated as S3's, whose outage would be waited out); :func:`unlink_quietly` removes what a download
that ended early had begun.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable
from typing import Any, TypeVar

from zoomsymbl_common.errors import RetryableError

T = TypeVar("T")


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


async def local_call(path: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn`` (on the local file ``path``) in a worker thread; an ``OSError`` raises :class:`LocalFileError`."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        raise LocalFileError(path, exc) from exc


def unlink_quietly(path: str) -> None:
    """Remove the local file ``path``; nothing when it is already gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
