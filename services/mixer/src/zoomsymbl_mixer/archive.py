"""Which delivery of a meeting's recording event the conversation's archive record (``conversations``) belongs to.

One meeting's recording event can arrive more than once, and an older one after a newer one: Zoom sends an earlier
webhook again (its receipt expired), a plain ``zoomsymbl replay`` re-publishes a time range that holds it. Those
deliveries are ordered by generation (a forced replay bumps it, so its event is newer whatever its time), then by the
event's ``occurred_at`` (Zoom's ``event_ts``; for a backfill, which publishes only meetings never seen, the
recording's end). The record keeps the instant of the delivery that wrote it (:data:`RECORDED_AT`), so a delivery
older than that one is recognised before it mixes (:func:`newer_filter`) and cannot replace the record when it gets
there all the same (:func:`not_newer_filter`). The same instant writes again: a redelivery, a replay of that very
event, a failed meeting's recording replayed once its cause is fixed.

The meeting document carries the same order (:data:`DELIVERY`, :func:`not_later_on_meeting`): two handlings of one
meeting at once (a poll-deadline give-back, a rebalance) can both pass the check before either wrote, and the archive
record's condition alone let the older one's mix replace the newer one's on the meeting (and be announced).

:class:`ArchiveRecords` (part of :class:`~zoomsymbl_mixer.state.MeetingState`) binds these to the ``conversations``
collection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import CONVERSATIONS, ConversationMetadata, meeting_key
from zoomsymbl_common.storage import ObjectStore

from zoomsymbl_mixer.errors import rejected_at
from zoomsymbl_mixer.metadata import metadata_json, metadata_key
from zoomsymbl_mixer.selection import selections

RECORDED_AT = "recording_occurred_at"
"""The ``occurred_at`` of the recording event that wrote a ``conversations`` record (the mixer's bookkeeping, not
part of :class:`~zoomsymbl_common.records.ConversationMetadata`; absent on a reconciled record and on earlier
releases' records, which any delivery may replace)."""


async def upload_metadata(objects: ObjectStore, tenant: str, meeting_uuid: str, metadata: ConversationMetadata) -> None:
    """The record as ``metadata.json`` next to the raw media (:func:`~zoomsymbl_mixer.metadata.metadata_key`); S3
    refusing it fails the meeting's ``upload`` step."""
    body = metadata_json(metadata)

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    try:
        await objects.put_stream(metadata_key(tenant, meeting_uuid), chunks(), content_type="application/json")
    except ObjectRejected as exc:
        raise rejected_at("upload", exc) from exc


def instant(occurred_at: datetime) -> datetime:
    """``occurred_at`` to the millisecond, as BSON stores it: a redelivery then compares equal, never newer."""
    return occurred_at.replace(microsecond=occurred_at.microsecond // 1000 * 1000)


FUTURE_TOLERANCE = timedelta(minutes=10)
"""How far ahead of our clock a delivery's ``occurred_at`` may be and still order it (clocks drift by seconds)."""


def ordered(occurred_at: datetime | None) -> datetime | None:
    """The instant that orders a delivery, as stored; None (it orders nothing) for one dated more than
    :data:`FUTURE_TOLERANCE` ahead. The body's times are not checked against any clock (ingest): a delivery dated a
    year ahead (a clock fault at Zoom, a signed forgery against a known meeting) stayed the newest of its generation,
    and every real delivery after it was superseded until a forced replay. Such a delivery's record keeps no instant:
    any later delivery replaces it."""
    if occurred_at is None or occurred_at > utcnow() + FUTURE_TOLERANCE:
        return None
    return instant(occurred_at)


def delivered_at(event: RecordingCompleted) -> datetime | None:
    """The instant that orders ``event`` among its meeting's deliveries; None for one without audio to mix (Zoom's
    transcript alone, files still processing): given up on, it is no delivery of the recording, and a replay of the
    recording must not look older than it."""
    return event.occurred_at if selections(event) else None


def newer_filter(tenant: str, meeting_uuid: str, generation: int, occurred_at: datetime) -> Document:
    """The meeting's record when a later delivery than (``generation``, ``occurred_at``) wrote it."""
    when = ordered(occurred_at)
    if when is None:  # dated ahead: older than nothing of its generation
        return {**meeting_key(tenant, meeting_uuid), "generation": {"$gt": generation}}
    later = {"generation": generation, RECORDED_AT: {"$gt": when}}
    return {**meeting_key(tenant, meeting_uuid), "$or": [{"generation": {"$gt": generation}}, later]}


def not_newer_filter(tenant: str, meeting_uuid: str, generation: int, occurred_at: datetime | None) -> Document:
    """The meeting's record unless a later delivery wrote it (a record without a generation is at 0).

    ``occurred_at`` None (a caller that does not know its event's, or one dated ahead: :func:`ordered`): only the
    generation is compared.
    """
    earlier = {"generation": {"$not": {"$gte": generation}}}
    when = ordered(occurred_at)
    if when is None:
        same: Document = {"generation": generation}
    else:
        same = {"generation": generation, RECORDED_AT: {"$not": {"$gt": when}}}
    return {**meeting_key(tenant, meeting_uuid), "$or": [earlier, same]}


async def store_record(
    conversations: AsyncCollection[Document], metadata: ConversationMetadata, occurred_at: datetime | None
) -> bool:
    """Replace the meeting's record with ``metadata`` unless a later delivery wrote it (False: nothing written)."""
    document = metadata.to_document()
    if (when := ordered(occurred_at)) is not None:
        document[RECORDED_AT] = when
    query = not_newer_filter(metadata.tenant, metadata.meeting_uuid, metadata.generation, occurred_at)
    try:  # a kept record the filter does not match makes the upsert collide with it on conversation_unique
        await guarded(conversations.replace_one(query, document, upsert=True))
    except DuplicateKeyError:
        return False
    return True


async def written_later(conversations: AsyncCollection[Document], event: RecordingCompleted) -> bool:
    """True when the meeting's record was written for a later delivery than ``event``."""
    query = newer_filter(event.tenant, event.meeting_uuid, event.generation, event.occurred_at)
    return await guarded(conversations.find_one(query, {"_id": 1})) is not None


DELIVERY = "recording_delivery"
"""On the meeting: ``{"generation", "occurred_at"}`` of the delivery whose mix or mixer failure it holds (ordered as
the archive record's; no ``occurred_at`` for one dated ahead). Absent on meetings earlier releases wrote, which any
delivery may replace. Not ``mixed_generation``: a forced replay of ``AudioMixed`` moves that one on (``carry_mix``)."""


def delivery_stamp(event: RecordingCompleted) -> Document | None:
    """The meeting's :data:`DELIVERY` for ``event`` (None: it is no delivery of the recording, :func:`delivered_at`)."""
    if delivered_at(event) is None:
        return None
    stamp: Document = {"generation": event.generation}
    if (when := ordered(event.occurred_at)) is not None:
        stamp["occurred_at"] = when
    return stamp


def _later_stamps(event: RecordingCompleted) -> list[Document]:
    later: list[Document] = [{f"{DELIVERY}.generation": {"$gt": event.generation}}]
    when = ordered(delivered_at(event))
    if when is not None:
        later.append({f"{DELIVERY}.generation": event.generation, f"{DELIVERY}.occurred_at": {"$gt": when}})
    return later


def not_later_on_meeting(event: RecordingCompleted) -> Document:
    """The condition, in an update's filter of ``event``'s meeting, that no later delivery's mix or failure is on it
    (as :func:`not_newer_filter`; one key, ``$nor``, beside the filters' own ``$or``)."""
    return {"$nor": _later_stamps(event)}


def later_on_meeting(event: RecordingCompleted) -> Document:
    """``event``'s meeting when a later delivery's mix or failure is on it."""
    return {**meeting_key(event.tenant, event.meeting_uuid), "$or": _later_stamps(event)}


async def no_longer_missing(
    conversations: AsyncCollection[Document], tenant: str, meeting_uuid: str, stored: Collection[str]
) -> ConversationMetadata | None:
    """The meeting's record of its mix with the files of ``stored`` (Zoom's transcripts fetched since) off its
    ``missing_files``, and ``recording_failed`` cleared when nothing else is missing nor the mix failed; None when
    there is no record of a mix (none yet, a failure's, a reconciled one).

    A transcript fetched by a later ``recording.transcript_completed`` was stored and taken off the meeting's
    ``transcripts_missing``, but only a mix wrote the record, so it stayed listed as missing until a replay. Written
    only over the record as read (its list and ``written_at``): a mix that rewrote it meanwhile read the meeting's
    missing files itself, and wins. A record that lists none of them is returned as it is (its S3 copy is written
    again: a first try may have updated MongoDB and not reached S3).
    """
    for _ in range(3):
        doc = await guarded(conversations.find_one(meeting_key(tenant, meeting_uuid)))
        media = doc.get("media") if doc else None
        if doc is None or not isinstance(media, dict) or not media.get("object_key") or doc.get("failure"):
            return None
        missing = doc.get("missing_files")
        if not isinstance(missing, list) or not set(stored).intersection(missing):
            return ConversationMetadata.from_document(doc)
        remaining = [m for m in missing if m not in stored]
        query = {**meeting_key(tenant, meeting_uuid), "missing_files": missing, "written_at": doc.get("written_at")}
        fields = {"missing_files": remaining, "recording_failed": bool(remaining), "written_at": utcnow()}
        if (await guarded(conversations.update_one(query, {"$set": fields}))).matched_count > 0:
            return ConversationMetadata.from_document({**doc, **fields})
    return None


class ArchiveRecords:
    """Reads and writes of the mixer on ``conversations``, the conversation's archive record."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def store_metadata(self, metadata: ConversationMetadata, occurred_at: datetime | None = None) -> bool:
        """Keep the conversation's archive record for the recording event of ``occurred_at``; False, nothing written,
        when a later delivery's is kept (:func:`store_record`)."""
        return await store_record(self.db[CONVERSATIONS], metadata, occurred_at)

    async def archive_found(
        self, tenant: str, meeting_uuid: str, file_ids: Iterable[str]
    ) -> ConversationMetadata | None:
        """The archive record with ``file_ids`` missing no more (:func:`no_longer_missing`)."""
        return await no_longer_missing(self.db[CONVERSATIONS], tenant, meeting_uuid, frozenset(file_ids))

    async def superseded(self, event: RecordingCompleted) -> bool:
        """True when the archive record was written for a later delivery of the meeting's recording than ``event``."""
        return await written_later(self.db[CONVERSATIONS], event)
