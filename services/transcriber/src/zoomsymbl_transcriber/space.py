"""Room for the job's audio on the scratch volume, checked before the mixed file is downloaded.

The mixed file is the only file the transcriber writes. Before, its download was not bounded: a file larger than
the volume ran an ``emptyDir`` past its ``sizeLimit`` (the pod evicted mid-download, the work order redelivered to
the next pod, evicted again until its attempts were spent) or filled the disk (an ``OSError`` retried, then the job
failed with a disk error). Now the object's size is read first: a file the volume can never hold fails its job at
once naming both sizes and the setting to raise; one that does not fit now (leftovers not swept yet, another job's
download on a shared volume) is retried later. With ``scratch_limit_bytes`` (the chart sets it to
``transcriber.scratch.size``) the volume counts as at most that large, as the mixer's check does.
"""

from __future__ import annotations

from pathlib import Path

from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.scratch import Volume, room
from zoomsymbl_whisper import TranscriberError

NOT_NOW_RETRY_SECONDS = 60.0


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 10**9 else f"{count / 1e6:.1f} MB"


class AudioTooLarge(TranscriberError):
    """The mixed file is larger than the whole scratch volume: it is never transcribed here (a permanent failure)."""

    def __init__(self, size: int, total: int) -> None:
        super().__init__(
            f"the mixed file is {_size(size)} and the scratch volume holds {_size(total)} in all: "
            "raise transcriber.scratch.size"
        )
        self.size = size
        self.total = total


def check_room(at: Path, size: int, limit: Volume | None) -> None:
    """Raise when the volume holding ``at`` cannot take a file of ``size`` bytes: :class:`AudioTooLarge` if it never
    can, :class:`RetryableError` if not now."""
    total, free = room(at, limit)
    if size > total:
        raise AudioTooLarge(size, total)
    if size > free:
        raise RetryableError(
            f"the mixed file is {_size(size)} and the scratch volume has {_size(free)} free now",
            retry_after=NOT_NOW_RETRY_SECONDS,
        )
