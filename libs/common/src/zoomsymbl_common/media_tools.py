"""What ffmpeg and ffprobe may open, and the environment they run in.

Their inputs are bytes someone else chose (a Zoom download, an object an event names). Left to
itself ffmpeg takes whatever container the bytes claim to be: an HLS or DASH manifest or an
``ffconcat`` list that points at ``file:`` paths (or, with a laxer build, URLs) makes it read files
and hosts nobody asked for. So every input is opened with the ``file`` protocol only and one of
the audio demuxers below (``-format_whitelist``, an input option of Debian's ffmpeg 5.1), and the
tools run with a minimal environment: the service's own (MongoDB URI, S3 secret key) is not
theirs to read or to leak into a crash report.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Final

DOWNLOADED_AUDIO: Final = ("mov", "mp3", "aac", "wav", "flac", "ogg", "matroska")
"""Demuxers of what Zoom delivers (M4A/MP4 are ``mov``; MP3; WAV; AAC; OGG/Opus; WebM is ``matroska``)."""
MIXED_AUDIO: Final = ("flac", "wav", "ogg", "mov")
"""Demuxers of what the mixer writes (FLAC, RF64-capable WAV, Opus in Ogg; M4A passed through)."""
_REFUSED_FORMAT: Final = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist")


def input_guard(demuxers: Sequence[str], *, pipe: bool = False) -> list[str]:
    """Options to put before an ``-i`` (or anywhere in ffprobe): local files only, these demuxers only."""
    return ["-protocol_whitelist", "file,pipe" if pipe else "file", "-format_whitelist", ",".join(demuxers)]


def tool_env() -> dict[str, str]:
    """The whole environment of an ffmpeg/ffprobe process: where the binaries are, and a plain locale."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def refusal(lines: Iterable[str]) -> str | None:
    """What the guard refused, from a tool's stderr lines (a manifest or playlist is not audio), else None."""
    for line in lines:
        if (found := _REFUSED_FORMAT.search(line)) is not None:
            return f"its bytes are {found[1]!r}, not an audio container (refused)"
    return None
