"""MongoDB through pymongo's ``AsyncMongoClient``: one factory, the indexes every handler relies on.

Idempotency lives in unique indexes, not in read-then-write code: a second insert of the same key
raises ``DuplicateKeyError``, which handlers treat as "already done". Only single-document atomic
updates are used (no transactions, no change streams).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dns.exception import DNSException
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from zoomsymbl_common.errors import ConfigError, MongoUnauthorized, MongoUnavailable
from zoomsymbl_common.logs import redact
from zoomsymbl_common.records.names import (
    CONSUMER_ATTEMPTS,
    CONVERSATIONS,
    EARLY_CALLBACKS,
    EMAIL_CLAIMS,
    EMAILS,
    INSIGHTS,
    JOB_CLAIMS,
    JOBS,
    MEETINGS,
    RECEIPTS,
    SECRETS,
    TOMBSTONES,
    TRANSCRIPTION_CHECKPOINTS,
)
from zoomsymbl_common.settings import InfraSettings, env_name

Document = dict[str, Any]
log = logging.getLogger("zoomsymbl.mongo")
_NOT_IMPLEMENTED = 238
T = TypeVar("T")


# A receipt only has to outlive Zoom's last retry (+60 min) and a late duplicate; 30 days is generous.
RECEIPT_TTL_SECONDS = 30 * 24 * 3600
# A count is dropped when its message is done; one left behind (the drop failed) must not outlive a
# week: every attempt refreshes ``updated_at``, so a message still being retried is never expired.
ATTEMPT_TTL_SECONDS = 7 * 24 * 3600
# A checkpoint is dropped when its job's result is stored; one left behind (the drop failed, the job was failed by the
# notifier's give-up, 48 h after its submission by default) must not keep a transcript's text for ever.
CHECKPOINT_TTL_SECONDS = 7 * 24 * 3600

INDEXES: dict[str, list[IndexModel]] = {
    MEETINGS: [
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], unique=True, name="meeting_unique"),
        IndexModel([("stage", ASCENDING), ("updated_at", ASCENDING)], name="stage_updated"),
        # Ops CLI: ``zoomsymbl status`` lists the most recently updated meetings of every tenant, and
        # ``zoomsymbl status <uuid>`` finds a meeting by its UUID without a tenant.
        IndexModel([("updated_at", ASCENDING)], name="meeting_recent"),
        IndexModel([("meeting_uuid", ASCENDING)], name="meeting_uuid"),
        # Phone reconciliation: which of a page of calls have a meeting (``call.call_id``).
        IndexModel([("tenant", ASCENDING), ("call.call_id", ASCENDING)], name="meeting_call"),
        # The submitter's pass over what leftover cleanups kept for unfinished jobs (only meetings with such a note).
        IndexModel([("leftovers_held.due", ASCENDING)], name="meeting_leftovers_held_due", sparse=True),
        # The submitter's pass over zoom-source meetings waiting for Zoom's transcript (only meetings with the note).
        IndexModel([("zoom_transcript_wait.since", ASCENDING)], name="meeting_transcript_wait", sparse=True),
    ],
    CONVERSATIONS: [
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], unique=True, name="conversation_unique"),
        # Phone reconciliation: which of a page of calls the archive holds a record of (``platform_id``).
        IndexModel(
            [("tenant", ASCENDING), ("source_platform", ASCENDING), ("platform_id", ASCENDING)],
            name="conversation_platform_id",
        ),
        # ``zoomsymbl status --failed``: the meetings reconciliation flagged, newest first.
        IndexModel([("recording_failed", ASCENDING), ("start_time", ASCENDING)], name="conversation_failed_start"),
    ],
    RECEIPTS: [
        IndexModel([("key", ASCENDING)], unique=True, name="receipt_unique"),
        # Backfill asks "was any recording of this meeting published?" before calling Zoom.
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], name="receipt_meeting"),
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
        # Notifier: a callback token names its job by job_ref; parts of a meeting; the sweeper's query.
        IndexModel([("job_ref", ASCENDING)], name="job_ref"),
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING), ("generation", ASCENDING)], name="job_meeting"),
        IndexModel([("processed_at", ASCENDING), ("updated_at", ASCENDING)], name="job_unfinished"),
    ],
    INSIGHTS: [
        IndexModel([("provider", ASCENDING), ("conversation_id", ASCENDING)], unique=True, name="insight_unique"),
        # The meeting page (web): every part of one meeting's generation.
        IndexModel(
            [("tenant", ASCENDING), ("meeting_uuid", ASCENDING), ("generation", ASCENDING)], name="insight_meeting"
        ),
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
        # Notifier: the outbox sweep looks for e-mails due for a (re)try.
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="email_due"),
    ],
    # One document per send attempt, ``_id`` = e-mail key + attempt number: the unique ``_id`` decides
    # which deliverer sends (inserts are isolated on every MongoDB-wire server; conditional updates are
    # not on FerretDB). Kept long after the last retry could happen.
    EMAIL_CLAIMS: [
        IndexModel([("claimed_at", ASCENDING)], expireAfterSeconds=RECEIPT_TTL_SECONDS, name="email_claim_ttl"),
    ],
    # The submitter's attempt markers ``{job_ref}#{n}``, one per retried submission: a marker only has to
    # outlive the job's ``submit_attempts`` reaching n (seconds), so 30 days is generous.
    JOB_CLAIMS: [
        IndexModel([("at", ASCENDING)], expireAfterSeconds=RECEIPT_TTL_SECONDS, name="job_claim_ttl"),
    ],
    # Provider callbacks that came before the submitter stored the job id, ``_id`` = the job's ``_id``:
    # an insert, never an update of the job (FerretDB would lose the submitter's concurrent update).
    EARLY_CALLBACKS: [
        IndexModel([("at", ASCENDING)], expireAfterSeconds=RECEIPT_TTL_SECONDS, name="early_callback_ttl"),
    ],
    # Attempt counts of the consumer policy (zoomsymbl_common.attempts), ``_id`` = digest of service, topic, event id.
    CONSUMER_ATTEMPTS: [
        IndexModel([("updated_at", ASCENDING)], expireAfterSeconds=ATTEMPT_TTL_SECONDS, name="attempt_ttl"),
    ],
    # The transcriber's checkpoints, ``_id`` = ``{job_id}#{channel}#{write}#{part}``: a channel's parts are read by job.
    TRANSCRIPTION_CHECKPOINTS: [
        IndexModel([("job_id", ASCENDING), ("channel", ASCENDING)], name="checkpoint_job"),
        IndexModel([("written_at", ASCENDING)], expireAfterSeconds=CHECKPOINT_TTL_SECONDS, name="checkpoint_ttl"),
    ],
    # Forgotten meetings (``zoomsymbl forget``): the mixer and replay read one before any work on a meeting.
    TOMBSTONES: [
        IndexModel([("tenant", ASCENDING), ("meeting_uuid", ASCENDING)], unique=True, name="tombstone_unique"),
    ],
}

__all__ = ["Document", "Mongo", "ensure_indexes", "guarded", "make_mongo", "purge_expired", "ttl_fields"]
_UNAVAILABLE = (ServerSelectionTimeoutError, ConnectionFailure, AutoReconnect, NetworkTimeout)
# Server answers that mean "the replica set is between primaries, shutting down or cannot reach a member": pymongo
# turns them into ``NotPrimaryError`` only as a command's own error, not inside a write concern error (a primary
# stepping down while the write replicates), and raises the network ones (a mongos) as a plain ``OperationFailure``
# once its single retry failed too. Codes: HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress,
# ReadConcernMajorityNotAvailableYet, PrimarySteppedDown, ExceededTimeLimit, SocketException, LegacyNotPrimary,
# NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk,
# NotPrimaryOrSecondary (pymongo's retryable error codes). Then the server refusing our credentials
# (AuthenticationFailed, 18: a rotated password, a user removed; every operation fails alike, so it is our server being
# out of reach, not the message's fault, and spending messages' attempts on it dead-lettered them), running out of time
# (MaxTimeMSExpired, 50: a server limit on an overloaded cluster) and losing a cursor we were reading
# (CursorNotFound, 43: killed by a restart, a failover or its idle timeout; the operation, run again, opens a new one).
_UNAVAILABLE_CODES = frozenset(
    {6, 7, 18, 43, 50, 89, 91, 134, 189, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436}
)
_UNAUTHORIZED = 13  # a role lacking a privilege: an operator's matter as 18 is (MongoUnauthorized)


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
    # A private CA (ZOOMSYMBL_MONGO_CA_FILE) implies TLS; the server's certificate and host are always verified.
    tls: dict[str, Any] = {"tlsCAFile": infra.mongo_ca_file} if infra.mongo_ca_file else {}
    try:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            infra.mongo_uri.get_secret_value(),
            serverSelectionTimeoutMS=timeout,
            connectTimeoutMS=timeout,
            socketTimeoutMS=max(timeout, 10_000),
            tz_aware=True,
            appname="zoomsymbl",
            **tls,
        )
    except ConfigurationError as exc:
        # E.g. tls=false in the URI beside a CA file, or a URI pymongo cannot parse; its password is redacted.
        names = tuple(env_name(InfraSettings, f) for f in ("mongo_uri", *(["mongo_ca_file"] if tls else [])))
        raise ConfigError(
            f"invalid MongoDB settings ({', '.join(names)}): {redact(str(exc))}", variables=names
        ) from None
    return Mongo(client=client, db=client[database or infra.mongo_database])


async def ensure_indexes(mongo: Mongo) -> None:
    """Create every index of :data:`INDEXES` (idempotent).

    A server without TTL indexes (FerretDB 1.x) gets plain indexes instead; :func:`purge_expired`
    then does the expiry, so behaviour is the same on MongoDB and on the local test server.

    A refused index (one of the same name with other options, made by hand) does not keep the others from being
    created: the first refusal (a role without ``createIndex``: :class:`MongoUnauthorized`) is raised once every
    other index was tried. "Unreachable" stops at once.
    """
    refused: OperationFailure | MongoUnauthorized | None = None
    for collection, models in INDEXES.items():
        for model in models:
            try:
                await _create_index(mongo, collection, model)
            except (OperationFailure, MongoUnauthorized) as exc:
                refused = refused or exc
    if refused is not None:
        raise refused


async def _create_index(mongo: Mongo, collection: str, model: IndexModel) -> None:
    try:
        await guarded(mongo.db[collection].create_indexes([model]))
    except OperationFailure as exc:
        if exc.code != _NOT_IMPLEMENTED or "expireAfterSeconds" not in model.document:
            raise
        plain = {k: v for k, v in model.document.items() if k not in ("key", "expireAfterSeconds")}
        await guarded(mongo.db[collection].create_index(list(model.document["key"].items()), **plain))
        log.info("ttl index emulated by purge_expired", extra={"collection": collection})


async def purge_expired(mongo: Mongo, *, now: datetime | None = None) -> int:
    """Delete what the TTL indexes of :data:`INDEXES` would have deleted; returns the number of documents removed."""
    moment = now or datetime.now(tz=UTC)
    removed = 0
    for collection, field, seconds in ttl_fields():
        cutoff = moment - timedelta(seconds=seconds)
        result = await guarded(mongo.db[collection].delete_many({field: {"$lt": cutoff}}))
        removed += int(result.deleted_count)
    return removed


def ttl_fields() -> list[tuple[str, str, int]]:
    """Every TTL index of :data:`INDEXES` as (collection, date field, seconds after which a document expires)."""
    return [
        (collection, next(iter(model.document["key"])), int(model.document["expireAfterSeconds"]))
        for collection, models in INDEXES.items()
        for model in models
        if "expireAfterSeconds" in model.document
    ]


async def guarded(operation: Awaitable[T]) -> T:
    """Await a MongoDB operation, turning "server unreachable" errors into :class:`MongoUnavailable` (a role lacking
    a privilege into its :class:`MongoUnauthorized`)."""
    try:
        return await operation
    except _UNAVAILABLE as exc:
        raise MongoUnavailable(type(exc).__name__) from exc
    except ConfigurationError as exc:
        # A ``mongodb+srv://`` URI is resolved at the first operation, and again after a failure: DNS not answering
        # (or not knowing the name, as for a plain host name, which pymongo waits out as a server selection timeout).
        if not isinstance(exc.__cause__, DNSException):
            raise
        raise MongoUnavailable(f"DNS: {type(exc.__cause__).__name__}") from exc
    except OperationFailure as exc:
        if exc.code == _UNAUTHORIZED:
            raise MongoUnauthorized() from exc
        if not _server_away(exc):
            raise
        name = exc.details.get("codeName") if isinstance(exc.details, dict) else None
        detail = f"{type(exc).__name__} {exc.code}" + (f" {name}" if isinstance(name, str) else "")
        raise MongoUnavailable(detail) from exc


def _server_away(exc: OperationFailure) -> bool:
    """True when ``exc`` is the replica set failing over, shutting down or not replicating in time, not a refusal of
    the operation: a write concern not met within ``wtimeoutMS``, or one of :data:`_UNAVAILABLE_CODES`, also as the
    write concern error of a bulk write that had no write error."""
    if isinstance(exc, WTimeoutError) or exc.code in _UNAVAILABLE_CODES:
        return True
    if not isinstance(exc, BulkWriteError) or exc.details.get("writeErrors"):
        return False
    concerns: list[Document] = exc.details.get("writeConcernErrors") or []
    return any(c.get("code") in _UNAVAILABLE_CODES or (c.get("errInfo") or {}).get("wtimeout") for c in concerns)
