"""Scratch space: is there room for a meeting's tracks and its mix before the work starts?

A mixer that runs out of disk half-way is evicted by the kubelet and the message is redelivered to the
next pod, which runs out again. So the space is estimated first: every input at its announced size (or a
generous bound when Zoom gave none) plus the larger of the output at its worst case (16-bit PCM at 48 kHz:
WAV, and FLAC's bound; Opus is far smaller) and the ADTS copies of the tracks being loaded at once (each
MP4 and its copy are both on disk until the copy is probed; the mix only starts when every copy is done).
More than the volume holds at all fails the meeting with the reason;
more than is free now (other meetings are in flight) is retried later. Once the tracks are probed and the
mix planned, a mix longer than Zoom's times said (or without them) is checked again at its planned length.
The meetings a process mixes at once (``concurrent_meetings``) claim their space (:class:`SpaceClaims`): what
another one checked for and has not written yet is not free.

An ``emptyDir`` volume (the chart's default scratch) is a folder on the node's disk: the file system reports the
node's size and free space, while Kubernetes evicts the pod once the folder holds more than its ``sizeLimit``. With
``scratch_limit_bytes`` (the chart sets it to ``mixer.scratch.size``) the volume counts as at most that large, and
what the scratch folder already holds as taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.scratch import Volume, room, written

from zoomsymbl_mixer.bounds import zoom_span
from zoomsymbl_mixer.ffmpeg import FLAC_OVERHEAD, pcm_bytes

UNANNOUNCED_TRACK_BYTES_PER_SECOND = 16_000  # 128 kbit/s, above Zoom's audio tracks
WORST_RATE = 48_000
ADTS_OVERHEAD = 1.05


@dataclass(frozen=True)
class SpaceNeeded:
    """Bytes the inputs and the output of one mix take, at most."""

    inputs: int
    output: int
    copies: int = 0

    @property
    def total(self) -> int:
        return self.inputs + max(self.output, self.copies)


def span_seconds(files: Sequence[RecordingFile]) -> float:
    """The meeting time the files cover (first start to last end), 0 when Zoom gave no times."""
    return zoom_span(files) or 0.0


def space_needed(files: Sequence[RecordingFile], max_channels: int, *, loaded_at_once: int = 4) -> SpaceNeeded:
    """The worst case for mixing ``files`` into at most ``max_channels`` channels, ``loaded_at_once`` loaded at once."""
    seconds = span_seconds(files)
    sizes = sorted(
        (f.file_size if f.file_size is not None else int(seconds * UNANNOUNCED_TRACK_BYTES_PER_SECOND) for f in files),
        reverse=True,
    )
    channels = max(1, min(len(files), max_channels))
    output = int(pcm_bytes(channels, seconds, WORST_RATE) * FLAC_OVERHEAD)
    # An ADTS copy adds 7 bytes per AAC frame of 100-400 bytes: within 5 % of its MP4.
    copies = int(sum(sizes[: max(1, loaded_at_once)]) * ADTS_OVERHEAD)
    return SpaceNeeded(sum(sizes), output, copies)


def output_needed(channels: int, seconds: float) -> SpaceNeeded:
    """The worst case of the mix alone, once the tracks are on disk (the volume's free space counts them)."""
    return SpaceNeeded(0, int(pcm_bytes(max(1, channels), seconds, WORST_RATE) * FLAC_OVERHEAD))


def check_space(scratch: Path, needed: SpaceNeeded, *, held: int = 0, limit: Volume | None = None) -> None:
    """Raise when the scratch volume cannot hold ``needed``: poison if it never can, retryable if not now.

    ``held``: bytes of the free space other meetings in progress claimed and have not written yet. ``limit``: the
    volume's size when the file system reports more (an ``emptyDir``), and what its folder holds already.
    """
    total, free_bytes = room(scratch, limit)
    what = f"{needed.total / 1e9:.2f} GB ({needed.inputs / 1e9:.2f} GB tracks + {needed.output / 1e9:.2f} GB mix)"
    if needed.total > total:
        raise PoisonInputError(
            f"the meeting needs {what} of scratch space; the volume holds {total / 1e9:.2f} GB in all",
            stage="space",
        )
    if needed.total > free_bytes - held:
        free = f"{free_bytes / 1e9:.2f} GB free now"
        if held:
            free += f", {held / 1e9:.2f} GB of it claimed by meetings in progress"
        raise RetryableError(f"the meeting needs {what} of scratch space; {free}", retry_after=60.0)


class SpaceClaims:
    """The space each meeting in progress in this process checked for: not free for the next meeting's check.

    The volume's free bytes are what is written now; a meeting that passed its check a moment ago has written
    little yet, so two meetings at once each saw the volume empty and together ran it full mid-download or
    mid-merge. A claim lasts until the meeting's folder is released and counts only what is not written yet.
    """

    def __init__(self, limit: Volume | None = None) -> None:
        self._claims: dict[Path, int] = {}
        self._limit = limit

    def held(self, scratch: Path) -> int:
        """Bytes the other meetings claimed and have not written yet."""
        return sum(max(0, claim - written(path)) for path, claim in self._claims.items() if path != scratch)

    def check(self, scratch: Path, needed: SpaceNeeded) -> None:
        """:func:`check_space` against what the other meetings left; on success ``needed`` is claimed too."""
        check_space(scratch, needed, held=self.held(scratch), limit=self._limit)
        self._claims[scratch] = max(self._claims.get(scratch, 0), written(scratch) + needed.total)

    def release(self, scratch: Path) -> None:
        """The meeting of ``scratch`` ended: its claim is gone with its folder."""
        self._claims.pop(scratch, None)
