"""What ingest keeps in MongoDB: delivery receipts (deduplication) and webhook download tokens.

A recording's receipt is written once Kafka acknowledged its event (behind the webhook's answer):
a document ``{_id: key + ".published", receipt: key, state: "published"}``. It is an insert: an
insert costs the same whatever the collection's size, while an update or a query by a field other
than ``_id`` may scan the whole collection under the writer's lock on servers that cannot use an
index for it (the local FerretDB on SQLite); a receipt that exists already (a duplicate published
by another replica) is refused as a duplicate key, with the same outcome. Receipts of releases
before issue 21 also left a ``{_id: key, state: "claimed"}`` document per recording; nothing
reads those any more, and the receipts' TTL on ``received_at`` removes them.

Download tokens live in ``meeting_secrets`` until their TTL removes them; they are never written to
Kafka. Both stores take batches: one round trip for many requests.

A receipt says a recording was published, not that anything took it: the mixer notes every recording it begins on
the meeting (a ``meetings`` document) at once. So the backfill and reconciliation take a meeting as seen when it has a
``meetings`` document, or a receipt younger than :data:`UNTAKEN_AFTER` (its event may be queued still); a receipt
older than that with no meeting is an event Kafka lost (all replicas of its partition gone) or a consumer never read
(offsets moved past it by hand), and the meeting is published again. Zoom's transcript alone
(``recording.transcript_completed`` after a lost ``recording.completed``) counts for neither: its receipt says
``audio: false``, and the document the mixer keeps that transcript on (``transcripts``, no mix, no stage) is no
sign the audio was taken (:data:`AUDIO_TAKEN`, :data:`AUDIO_RECEIPTS`).

Tombstones (``zoomsymbl forget``) are read by the backfill only, one read of ``tombstone_unique`` per listed
page; the webhook path never reads them (docs/forget.md, "Nothing brings it back").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from zoomsymbl_common.events import EventSource, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import MEETINGS, RECEIPTS, SECRETS, TOMBSTONES, MeetingSecret, meeting_key
from zoomsymbl_common.records import Receipt as ReceiptRecord

_DUPLICATE_KEY = 11000
MARK_SUFFIX = ".published"
UNTAKEN_AFTER = timedelta(hours=24)
"""How long a published recording may wait for the mixer to begin it (a backlog) before its receipt no longer counts."""


AUDIO_TAKEN: Document = {
    "$or": [{"transcripts": {"$exists": False}}, {"stage": {"$exists": True}}, {"mix": {"$exists": True}}]
}
"""A ``meetings`` document of a meeting whose audio the mixer took: not one made by Zoom's transcript alone (the mixer
keeps a transcript that comes first on the meeting's document, ``transcripts``, and mixes nothing), unless the meeting
was mixed (``mix``) or failed (``stage``) since."""
AUDIO_RECEIPTS: Document = {"audio": {"$ne": False}}
"""Receipts of events with audio for the mixer (earlier releases' have no ``audio`` field: all of theirs had)."""


def live_receipts(now: datetime) -> Document:
    """The filter of receipts younger than :data:`UNTAKEN_AFTER` at ``now``."""
    return {"received_at": {"$gt": now - UNTAKEN_AFTER}}


@dataclass(frozen=True)
class Receipt:
    """Proof that the event for one recording (one file set) was acknowledged by Kafka."""

    key: str
    tenant: str
    meeting_uuid: str
    event_id: str
    source: EventSource
    audio: bool = True
    """The event had audio for the mixer (:attr:`RecordingCompleted.carries_audio`), not Zoom's transcript alone."""


@dataclass(frozen=True)
class DownloadToken:
    """The webhook's ``download_token`` for one meeting, with its expiry."""

    tenant: str
    meeting_uuid: str
    value: SecretStr
    expires_at: datetime


class ReceiptStore(Protocol):
    """Where receipts are recorded and looked up."""

    async def record(self, receipts: Sequence[Receipt]) -> None:
        """Record that these recordings' events were acknowledged by Kafka (a repeat changes nothing)."""

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """True when a published receipt of this meeting exists (whatever its file set)."""


class TokenStore(Protocol):
    """Where download tokens are kept for the mixer."""

    async def put_many(self, tokens: Sequence[DownloadToken]) -> None:
        """Store (or replace) the token of each token's meeting; the last one of a meeting wins."""


class TombstoneReader(Protocol):
    """Where the meetings erased with ``zoomsymbl forget`` are looked up."""

    async def forgotten(self, tenant: str, meeting_uuids: Collection[str]) -> set[str]:
        """Those of ``meeting_uuids`` (of ``tenant``) that have a tombstone; a failed read raises, never "none"."""


def duplicate_indexes(exc: BulkWriteError) -> set[int]:
    """Indexes of the documents refused as duplicates; re-raises when anything else went wrong."""
    errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
    if any(error.get("code") != _DUPLICATE_KEY for error in errors) or exc.details.get("writeConcernErrors"):
        raise exc
    return {int(error["index"]) for error in errors}


async def insert_new(collection: AsyncCollection[Document], docs: Sequence[Document]) -> set[int]:
    """Insert ``docs`` (unordered); the indexes of those that already existed."""
    if not docs:
        return set()
    try:
        await guarded(collection.insert_many(list(docs), ordered=False))
    except BulkWriteError as exc:
        return duplicate_indexes(exc)
    return set()


@dataclass(frozen=True)
class MongoReceipts:
    """Receipts in the ``receipts`` collection (``_id`` and unique ``key``: the receipt key; TTL on ``received_at``)."""

    mongo: Mongo

    async def record(self, receipts: Sequence[Receipt]) -> None:
        # Receipts that exist already (a repeat, another replica) are refused as duplicates: same outcome.
        await insert_new(self.mongo.db[RECEIPTS], [_receipt_doc(r) for r in receipts])

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """The mixer began the meeting's audio, or a recording of it with audio was published lately (module
        docstring)."""
        key = meeting_key(tenant, meeting_uuid)
        if await guarded(self.mongo.db[MEETINGS].find_one({**key, **AUDIO_TAKEN}, {"_id": 1})) is not None:
            return True
        query = {**key, "state": "published", **AUDIO_RECEIPTS, **live_receipts(utcnow())}
        found = await guarded(self.mongo.db[RECEIPTS].find_one(query, {"_id": 1}))
        return found is not None


@dataclass(frozen=True)
class MongoTombstones:
    """Tombstones in the ``tombstones`` collection (unique index ``tombstone_unique`` on tenant and UUID)."""

    mongo: Mongo

    async def forgotten(self, tenant: str, meeting_uuids: Collection[str]) -> set[str]:
        if not meeting_uuids:
            return set()
        query = {"tenant": tenant, "meeting_uuid": {"$in": sorted(set(meeting_uuids))}}
        cursor = self.mongo.db[TOMBSTONES].find(query, {"meeting_uuid": 1})
        return {str(doc["meeting_uuid"]) for doc in await guarded(cursor.to_list(None))}


def _receipt_doc(receipt: Receipt) -> Document:
    key = receipt.key + MARK_SUFFIX
    return ReceiptRecord(
        id=key,
        key=key,
        receipt=receipt.key,
        tenant=receipt.tenant,
        meeting_uuid=receipt.meeting_uuid,
        event_id=receipt.event_id,
        source=receipt.source,
        state="published",
        received_at=utcnow(),
        audio=receipt.audio,
    ).to_document()


@dataclass(frozen=True)
class MongoTokens:
    """Download tokens in ``meeting_secrets`` (unique per meeting, TTL on ``expires_at``)."""

    mongo: Mongo

    async def put_many(self, tokens: Sequence[DownloadToken]) -> None:
        now = utcnow()
        latest = {(t.tenant, t.meeting_uuid): t for t in tokens}  # one write per meeting, the last token wins
        values, collection = list(latest.values()), self.mongo.db[SECRETS]
        docs = [_secret(t, now).to_document() for t in values]
        # Insert first: a meeting's first token is the common case, and an insert is much cheaper than
        # an upsert on some servers (3x on the local FerretDB). A repeat replaces the stored token.
        for index in sorted(await insert_new(collection, docs)):
            token = values[index]
            fields = _secret(token, now).to_document()
            del fields["tenant"], fields["meeting_uuid"]
            await guarded(collection.update_one(meeting_key(token.tenant, token.meeting_uuid), {"$set": fields}))

    async def put(self, token: DownloadToken) -> None:
        """Store (or replace) one meeting's token."""
        await self.put_many([token])


def _secret(token: DownloadToken, now: datetime) -> MeetingSecret:
    return MeetingSecret(
        tenant=token.tenant,
        meeting_uuid=token.meeting_uuid,
        download_token=token.value.get_secret_value(),
        expires_at=token.expires_at,
        updated_at=now,
    )
