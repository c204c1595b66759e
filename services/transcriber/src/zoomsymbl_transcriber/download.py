"""The download of a job's mixed file, within a deadline its size sets.

Each read of the download has the S3 client's read timeout, but the download as a whole had none: a storage
endpoint answering a few bytes now and then (a degraded disk, a saturated link, a proxy trickling) held the
worker, renewing its lease, for as long as the bytes kept coming. Now the whole download must end within
:class:`DownloadDeadline`; past it the download is cancelled (its part file removed) and :class:`DownloadOverdue`
raised, a retryable error: the job is tried again within the retry budget, then failed with that reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.storage import ObjectStore


class DownloadOverdue(RetryableError):
    """The mixed file was not downloaded within its deadline (the storage endpoint too slow); the download stopped."""

    def __init__(self, size: int, seconds: float) -> None:
        super().__init__(f"the mixed file ({size:,} bytes) was not downloaded within its deadline of {seconds:.0f} s")
        self.size = size
        self.seconds = seconds


@dataclass(frozen=True)
class DownloadDeadline:
    """How long the mixed file's download may take: its size at ``min_bytes_per_second``, at least ``min_seconds``
    (connection set-up, a small file on a busy server)."""

    min_bytes_per_second: float = 1_000_000.0
    min_seconds: float = 300.0

    def seconds(self, size: int) -> float:
        """The deadline of a download of ``size`` bytes."""
        return max(self.min_seconds, size / self.min_bytes_per_second)


async def download(store: ObjectStore, key: str, path: str, size: int, deadline: DownloadDeadline) -> None:
    """``key`` (``size`` bytes, as read before) into ``path`` within ``deadline``, else :class:`DownloadOverdue`
    (nothing of it left on disk)."""
    seconds = deadline.seconds(size)
    window = asyncio.timeout(seconds)
    try:
        async with window:
            await store.get_file(key, path)
    except TimeoutError:
        if not window.expired():
            raise  # the client's own timeout, not the deadline
        raise DownloadOverdue(size, seconds) from None
