"""ffprobe: what a downloaded file holds, asked by argument lists built by pure functions and read from its JSON.

A file is audio when ffprobe decodes the first frames of its first audio stream (:func:`probe_args`), not when its
header says so. An MP4's AAC may start with encoder priming that its edit list hides (:func:`priming_args`): the
samples to skip when the AAC is copied out of the MP4 (``zoomsymbl_mixer.preparation``). Every input is opened as
a local file with an audio demuxer only (``zoomsymbl_common.media_tools``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_common.media_tools import DOWNLOADED_AUDIO, input_guard


@dataclass(frozen=True)
class Probe:
    """What ffprobe found in a file's first audio stream."""

    codec: str
    sample_rate: int
    channels: int
    duration: float


def probe_args(path: Path) -> list[str]:
    """ffprobe of the first audio stream; decoding its first frames proves the file is audio."""
    entries = "stream=codec_name,sample_rate,channels,nb_read_frames:format=duration"
    return _first_audio_stream(path, "%+#20", entries, count_frames=True)


def parse_probe(output: str) -> Probe | None:
    """The :class:`Probe` in ffprobe's JSON, or None when no decodable audio stream was found."""
    try:
        data = json.loads(output or "{}")
        stream = data["streams"][0]
        probe = Probe(
            codec=str(stream["codec_name"]),
            sample_rate=int(stream["sample_rate"]),
            channels=int(stream["channels"]),
            duration=float(data["format"]["duration"]),
        )
        frames = int(stream.get("nb_read_frames", "0"))
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return probe if frames > 0 and probe.duration > 0 and probe.sample_rate > 0 else None


def priming_args(path: Path) -> list[str]:
    """ffprobe of the first audio packet's timestamp: negative when an edit list hides encoder priming."""
    return _first_audio_stream(path, "%+#1", "packet=pts:stream=time_base")


def _first_audio_stream(path: Path, intervals: str, entries: str, *, count_frames: bool = False) -> list[str]:
    """ffprobe (guarded as for any downloaded file) reading ``intervals`` of the first audio stream and showing
    ``entries`` as JSON."""
    return [
        "ffprobe",
        *input_guard(DOWNLOADED_AUDIO),
        *("-v", "error", "-select_streams", "a:0", "-read_intervals", intervals),
        *(["-count_frames"] if count_frames else []),
        *("-show_entries", entries, "-of", "json", str(path)),
    ]


def parse_priming(output: str, sample_rate: int) -> int | None:
    """Samples of priming before the first sample the MP4 plays (0 without), None if unreadable."""
    try:
        data = json.loads(output or "{}")
        pts = int(data["packets"][0]["pts"])
        num, den = (int(x) for x in str(data["streams"][0]["time_base"]).split("/"))
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return round(-pts * num * sample_rate / den) if pts < 0 and den > 0 else 0
