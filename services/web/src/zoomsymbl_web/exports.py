"""The downloads of a meeting page: the transcript as WebVTT, SRT and text, the insights as JSON. Pure.

WebVTT times use ``.`` before the milliseconds and SRT ``,``; hours are never wrapped (a 4-hour meeting
gives ``04:00:00.000``). Cue text is one line: a blank line would end the cue, ``-->`` would start a new
timing, so line breaks collapse, ``-->`` (however many dashes) becomes ``->``, control characters and bidi
controls are dropped and VTT's ``&``, ``<``, ``>`` are escaped. The JSON keeps bidi controls as ``\\uXXXX``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

from zoomsymbl_common.providers.base import TranscriptMessage

from zoomsymbl_web.bidi import json_escaped, plain
from zoomsymbl_web.meeting import MeetingView


def timestamp(seconds: float, separator: str = ".") -> str:
    """``HH:MM:SS.mmm`` (``separator`` before the milliseconds) of a non-negative time."""
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


_ARROW = re.compile(r"--+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (line breaks included) becomes one space, ``-->`` defused.

    Every run of dashes before ``>`` goes (``--->`` too: a single ``replace`` would leave ``-->`` of it), so a
    speaker's name cannot put a timing line into an SRT cue, which SRT readers (ffmpeg's) then start a cue at.
    The other control characters go too: an ESC in a transcript would drive the terminal that shows the text file;
    and the bidi controls, which a text file cannot isolate: a name with U+202E would reverse the rest of its line.
    """
    return _ARROW.sub("->", _CONTROL.sub("", " ".join(plain(text).split())))


def speaker_name(message: TranscriptMessage) -> str:
    """The speaker's name, or ``Speaker N`` by channel, or ``Speaker``."""
    name = one_line(message.speaker)
    if name:
        return name
    return f"Speaker {message.channel}" if message.channel is not None else "Speaker"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _span(message: TranscriptMessage) -> tuple[float, float]:
    # A cue must not end before it starts; an instant gets one millisecond.
    return message.start_seconds, max(message.end_seconds, message.start_seconds + 0.001)


def vtt(messages: Sequence[TranscriptMessage]) -> str:
    """The transcript as WebVTT, each cue voiced by its speaker (``<v Name>text``)."""
    cues = ["WEBVTT", ""]
    for index, message in enumerate(messages, 1):
        start, end = _span(message)
        voice = _vtt_escape(speaker_name(message))
        # A name ending in dashes must not make an arrow with the tag's ``>`` (a cue ends at any line holding
        # "-->"); WebVTT trims the space from the voice.
        voice += " " if voice.endswith("-") else ""
        cues += [
            str(index),
            f"{timestamp(start)} --> {timestamp(end)}",
            f"<v {voice}>{_vtt_escape(one_line(message.text))}",
            "",
        ]
    return "\n".join(cues)


def srt(messages: Sequence[TranscriptMessage]) -> str:
    """The transcript as SubRip: numbered cues, ``HH:MM:SS,mmm`` times, ``Name: text``."""
    cues: list[str] = []
    for index, message in enumerate(messages, 1):
        start, end = _span(message)
        cues += [
            str(index),
            f"{timestamp(start, ',')} --> {timestamp(end, ',')}",
            f"{speaker_name(message)}: {one_line(message.text)}",
            "",
        ]
    return "\n".join(cues)


def clock(seconds: float) -> str:
    """``h:mm:ss`` of a non-negative time (the page's and the text file's times)."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def text(messages: Sequence[TranscriptMessage]) -> str:
    """The transcript as plain text, one utterance a line: ``[h:mm:ss] Name: text``."""
    lines = [f"[{clock(m.start_seconds)}] {speaker_name(m)}: {one_line(m.text)}" for m in messages]
    return "\n".join(lines) + "\n" if lines else "(no speech was transcribed)\n"


def insights_json(view: MeetingView) -> str:
    """The meeting's insights as JSON: the meeting's facts, then the insights (times in meeting seconds)."""
    document: dict[str, Any] = {
        "tenant": view.tenant,
        "meeting_uuid": view.meeting_uuid,
        "generation": view.generation,
        "topic": view.topic,
        "host": view.host,
        "start_time": view.start_time.isoformat() if view.start_time is not None else None,
        "duration_seconds": view.duration_seconds,
        "source": view.source,
        "speakers": [dataclasses.asdict(s) for s in view.speakers],
        "insights": dataclasses.asdict(view.insights),
    }
    return json_escaped(json.dumps(document, ensure_ascii=False, indent=1)) + "\n"
