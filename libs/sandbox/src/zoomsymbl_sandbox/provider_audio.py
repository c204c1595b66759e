"""SANDBOX audio analysis shared by the provider sandboxes: ffprobe facts and per-channel speech segments.

The provider sandboxes derive everything they return (messages, utterances, insights) from the real
submitted audio, so a test can tell a correctly mixed file from a wrong one. "Speech" is simply
"not silence" as reported by ffmpeg's ``silencedetect``; argument building and output parsing are pure.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path


class AudioError(Exception):
    """The file cannot be analysed: not decodable, no audio stream, or the tool timed out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says about the first audio stream of a file."""

    channels: int
    duration_s: float
    codec: str
    sample_rate: int


@dataclass(frozen=True)
class Segment:
    """One stretch of speech (non-silence) on one channel; ``channel`` is 1-based."""

    channel: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SilenceSettings:
    """silencedetect thresholds: quieter than ``noise_db`` for ``min_silence_s`` counts as silence."""

    noise_db: float = -35.0
    min_silence_s: float = 0.3
    # Clicks shorter than this are not worth a message.
    min_speech_s: float = 0.1


def ffprobe_args(path: Path) -> list[str]:
    return [
        "ffprobe", "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=channels,codec_name,sample_rate,duration:format=duration",
        "-of", "json", str(path),
    ]  # fmt: skip


def parse_ffprobe(output: str) -> AudioInfo:
    try:
        data = json.loads(output)
        stream = data["streams"][0]
        # Some containers only know the duration per stream.
        duration = float(data.get("format", {}).get("duration") or stream["duration"])
        return AudioInfo(
            channels=int(stream["channels"]),
            duration_s=duration,
            codec=str(stream.get("codec_name", "")),
            sample_rate=int(stream.get("sample_rate", 0)),
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AudioError(f"no decodable audio stream ({exc.__class__.__name__}: {exc})") from exc


def silencedetect_args(path: Path, settings: SilenceSettings, per_channel: bool) -> list[str]:
    # mono=1 makes one decode pass report every channel separately ("channel: N | ...").
    mono = 1 if per_channel else 0
    detect = f"silencedetect=n={settings.noise_db}dB:d={settings.min_silence_s}:mono={mono}"
    return [
        "ffmpeg", "-hide_banner", "-nostats", "-nostdin", "-i", str(path),
        "-map", "0:a:0", "-af", detect, "-f", "null", "-",
    ]  # fmt: skip


_SILENCE_LINE = re.compile(r"\]\s+(?:channel: (\d+) \| )?silence_(start|end): (-?[\d.]+)")


def parse_silences(stderr: str) -> dict[int, list[tuple[float, float | None]]]:
    """Silence intervals per 0-based channel (0 for a combined run); an open end means "until EOF"."""
    silences: dict[int, list[tuple[float, float | None]]] = {}
    for match in _SILENCE_LINE.finditer(stderr):
        channel = int(match.group(1) or 0)
        value = max(0.0, float(match.group(3)))
        spans = silences.setdefault(channel, [])
        if match.group(2) == "start":
            spans.append((value, None))
        elif spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0], value)
    return silences


def speech_from_silences(
    silences: list[tuple[float, float | None]], duration_s: float, channel: int, min_speech_s: float
) -> list[Segment]:
    """The complement of the silences within [0, duration], as 1-based ``channel`` segments."""
    segments: list[Segment] = []
    cursor = 0.0
    for start, end in sorted(silences, key=lambda span: span[0]):
        if start - cursor >= min_speech_s:
            segments.append(Segment(channel, round(cursor, 3), round(start, 3)))
        cursor = duration_s if end is None else max(cursor, end)
    if duration_s - cursor >= min_speech_s:
        segments.append(Segment(channel, round(cursor, 3), round(duration_s, 3)))
    return segments


def segments_from_stderr(stderr: str, info: AudioInfo, settings: SilenceSettings, per_channel: bool) -> list[Segment]:
    silences = parse_silences(stderr)
    channels = range(info.channels) if per_channel else range(1)
    segments: list[Segment] = []
    for index in channels:
        segments += speech_from_silences(silences.get(index, []), info.duration_s, index + 1, settings.min_speech_s)
    return sorted(segments, key=lambda seg: (seg.start_s, seg.channel))


async def run_tool(args: list[str], timeout_s: float) -> tuple[int, str, str]:
    """Run ffmpeg/ffprobe; returns (exit code, stdout, stderr). Kills the process on timeout."""
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AudioError(f"{args[0]} timed out after {timeout_s!r} s") from None
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def probe_audio(path: Path, timeout_s: float = 60.0) -> AudioInfo:
    """The file's first audio stream; its duration as played (an Opus file's pre-skip not counted)."""
    code, out, err = await run_tool(ffprobe_args(path), timeout_s)
    if code != 0:
        raise AudioError(f"ffprobe failed: {err.strip()[-300:]!r}")
    info = parse_ffprobe(out)
    if info.codec != "opus":
        return info
    with path.open("rb") as file:
        skip = opus_pre_skip(file.read(4096))
    return replace(info, duration_s=max(0.0, info.duration_s - skip / 48_000))


def opus_pre_skip(start: bytes) -> int:
    """The pre-skip of the Ogg Opus file that begins with ``start`` (0 if no ID header is found there).

    ffprobe's duration of an Ogg Opus file counts the pre-skip, the decoded samples a decoder discards
    (RFC 7845 §4.2, https://www.rfc-editor.org/rfc/rfc7845#section-4.2), which libopusfile's ``op_pcm_total``
    does not: a file cut by copying packets carries a pre-skip of a few hundred ms, and a duration that
    counts it made silence at the end of every part read as speech here.
    """
    at = start.find(b"OpusHead")
    if at < 0 or len(start) < at + 12:
        return 0
    return int.from_bytes(start[at + 10 : at + 12], "little")


async def detect_speech(
    path: Path, info: AudioInfo, settings: SilenceSettings, per_channel: bool, timeout_s: float = 900.0
) -> list[Segment]:
    code, _, err = await run_tool(silencedetect_args(path, settings, per_channel), timeout_s)
    if code != 0:
        raise AudioError(f"ffmpeg could not decode the audio: {err.strip()[-300:]!r}")
    return segments_from_stderr(err, info, settings, per_channel)
