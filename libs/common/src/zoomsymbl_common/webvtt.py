"""Zoom's transcript files (WebVTT) as timed, attributed cues: a pure parser, no I/O.

Zoom's audio transcript (``file_type`` ``TRANSCRIPT``) and its closed captions (``CC``) are WebVTT:
a ``WEBVTT`` header, then blocks separated by blank lines. A cue block has an optional identifier
line, a timing line (``00:01:02.500 --> 00:01:05.000``, hours optional, cue settings such as
``align:start`` after it) and one or more text lines; Zoom prefixes the text with the speaker
(``Elisa L: text``), captions may use a voice tag (``<v Elisa L>text``) or no speaker at all.
``NOTE``, ``STYLE`` and ``REGION`` blocks carry no speech and are skipped. Line ends may be LF,
CRLF or CR; a UTF-8 byte-order mark is ignored. A block that does not parse is skipped rather than
losing the transcript.

Captions can hold text a participant typed, and :func:`parse` runs on the event loop: every pattern here
works in time linear in its input. A tag never spans a ``<`` (in WebVTT a ``<`` always opens a tag; a literal
one is ``&lt;``), so a ``<`` that is never closed costs a scan to the next ``<``, not to the end of the text,
and a cue's raw text is cut to :data:`MAX_RAW_TEXT` before any pattern sees it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from zoomsymbl_common.errors import PoisonInputError

MAX_CUES = 500_000
MAX_TEXT = 5_000
MAX_SPEAKER = 200
MAX_RAW_TEXT = 4 * MAX_TEXT
"""Most characters of a cue's text as written (tags and character references included) that are read: room for
:data:`MAX_TEXT` characters of text with a tag around every word; what lies past it is never kept anyway."""
_TIME = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s+-->\s+{_TIME}(?:\s+.*)?$")
# A voice tag, ``<v Name>`` or ``<v.class Name>``: the name is group 1 (stripped by the caller). One way only
# to split "whitespace, then the name" (a single \s, the rest in the group), and no part may cross a "<":
# "<v" followed by 400,000 spaces, or by "<v " 100,000 times, is read in linear time.
_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?(\s[^<>]+)>")
# Any other tag (``<b>``, ``</c>``, ``<c.yellow>``, ``<lang en>``, ``<00:01.000>``), never across a "<".
_TAG = re.compile(r"</?[^<>\s]*(?:\s[^<>]*)?>")
# "Name: text": a name of up to MAX_SPEAKER characters before the first ": ". A clock time ("at 10:30 we")
# or a URL ("https://…") is not a name, so the prefix must not end in a digit or contain "//".
_PREFIX = re.compile(rf"^(?P<name>[^:\n]{{1,{MAX_SPEAKER}}}?):\s+(?P<text>.*)$", re.DOTALL)
_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


@dataclass(frozen=True)
class Cue:
    """One cue: when it is shown (seconds from the start of the recording), who speaks and what."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def parse(data: bytes | str) -> tuple[Cue, ...]:
    """The cues of a WebVTT document, in file order.

    Raises :class:`PoisonInputError` when ``data`` is not WebVTT (no ``WEBVTT`` header) or not UTF-8.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PoisonInputError(f"transcript is not UTF-8: {exc.reason!r}", stage="transcript") from None
    text = data.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n[ \t]*\n", text)
    header = blocks[0].lstrip("\n")
    if not (header.startswith("WEBVTT") and (len(header) == 6 or header[6] in " \t\n")):
        raise PoisonInputError("transcript is not WebVTT: no WEBVTT header", stage="transcript")
    cues: list[Cue] = []
    # A header block may run straight into the first cue when Zoom leaves out the blank line.
    for block in [header.partition("\n")[2], *blocks[1:]]:
        cue = parse_block(block)
        if cue is not None:
            cues.append(cue)
            if len(cues) >= MAX_CUES:
                break
    return tuple(cues)


def parse_block(block: str) -> Cue | None:
    """One block as a cue, or None (a note, style or region block, or no readable timing line)."""
    lines = [line for line in block.split("\n") if line.strip()]
    if not lines or lines[0].split(maxsplit=1)[0] in _SKIPPED_BLOCKS:
        return None
    index = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
    if index is None:
        return None
    timing = _TIMING.match(lines[index])
    if timing is None:
        return None
    start, end = _seconds(*timing.groups()[:4]), _seconds(*timing.groups()[4:])
    speaker, words = attributed(" ".join(line.strip() for line in lines[index + 1 :])[:MAX_RAW_TEXT])
    if not words:
        return None
    return Cue(start=start, end=max(start, end), text=words[:MAX_TEXT], speaker=speaker)


def attributed(raw: str) -> tuple[str | None, str]:
    """``(speaker, text)`` of a cue's text: a voice tag or a ``Name:`` prefix names the speaker."""
    voice = _VOICE.search(raw)
    speaker = voice.group(1).strip() if voice else None
    text = html.unescape(_TAG.sub("", raw)).replace("\u00a0", " ").strip()
    if speaker is None:
        prefix = _PREFIX.match(text)
        if prefix is not None and _is_name(prefix.group("name")):
            speaker, text = prefix.group("name").strip(), prefix.group("text").strip()
    return (speaker[:MAX_SPEAKER] if speaker else None), text


def _is_name(candidate: str) -> bool:
    name = candidate.strip()
    return bool(name) and not name[-1].isdigit() and "//" not in name and not name.lower().startswith("http")


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000
