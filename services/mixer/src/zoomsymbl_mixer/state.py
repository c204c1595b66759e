"""The mixer's MongoDB state: the meeting document it advances, the mix it remembers
(:mod:`zoomsymbl_mixer.mix_record`). :class:`MeetingState` is the one object the mixer reads and writes through; it
also holds the meeting's Zoom transcript files (:mod:`zoomsymbl_mixer.transcript_records`), the conversation's archive
record (:class:`~zoomsymbl_mixer.archive.ArchiveRecords`) and the webhook's download token
(:mod:`zoomsymbl_mixer.download_token`), each kept in its own module.

Only single-document atomic updates. The stage moves forward only: the update that sets
``stage: "mixed"`` matches a meeting still at ``received`` (or without a stage, or failed by the
mixer itself); an upsert whose filter does not match an existing, further-along meeting collides
with the unique (tenant, meeting_uuid) index, and that ``DuplicateKeyError`` means "leave the stage
alone". The finished mix is kept on the meeting under ``mix`` keyed by its ``input_hash``, so a
redelivered event re-publishes the same ``AudioMixed`` instead of mixing again.

Between recording the mix and publishing ``AudioMixed`` the meeting is at ``mixed`` but nobody
downstream knows of it: the move to ``mixed`` sets ``audio_mixed_pending`` and the mixer unsets it once
Kafka acknowledged ``AudioMixed``. Just before the publish the exact event is kept as ``audio_mixed_sent``:
from then on it may have gone out (an acknowledgement lost is no proof it did not). A give-up may fail
only a meeting pending and never sent (the metadata upload failed for good); one sent but unconfirmed
gets its ``AudioMixed`` again instead (:func:`~zoomsymbl_mixer.handlers.give_up`); one confirmed belongs
to the submitter, and a stale give-up (a redelivered duplicate) leaves it alone. A kept event this release cannot
read (a newer release's, one edited by hand) still says "may have gone out": it is :class:`UnreadableSent`, never a
reason to fail the meeting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import (
    MEETINGS,
    MIXED_GENERATION,
    TOMBSTONES,
    ConversationMetadata,
    Failure,
    StoredObject,
    forward_filter,
    meeting_insert,
    meeting_key,
)
from zoomsymbl_common.telemetry import current_trace_id

from zoomsymbl_mixer.archive import (
    DELIVERY,
    ArchiveRecords,
    delivered_at,
    delivery_stamp,
    later_on_meeting,
    not_later_on_meeting,
)
from zoomsymbl_mixer.download_token import DownloadTokens
from zoomsymbl_mixer.emails import EmailNotes
from zoomsymbl_mixer.errors import SupersededRecording
from zoomsymbl_mixer.metadata import conversation_metadata, failed_metadata

# Defined in mix_record.py; importable from here, where callers (and older releases' code) find them.
from zoomsymbl_mixer.mix_record import MixRecord as MixRecord
from zoomsymbl_mixer.mix_record import RawObject as RawObject
from zoomsymbl_mixer.mix_record import audio_mixed as audio_mixed
from zoomsymbl_mixer.mix_record import missing_of, mix_origin
from zoomsymbl_mixer.mix_record import with_transcripts as with_transcripts
from zoomsymbl_mixer.step_records import StepRecords
from zoomsymbl_mixer.transcript_records import ORIGIN, TranscriptRecords

SERVICE = "mixer"
PENDING = "audio_mixed_pending"
"""Set on the move to ``mixed``, unset once ``AudioMixed`` is published: the mix nobody downstream knows of."""
SENT = "audio_mixed_sent"
"""The ``AudioMixed`` of a pending meeting, kept before it is published: it may have gone out from then on."""
MISSING_AUDIO = "missing_audio"
"""Participant audio the meeting's mix went without, by name (:class:`~zoomsymbl_common.records.MissingAudio`): set
with the mix, unset when a mix has everything (the report and the page say what is missing)."""
REASON_MAX = 500
"""Characters of an unreadable ``audio_mixed_sent``'s reason in the log."""

log = logging.getLogger("zoomsymbl.mixer")


@dataclass(frozen=True)
class UnreadableSent:
    """A kept ``audio_mixed_sent`` that does not validate as this release's ``AudioMixed``: it may have gone out all
    the same, but it cannot be published again. ``reason``: pydantic's errors, without the stored values."""

    reason: str


class MeetingState(TranscriptRecords, ArchiveRecords, DownloadTokens, StepRecords, EmailNotes):
    """Reads and writes of the mixer on ``meetings``, ``conversations`` and ``meeting_secrets`` (and reads of
    ``tombstones``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def forgotten(self, tenant: str, meeting_uuid: str) -> bool:
        """True when the meeting was erased with ``zoomsymbl forget`` (one read of ``tombstone_unique``)."""
        return await guarded(self.db[TOMBSTONES].find_one(meeting_key(tenant, meeting_uuid), {"_id": 1})) is not None

    async def generation(self, tenant: str, meeting_uuid: str) -> int | None:
        """The generation the meeting is at (None: no meeting stored yet; a document without one: 0)."""
        doc = await guarded(self.db[MEETINGS].find_one(meeting_key(tenant, meeting_uuid), {"generation": 1}))
        if doc is None:
            return None
        value = doc.get("generation", 0)
        return value if type(value) is int else 0

    async def find_mix(self, tenant: str, meeting_uuid: str, *input_hashes: str) -> MixRecord | None:
        """The mix already made from exactly these inputs (the meeting's mix, if it has one of ``input_hashes``)."""
        doc = await guarded(
            self.db[MEETINGS].find_one(
                {"tenant": tenant, "meeting_uuid": meeting_uuid, "mix.input_hash": {"$in": list(input_hashes)}},
                {"mix": 1},
            )
        )
        return _readable_mix(doc)

    async def current_mix(self, tenant: str, meeting_uuid: str, generation: int | None = None) -> MixRecord | None:
        """The latest mix of a meeting that has not failed, whatever its inputs (a transcript arriving later joins it).

        A failed meeting's mix is not offered: its host was told it failed, and announcing the mix would bring the
        report after the notice. Failed by the mixer, it runs again on a replay of its recording (``record_mix``).
        ``generation``: only a mix recorded for that generation (``mixed_generation``, set since 2026-12-06).
        """
        query: Document = {**meeting_key(tenant, meeting_uuid), "stage": {"$ne": "failed"}}
        if generation is not None:
            query[MIXED_GENERATION] = generation
        doc = await guarded(self.db[MEETINGS].find_one(query, {"mix": 1}))
        return _readable_mix(doc)

    async def record_mix(
        self, event: RecordingCompleted, record: MixRecord, held: ConversationMetadata | None = None
    ) -> bool:
        """Store the mix on the meeting and advance it to ``mixed``; False when it was further along.

        ``held``: the conversation's archive record of this mix (made here when not given); its start and length
        go on the meeting too. Raises :class:`SupersededRecording`, nothing written, when a later delivery's mix or
        failure is on the meeting (it got there after ``event`` was checked: two handlings of the meeting at once).
        """
        now = utcnow()
        mix = record.model_dump(mode="json")
        fields: Document = {
            "mix": mix,
            "channel_map": mix["channel_map"],
            "speaker_stats": mix["speaker_stats"],
            "objects.mixed": StoredObject(
                bucket=record.bucket, key=record.object_key, size=record.size_bytes
            ).to_document(),
            "objects.raw": [raw.model_dump() for raw in record.raw_objects],
            "updated_at": now,
            "platform": event.platform,
            MIXED_GENERATION: event.generation,
            ORIGIN: mix_origin(event, record),
        }
        if (stamp := delivery_stamp(event)) is not None:
            fields[DELIVERY] = stamp
        missing = missing_of(event, record)
        if missing is not None:
            fields[MISSING_AUDIO] = missing.to_document()
        cleared: Document = {} if missing is not None else {MISSING_AUDIO: ""}  # an earlier mix's note goes
        # When it was held, as the archive record says (the e-mail and the page tell recurring meetings apart).
        held = held or conversation_metadata(event, record)
        if held.start_time is not None:
            fields["start_time"] = held.start_time
        if held.duration_seconds is not None:
            fields["duration_seconds"] = held.duration_seconds
        if event.phone_call is not None:
            fields["call"] = event.phone_call.model_dump(mode="json")
            # The phone user's e-mail is resolved by the mixer, after ingest: set it, not only on insert.
            if event.host_email:
                fields["host_email"] = event.host_email
        trace_id = current_trace_id()
        if trace_id:
            # The trace started by ingest's webhook span: `zoomsymbl status` shows it for Grafana/Tempo.
            fields["trace_id"] = trace_id
        advance: Document = {**fields, "stage": "mixed", "mixed_at": now, PENDING: True}
        # A kept AudioMixed on a meeting not yet at "mixed" is an earlier run's (a forced replay restarted the meeting
        # after it): it announces no mix of this run, so it must neither keep this run's give-up from failing the
        # meeting nor be published again by it.
        if await self._advance(event, advance, unset={"failure": "", SENT: "", **cleared}):
            return True
        await self._record_further_along(event, fields, cleared)
        return False

    async def _record_further_along(self, event: RecordingCompleted, fields: Document, cleared: Document) -> None:
        # The ordering condition in the update's own filter: MongoDB applies both to the document at once (FerretDB
        # does not isolate a read before it from another replica's update).
        query = {**_not_past(event), **not_later_on_meeting(event)}
        update: Document = {"$set": fields, **({"$unset": cleared} if cleared else {})}
        result = await guarded(self.db[MEETINGS].update_one(query, update))
        if result.matched_count > 0:
            return
        # Not matched: the meeting left the generation (as before, not recorded), or a later delivery is on it.
        if await guarded(self.db[MEETINGS].find_one(later_on_meeting(event), {"_id": 1})) is not None:
            raise SupersededRecording(event.generation)

    async def mark_sent(self, mixed: AudioMixed) -> None:
        """Keep ``mixed`` on its meeting, if pending, before it is published: a give-up then announces it again."""
        sent = {"$set": {SENT: mixed.model_dump(mode="json")}}
        await guarded(
            self.db[MEETINGS].update_one({**_pending(mixed.tenant, mixed.meeting_uuid), **_not_past(mixed)}, sent)
        )

    async def unconfirmed(self, event: RecordingCompleted) -> AudioMixed | UnreadableSent | None:
        """The ``AudioMixed`` that may have gone out for the meeting, Kafka's acknowledgement never noted.

        One kept that does not validate (a newer release's, edited by hand) is :class:`UnreadableSent`: it may have
        gone out too, and raising here would leave the give-up without an outcome.
        """
        query = {**_pending(event.tenant, event.meeting_uuid), SENT: {"$exists": True}}
        doc = await guarded(self.db[MEETINGS].find_one(query, {SENT: 1}))
        if doc is None:
            return None
        try:
            return AudioMixed.model_validate(doc[SENT])
        except ValidationError as exc:
            # Without the stored values: they are the host's address, the topic, whatever was edited in.
            return UnreadableSent(scrub(str(exc.errors(include_url=False, include_input=False)), REASON_MAX))

    async def mark_announced(self, event: RecordingCompleted) -> None:
        """Note that ``AudioMixed`` went out: the meeting has moved on and the mixer may no longer fail it."""
        unset = {"$unset": {PENDING: "", SENT: ""}}
        await guarded(self.db[MEETINGS].update_one(_not_past(event), unset))

    async def mark_failed(self, event: RecordingCompleted, stage: str, reason: str) -> bool:
        """Mark the meeting failed by the mixer with ``stage`` and ``reason``, unless it moved on.

        Moved on: past ``mixed``, failed by another service, or ``mixed`` with its ``AudioMixed`` published or sent
        (its acknowledgement lost: it may be downstream all the same); or archived for a later delivery than ``event``.
        """
        if await self.superseded(event):
            return False  # the later delivery's outcome stands: its failure reason, its record
        failure = Failure.build(SERVICE, stage, reason)
        fields = {**failure.fields(), "updated_at": failure.at}
        if (stamp := delivery_stamp(event)) is not None:
            fields[DELIVERY] = stamp  # an older delivery past its check then neither mixes nor fails it again
        marked = await self._advance(event, fields) or await self._fail_unannounced(event, fields)
        if marked:  # the archive learns of a recording that could not be kept, and why
            await self.store_metadata(failed_metadata(event, failure.reason), delivered_at(event))
        return marked

    async def _fail_unannounced(self, event: RecordingCompleted, fields: Document) -> bool:
        # Only this filter lets a failure replace "mixed": the flag is gone once AudioMixed was published, and
        # one sent may have been published.
        query = {**_pending(event.tenant, event.meeting_uuid), **_not_past(event), **not_later_on_meeting(event),
                 SENT: {"$exists": False}}  # fmt: skip
        result = await guarded(self.db[MEETINGS].update_one(query, {"$set": fields, "$unset": {PENDING: ""}}))
        return result.matched_count > 0

    async def _advance(self, event: RecordingCompleted, fields: Document, unset: Document | None = None) -> bool:
        # Not yet mixed, or failed by the mixer itself; the event's generation or an earlier one (a forced replay
        # re-mixes), never one a forced replay has moved the meeting past, nor one holding a later delivery's mix or
        # failure (archive.not_later_on_meeting).
        query = {**forward_filter(event.tenant, event.meeting_uuid, "mixed", generation=None, refail_by=SERVICE),
                 **_not_past(event), **not_later_on_meeting(event)}  # fmt: skip
        insert = meeting_insert(
            host_email=event.host_email, topic=event.topic_text, generation=event.generation, created_at=utcnow()
        )
        # A field set here (a phone call's host_email) must not also be in $setOnInsert: MongoDB refuses both.
        insert = {key: value for key, value in insert.items() if key not in fields}
        update: dict[str, Any] = {"$set": fields, "$setOnInsert": insert}
        if unset:
            update["$unset"] = unset
        try:
            result = await guarded(self.db[MEETINGS].update_one(query, update, upsert=True))
        except DuplicateKeyError:
            return False
        return result.matched_count > 0 or result.upserted_id is not None


def _not_past(event: RecordingCompleted | AudioMixed) -> Document:
    """The meeting at ``event``'s generation or an earlier one (a document without the field is at 0).

    An event a forced replay has left behind (it raced past :meth:`~zoomsymbl_mixer.mixing.Mixer._check_generation`)
    then neither records its mix over the newer generation's nor fails the meeting with its give-up.
    """
    return {**meeting_key(event.tenant, event.meeting_uuid), "generation": {"$not": {"$gt": event.generation}}}


def _pending(tenant: str, meeting_uuid: str) -> Document:
    return {**meeting_key(tenant, meeting_uuid), "stage": "mixed", PENDING: True}


def _readable_mix(doc: Document | None) -> MixRecord | None:
    """The meeting's recorded mix; None for none, and for one this release cannot read (a newer release's before a
    rollback, a hand edit, a length no mix has): the recording is then mixed again and its record replaced, where
    raising made every redelivery and every forced replay a bug retried to its dead letter."""
    if doc is None or not isinstance(doc.get("mix"), dict):
        return None
    try:
        return MixRecord.model_validate(doc["mix"])
    except ValidationError as exc:
        # Without the stored values (the channel map holds the participants' names and addresses), as unconfirmed().
        reason = scrub(str(exc.errors(include_url=False, include_input=False)), REASON_MAX)
        log.warning("recorded mix unreadable, mixed again", extra={"reason": reason})
        return None
