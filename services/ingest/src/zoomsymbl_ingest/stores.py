"""What ingest keeps in MongoDB: delivery receipts (deduplication) and webhook download tokens.

A receipt is written only after Kafka acknowledged the event, keyed on (tenant, meeting uuid, set
of file ids); the unique index on ``key`` makes a racing second insert a harmless
``DuplicateKeyError``. Download tokens live in ``meeting_secrets`` until their TTL removes them;
they are never written to Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.events import EventSource, utcnow
from zoomsymbl_common.mongo import RECEIPTS, SECRETS, Mongo, guarded


@dataclass(frozen=True)
class Receipt:
    """Proof that the event for one recording (one file set) was acknowledged by Kafka."""

    key: str
    tenant: str
    meeting_uuid: str
    event_id: str
    source: EventSource


@dataclass(frozen=True)
class DownloadToken:
    """The webhook's ``download_token`` for one meeting, with its expiry."""

    tenant: str
    meeting_uuid: str
    value: SecretStr
    expires_at: datetime


class ReceiptStore(Protocol):
    """Where receipts are looked up and written."""

    async def seen(self, key: str) -> bool:
        """True when a receipt with ``key`` exists."""

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """True when any receipt of this meeting exists (whatever its file set)."""

    async def record(self, receipt: Receipt) -> None:
        """Write ``receipt``; an existing one with the same key is kept."""


class TokenStore(Protocol):
    """Where download tokens are kept for the mixer."""

    async def put(self, token: DownloadToken) -> None:
        """Store (or replace) the token of ``token.meeting_uuid``."""


@dataclass(frozen=True)
class MongoReceipts:
    """Receipts in the ``receipts`` collection (unique ``key``, TTL on ``received_at``)."""

    mongo: Mongo

    async def seen(self, key: str) -> bool:
        found = await guarded(self.mongo.db[RECEIPTS].find_one({"key": key}, {"_id": 1}))
        return found is not None

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        query = {"tenant": tenant, "meeting_uuid": meeting_uuid}
        found = await guarded(self.mongo.db[RECEIPTS].find_one(query, {"_id": 1}))
        return found is not None

    async def record(self, receipt: Receipt) -> None:
        doc = {
            "key": receipt.key,
            "tenant": receipt.tenant,
            "meeting_uuid": receipt.meeting_uuid,
            "event_id": receipt.event_id,
            "source": receipt.source,
            "received_at": utcnow(),
        }
        try:
            await guarded(self.mongo.db[RECEIPTS].insert_one(doc))
        except DuplicateKeyError:
            return  # a concurrent delivery (another replica) recorded it first: same outcome


@dataclass(frozen=True)
class MongoTokens:
    """Download tokens in ``meeting_secrets`` (unique per meeting, TTL on ``expires_at``)."""

    mongo: Mongo

    async def put(self, token: DownloadToken) -> None:
        fields = {
            "download_token": token.value.get_secret_value(),
            "expires_at": token.expires_at,
            "updated_at": utcnow(),
        }
        collection = self.mongo.db[SECRETS]
        # Insert first: a meeting's first token is the common case, and an insert is much cheaper than
        # an upsert on some servers (3x on the local FerretDB). A repeat replaces the stored token.
        try:
            await guarded(collection.insert_one({"tenant": token.tenant, "meeting_uuid": token.meeting_uuid, **fields}))
        except DuplicateKeyError:
            await guarded(
                collection.update_one({"tenant": token.tenant, "meeting_uuid": token.meeting_uuid}, {"$set": fields})
            )
