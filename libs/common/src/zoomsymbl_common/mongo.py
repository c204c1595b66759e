"""MongoDB through pymongo's ``AsyncMongoClient``: one factory, the indexes every handler relies on.

Idempotency lives in unique indexes, not in read-then-write code: a second insert of the same key
raises ``DuplicateKeyError``, which handlers treat as "already done". Only single-document atomic
updates are used (no transactions, no change streams).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.settings import InfraSettings

Document = dict[str, Any]
T = TypeVar("T")

MEETINGS = "meetings"
RECEIPTS = "receipts"
SECRETS = "meeting_secrets"
JOBS = "jobs"
LIMITER = "limiter"
INSIGHTS = "insights"
EMAILS = "emails"

# A receipt only has to outlive Zoom's last retry (+60 min) and a late duplicate; 30 days is generous.
RECEIPT_TTL_SECONDS = 30 * 24 * 3600

INDEXES: dict[str, list[IndexModel]] = {
    MEETINGS: [
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], unique=True, name="meeting_unique"),
        IndexModel([("stage", ASCENDING), ("updated_at", ASCENDING)], name="stage_updated"),
    ],
    RECEIPTS: [
        IndexModel([("key", ASCENDING)], unique=True, name="receipt_unique"),
        IndexModel([("received_at", ASCENDING)], expireAfterSeconds=RECEIPT_TTL_SECONDS, name="receipt_ttl"),
    ],
    SECRETS: [
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], unique=True, name="secret_unique"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="secret_ttl"),
    ],
    JOBS: [
        IndexModel([("idempotency_key", ASCENDING)], unique=True, name="job_unique"),
        IndexModel([("provider", ASCENDING), ("job_id", ASCENDING)], name="job_lookup"),
        IndexModel([("status", ASCENDING), ("updated_at", ASCENDING)], name="job_status"),
    ],
    INSIGHTS: [
        IndexModel([("provider", ASCENDING), ("conversation_id", ASCENDING)], unique=True, name="insight_unique"),
    ],
    EMAILS: [
        IndexModel(
            [
                ("tenant", ASCENDING),
                ("meeting_uuid", ASCENDING),
                ("generation", ASCENDING),
                ("kind", ASCENDING),
            ],
            unique=True,
            name="email_unique",
        ),
    ],
}

_UNAVAILABLE = (ServerSelectionTimeoutError, ConnectionFailure, AutoReconnect, NetworkTimeout)


@dataclass
class Mongo:
    """An open client and the application database."""

    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]

    async def ping(self) -> None:
        """Raise :class:`MongoUnavailable` unless the server answers."""
        await guarded(self.db.command("ping"))

    async def close(self) -> None:
        """Close every connection."""
        await self.client.close()


def make_mongo(infra: InfraSettings, database: str | None = None) -> Mongo:
    """A client that fails within ``mongo_timeout_ms`` instead of hanging when the server is down."""
    timeout = infra.mongo_timeout_ms
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infra.mongo_uri.get_secret_value(),
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=max(timeout, 10_000),
        tz_aware=True,
        appname="zoomsymbl",
    )
    return Mongo(client=client, db=client[database or infra.mongo_database])


async def ensure_indexes(mongo: Mongo) -> None:
    """Create every index of :data:`INDEXES` (idempotent)."""
    for collection, models in INDEXES.items():
        await guarded(mongo.db[collection].create_indexes(models))


async def guarded(operation: Awaitable[T]) -> T:
    """Await a MongoDB operation, turning "server unreachable" errors into :class:`MongoUnavailable`."""
    try:
        return await operation
    except _UNAVAILABLE as exc:
        raise MongoUnavailable(type(exc).__name__) from exc
