"""The meeting's Zoom transcript files as the mixer keeps them on the meeting document: the files stored
(``transcripts``, transcript before captions), those Zoom did not serve when asked (:data:`MISSING_TRANSCRIPTS`), each
file's own ``recording_start`` (:data:`STARTS`) and the mix's time 0 (:data:`ORIGIN`) that places a restarted
recording's stretches, and the joined view named first of its kind (:mod:`zoomsymbl_mixer.transcript_join`).

Part of :class:`~zoomsymbl_mixer.state.MeetingState`, which the rest of the mixer reads and writes through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from zoomsymbl_common.events import RecordingCompleted, TranscriptObject, utcnow
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import MEETINGS, meeting_insert, meeting_key

from zoomsymbl_mixer.transcript_join import JOINED, Piece, pieces_of

MISSING_TRANSCRIPTS = "transcripts_missing"
"""Zoom transcript files of the meeting Zoom did not serve when asked (a later event or a replay fetches them)."""
STARTS = "transcript_starts"
"""``[{"file_id", "start"}]``: Zoom's ``recording_start`` of each stored transcript file (a stretch's own clock)."""
ORIGIN = "mix_origin"
"""The ``recording_start`` that is time 0 of the meeting's mix (a late transcript's stretches are placed from it)."""


class TranscriptRecords:
    """Reads and writes of the meeting's Zoom transcript files on ``meetings``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def transcripts_of(self, tenant: str, meeting_uuid: str) -> tuple[TranscriptObject, ...]:
        """The Zoom transcript files stored for the meeting (transcript before captions)."""
        return (await self.transcript_state(tenant, meeting_uuid))[0]

    async def missing_transcripts(self, tenant: str, meeting_uuid: str) -> tuple[str, ...]:
        """The ids of the meeting's Zoom transcript files Zoom did not serve when asked, not stored since."""
        return (await self.transcript_state(tenant, meeting_uuid))[1]

    async def transcript_state(
        self, tenant: str, meeting_uuid: str
    ) -> tuple[tuple[TranscriptObject, ...], tuple[str, ...]]:
        """:meth:`transcripts_of` and :meth:`missing_transcripts` in one read of the meeting."""
        fields = {"transcripts": 1, MISSING_TRANSCRIPTS: 1}
        doc = await guarded(self.db[MEETINGS].find_one(meeting_key(tenant, meeting_uuid), fields)) or {}
        stored, missing = doc.get("transcripts"), doc.get(MISSING_TRANSCRIPTS)
        found: dict[str, TranscriptObject] = {}
        for raw in stored if isinstance(stored, list) else []:
            try:
                item = TranscriptObject.model_validate(raw)
            except ValidationError:
                continue  # an unreadable entry costs only itself
            if not item.file_id.startswith(JOINED):  # a join of the files is ours, rewritten with them
                found[item.file_id] = item
        absent = tuple(sorted({i for i in missing if isinstance(i, str)})) if isinstance(missing, list) else ()
        return _ordered(found.values()), absent

    async def pieces(self, tenant: str, meeting_uuid: str) -> tuple[list[Piece], datetime | None]:
        """The meeting's Zoom transcript files with their starts, and its mix's time 0 (None: not recorded)."""
        doc = await guarded(self.db[MEETINGS].find_one(meeting_key(tenant, meeting_uuid), {STARTS: 1, ORIGIN: 1}))
        starts = (doc or {}).get(STARTS)
        known = {s["file_id"]: s["start"] for s in starts if _start_entry(s)} if isinstance(starts, list) else {}
        origin = (doc or {}).get(ORIGIN)
        stored = await self.transcripts_of(tenant, meeting_uuid)
        return pieces_of(stored, known), origin if isinstance(origin, datetime) else None

    async def set_view(self, tenant: str, meeting_uuid: str, view: tuple[TranscriptObject, ...]) -> None:
        """Name the joins of ``view`` on the meeting first of their kind, before Zoom's files: a reader of the
        meeting's ``transcripts`` takes the first of a kind (:func:`~zoomsymbl_common.providers.zoom_transcript.
        transcript_key`)."""
        joins = [t for t in view if t.file_id.startswith(JOINED)]
        if not joins:
            return
        stored = await self.transcripts_of(tenant, meeting_uuid)
        listed = sorted([*joins, *stored], key=lambda t: (t.kind != "transcript", not t.file_id.startswith(JOINED)))
        update = {"$set": {"transcripts": [t.model_dump() for t in listed]}}
        await guarded(self.db[MEETINGS].update_one(meeting_key(tenant, meeting_uuid), update))

    async def add_transcripts(
        self,
        event: RecordingCompleted,
        found: tuple[TranscriptObject, ...],
        missing: tuple[str, ...] = (),
        starts: Mapping[str, datetime] | None = None,
    ) -> tuple[TranscriptObject, ...]:
        """Record ``found`` on the meeting (one entry per file id), and ``missing`` as not served (a file stored is
        missing no more); all its transcript files afterwards."""
        stored, before = await self.transcript_state(event.tenant, event.meeting_uuid)
        known = {t.file_id: t for t in stored}
        known.update((t.file_id, t) for t in found)
        absent = tuple(sorted((set(before) | set(missing)) - set(known)))
        if not found and absent == before:
            return _ordered(known.values())
        merged = _ordered(known.values())
        insert = meeting_insert(
            host_email=event.host_email, topic=event.topic_text, generation=event.generation, created_at=utcnow()
        )
        update: Document = {"$set": {"transcripts": [t.model_dump() for t in merged], "updated_at": utcnow()},
                            "$setOnInsert": insert}  # fmt: skip
        if starts:
            earlier, _ = await self.pieces(event.tenant, event.meeting_uuid)
            times = {p.stored.file_id: p.start for p in earlier if p.start is not None} | dict(starts)
            timed = [{"file_id": t.file_id, "start": times[t.file_id]} for t in merged if t.file_id in times]
            update["$set"][STARTS] = timed
        if absent:
            update["$set"][MISSING_TRANSCRIPTS] = list(absent)
        elif before:
            update["$unset"] = {MISSING_TRANSCRIPTS: ""}
        await guarded(self.db[MEETINGS].update_one(meeting_key(event.tenant, event.meeting_uuid), update, upsert=True))
        return merged


def _start_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict) and isinstance(entry.get("file_id"), str) and isinstance(entry.get("start"), datetime)
    )


def _ordered(items: Iterable[TranscriptObject]) -> tuple[TranscriptObject, ...]:
    return tuple(sorted(items, key=lambda t: (t.kind != "transcript", t.file_id)))
