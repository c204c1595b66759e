"""The mixed file's channel count against its work order's, checked before any channel is transcribed.

The decoder takes channel N with ffmpeg's ``pan``, which makes silence of a channel the file lacks (no error), and
the worker transcribes the channels the work order names, no more: a file with fewer channels than its work order
would give silent speakers, one with more would lose speakers, a partial transcript reported completed either way.
The count is read by ffprobe with the decoder's own guard (local files in audio containers only, a minimal
environment), through ``run_tool`` (a timeout, killed when cancelled).
"""

from __future__ import annotations

from pathlib import Path

from zoomsymbl_common.media_tools import input_guard, run_tool
from zoomsymbl_whisper import TranscriberError
from zoomsymbl_whisper.decoder import AUDIO_DEMUXERS

PROBE_SECONDS = 120.0
"""Longest ffprobe may take to read the file's header; past it, a retryable ``ToolTimeout``."""


class ChannelMismatch(TranscriberError):
    """The mixed file's channel count is not its work order's: it is not transcribed (a permanent failure)."""

    def __init__(self, found: int, expected: int) -> None:
        super().__init__(
            f"the mixed file has {found!r} channels, its work order {expected!r}: "
            "a transcript would miss speakers or transcribe silence"
        )
        self.found = found
        self.expected = expected


def probe_args(path: Path) -> list[str]:
    """ffprobe arguments that print the channel count of ``path``'s first audio stream (the one the decoder reads)."""
    return [
        "ffprobe", "-hide_banner", "-v", "error", *input_guard(AUDIO_DEMUXERS.split(","), pipe=True),
        "-select_streams", "a:0", "-show_entries", "stream=channels", "-of", "csv=p=0", f"file:{path}",
    ]  # fmt: skip


async def file_channels(path: Path, *, timeout: float = PROBE_SECONDS) -> int | None:
    """The channel count of ``path``'s first audio stream; None when ffprobe finds none (not audio, damaged, refused):
    such a file is the decoder's to fail, with ffmpeg's own message."""
    result = await run_tool(probe_args(path), timeout=timeout, capture_stdout=True)
    if result.returncode != 0:
        return None
    first = result.stdout.strip().splitlines()[:1]
    try:
        count = int(first[0]) if first else 0
    except ValueError:
        return None
    return count if count > 0 else None


async def check_channels(path: Path, expected: int) -> None:
    """Raise :class:`ChannelMismatch` when ``path`` holds audio whose channel count is not ``expected``."""
    found = await file_channels(path)
    if found is not None and found != expected:
        raise ChannelMismatch(found, expected)
