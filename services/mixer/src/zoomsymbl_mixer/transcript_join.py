"""Zoom's transcript of a recording stopped and started again: one WebVTT file on the mix's clock.

Zoom makes a ``TRANSCRIPT`` (and ``CC``) file per stretch of a restarted recording, each timed from its own
``recording_start`` (Zoom's recording file objects carry ``recording_start``/``recording_end`` for every file type,
transcripts included: "Get meeting recordings" / ``recording.completed`` ``recording_files[]``, as in the API's
generated reference https://docs.rs/crate/zoom-api/0.2.5/target-redirect/zoom_api/types/struct.RecordingFiles.html).
The mix places each stretch's audio at its start, so one file of them read at time 0 put every stretch but the
first at the wrong time, and the others were never read at all. The mixer joins them: each stretch's cues shifted by
its start on the mix's clock, in one file per kind that every reader of Zoom's transcript takes as it takes a single
one (the ``zoom`` source, the fallback, hence the meeting page and its exports). The join is stored next to the
pieces (``raw/{tenant}/{meeting_key}/joined-{kind}-{digest}.vtt``), its name a digest of the pieces and their offsets:
the same pieces give the same file and ``AudioMixed`` the same ``event_id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from zoomsymbl_common.bounded import collect
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import TranscriptObject
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_common.webvtt import Cue, parse

JOINED = "joined-"
"""The ``file_id`` (and file name) prefix of a joined transcript: ours, not one of Zoom's files."""
CONTENT_TYPE = "text/vtt; charset=utf-8"


@dataclass(frozen=True)
class Piece:
    """One of Zoom's transcript files as stored, and its ``recording_start`` (None: Zoom did not say)."""

    stored: TranscriptObject
    start: datetime | None


def offsets(pieces: Sequence[Piece], origin: datetime | None) -> list[float]:
    """Each piece's start on the mix's clock (seconds after ``origin``; the earliest piece's start without one)."""
    starts = [p.start for p in pieces if p.start is not None]
    zero = origin or (min(starts) if starts else None)
    return [max(0.0, (p.start - zero).total_seconds()) if p.start and zero else 0.0 for p in pieces]


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def _line(text: str) -> str:
    # A cue's text may not hold a blank line or "-->" (it would start another cue), nor markup; one line of it.
    return " ".join(text.replace("-->", "->").replace("&", "&amp;").replace("<", "&lt;").split())


def render(parts: Sequence[tuple[float, Sequence[Cue]]]) -> str:
    """The cues of every part shifted by its offset, in time order, as Zoom writes them (``Name: text``)."""
    cues = sorted(
        ((offset + c.start, offset + c.end, c) for offset, part in parts for c in part), key=lambda t: (t[0], t[1])
    )
    lines = ["WEBVTT", ""]
    for number, (start, end, cue) in enumerate(cues, start=1):
        said = f"{_line(cue.speaker)}: {_line(cue.text)}" if cue.speaker else _line(cue.text)
        lines += [str(number), f"{_clock(start)} --> {_clock(end)}", said, ""]
    return "\n".join(lines)


def digest(pieces: Sequence[Piece], shifts: Sequence[float]) -> str:
    """What names a join: its pieces (file id, size) and their offsets to the millisecond."""
    identity = [[p.stored.file_id, p.stored.size_bytes, round(s, 3)] for p, s in zip(pieces, shifts, strict=True)]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


async def joined(
    objects: ObjectStore,
    tenant: str,
    meeting_uuid: str,
    pieces: Sequence[Piece],
    origin: datetime | None,
    *,
    max_bytes: int,
) -> tuple[TranscriptObject, ...]:
    """What readers of Zoom's transcript get: per kind, its one file, or the join of its stretches' files."""
    by_kind: dict[str, list[Piece]] = {}
    for piece in pieces:
        by_kind.setdefault(piece.stored.kind, []).append(piece)
    found: list[TranscriptObject] = []
    for kind, some in by_kind.items():
        if len(some) == 1:
            found.append(some[0].stored)
        else:
            found.append(await _join(objects, tenant, meeting_uuid, kind, some, origin, max_bytes))
    return tuple(sorted(found, key=lambda t: (t.kind != "transcript", t.file_id)))


async def _join(
    objects: ObjectStore,
    tenant: str,
    meeting_uuid: str,
    kind: str,
    pieces: Sequence[Piece],
    origin: datetime | None,
    max_bytes: int,
) -> TranscriptObject:
    shifts = offsets(pieces, origin)
    name = f"{JOINED}{kind}-{digest(pieces, shifts)}"
    key = f"raw/{tenant}/{meeting_key(meeting_uuid)}/{name}.vtt"
    parts = []
    for piece, shift in zip(pieces, shifts, strict=True):
        # Each piece was held to max_bytes when it was stored: a larger one now is not the file we stored.
        data = await collect(objects.get_stream(piece.stored.key), max_bytes)
        try:
            cues = parse(data) if data is not None else ()
        except PoisonInputError:
            cues = ()  # a piece that is no WebVTT costs only itself, as when Zoom no longer had it
        parts.append((shift, cues))
    body = render(parts).encode("utf-8")

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    size = await objects.put_stream(key, chunks(), content_type=CONTENT_TYPE)
    return TranscriptObject(file_id=name, kind=kind, key=key, size_bytes=size)


def pieces_of(stored: Sequence[TranscriptObject], starts: Mapping[str, datetime]) -> list[Piece]:
    """Zoom's files among ``stored`` (not a join) with their recorded starts."""
    return [Piece(t, starts.get(t.file_id)) for t in stored if not t.file_id.startswith(JOINED)]
