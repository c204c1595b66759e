"""The one path every recording takes into Kafka: claim the receipt, keep the token, publish, mark.

Order matters: claim the receipt (an insert the unique index makes atomic) → publish and wait for
Kafka's acknowledgement (acks=all) → answer → mark the receipt published. A 200 therefore still
means "on Kafka". The mark is written behind the answer: until it is, this replica's memory (recent
keys and the write-behind queue) answers duplicates; a claim left unmarked (crash, or a mark still
queued when another replica gets the duplicate) makes the next delivery publish again with the same
``event_id`` (consumers deduplicate it), never lose the recording.

Concurrent requests share MongoDB round trips (group commit): one insert of all claims waiting,
one insert of all tokens waiting. A download token is written before the answer only when the
tenant has no OAuth credentials (the token is then the only way to download); otherwise it is
written behind it, and a token that never arrives makes the mixer use OAuth.

MongoDB is the deduplication aid, Kafka the record: when MongoDB is down or slow the recording is
still published (counted in ``store_errors``) rather than refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal, Protocol, TypeVar

from pydantic import SecretStr
from pymongo.errors import PyMongoError
from zoomsymbl_common.errors import InfrastructureUnavailable, MongoUnavailable
from zoomsymbl_common.events import Event, RecordingCompleted, utcnow
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_ingest.dedupe import Coalescer, KeyedLocks, RecentKeys, WriteBehind
from zoomsymbl_ingest.metrics import IngestMetrics, StoreOperation
from zoomsymbl_ingest.stores import Acknowledged, DownloadToken, Receipt, ReceiptStore, TokenStore

log = logging.getLogger("zoomsymbl.ingest.intake")
T = TypeVar("T")
Accepted = Literal["published", "duplicate"]
# new: ours to publish; published: a duplicate; unfinished: claimed before but never marked (publish
# again, same event_id); unknown: MongoDB did not answer (publish, the memory deduplicates).
Claimed = Literal["new", "published", "unfinished", "unknown"]
STORE_ERRORS: tuple[type[Exception], ...] = (MongoUnavailable, PyMongoError)
# What makes a MongoDB step on the request's path give up: the server failed or was too slow.
SKIPPED: tuple[type[Exception], ...] = (*STORE_ERRORS, TimeoutError)


class Publisher(Protocol):
    """Publishes an event and returns once Kafka acknowledged it."""

    async def publish(self, event: Event, *, timeout: float) -> None:
        """Raise ``KafkaUnavailable`` when no acknowledgement arrives within ``timeout``."""


def host_allowed(tenant: TenantConfig, host_id: str, host_email: str) -> bool:
    """True when the tenant archives every user, or lists this host's id or e-mail (case-insensitive)."""
    if not tenant.allowed_users:
        return True
    allowed = {user.strip().lower() for user in tenant.allowed_users}
    return bool({host_id.lower(), host_email.lower()} & allowed - {""})


@dataclass
class Intake:
    """Deduplicating, durable publication of :class:`RecordingCompleted` events."""

    publisher: Publisher
    receipts: ReceiptStore
    tokens: TokenStore
    metrics: IngestMetrics
    publish_timeout: float = 2.0
    store_timeout: float = 1.0
    store_concurrency: int = 4
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    recent: RecentKeys = field(default_factory=RecentKeys)
    write_behind_capacity: int = 10_000
    # False: the "published" mark is one more (batched) insert before the answer, for callers that
    # cannot call close() before they exit; a kill -9 then never causes a second publication.
    marks_behind: bool = True

    def __post_init__(self) -> None:
        # A few MongoDB operations at a time: more only queue inside the server, and some servers
        # (SQLite-backed FerretDB) lose most of their throughput to lock contention beyond a handful.
        self._store_gate = asyncio.Semaphore(self.store_concurrency)
        self._background: set[asyncio.Task[None]] = set()
        self._claims = Coalescer(self._claim_batch, parallel=self.store_concurrency)
        self._token_writes = Coalescer(self._token_batch, parallel=self.store_concurrency)
        self._mark_writes = Coalescer(self._mark_now, parallel=self.store_concurrency)
        self._marks: WriteBehind[Acknowledged] = self._write_behind(self._mark_batch, _receipt_key, "receipt_insert")
        self._late_tokens: WriteBehind[DownloadToken] = self._write_behind(
            self._late_token_batch, _meeting_key, "token_store"
        )

    async def accept(
        self,
        event: RecordingCompleted,
        token: SecretStr | None = None,
        token_expires_at: datetime | None = None,
        *,
        token_required: bool = False,
    ) -> Accepted:
        """Publish ``event`` unless this recording (tenant, meeting, file set) was published before.

        Raises ``KafkaUnavailable`` when Kafka did not acknowledge; the claim is dropped then, so a
        retry publishes again. With ``token_required`` (a tenant without OAuth credentials, whose
        recordings can only be downloaded with the token) a usable token that could not be stored
        raises ``MongoUnavailable`` instead of publishing an event nobody could act on.
        """
        key = event.event_id  # stable_id(tenant, meeting uuid, sorted file ids): the receipt key too
        async with self.locks.hold(key):
            if key in self.recent or key in self._marks:
                return self._duplicate(event)
            receipt = Receipt(key, event.tenant, event.meeting_uuid, event.event_id, event.source)
            usable = _usable_token(event, token, token_expires_at)
            # Independent MongoDB round trips run together; for a duplicate the token write only
            # refreshes the stored token, which is harmless.
            claimed, kept = await asyncio.gather(self._claim(receipt), self._keep(usable, durable=token_required))
            if claimed == "published":
                self.recent.add(key)
                return self._duplicate(event)
            if token_required and usable is not None and not kept:
                await self._release(receipt, claimed)
                raise MongoUnavailable("download token not stored and the tenant has no OAuth credentials")
            if kept and usable is not None:
                event = event.model_copy(
                    update={"has_download_token": True, "download_token_expires_at": usable.expires_at}
                )
            await self._publish(event, receipt, claimed)
        return "published"

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """True when any recording of this meeting was published (raises ``MongoUnavailable``)."""
        return await asyncio.wait_for(
            self._gated(partial(self.receipts.meeting_seen, tenant, meeting_uuid)), self.store_timeout * 4
        )

    @property
    def backlog(self) -> int:
        """Receipt marks and download tokens accepted but not yet written."""
        return len(self._marks) + len(self._late_tokens)

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is still queued (call on shutdown, before MongoDB is closed)."""
        if self._background:
            await asyncio.wait(self._background, timeout=timeout)
        await asyncio.gather(self._marks.close(timeout), self._late_tokens.close(timeout))

    def _in_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, event: RecordingCompleted, receipt: Receipt, claimed: Claimed) -> None:
        if claimed == "unfinished":
            log.info("publishing a recording claimed before but never marked published", extra=_fields(event))
        try:
            await self.publisher.publish(event, timeout=self.publish_timeout)
        except InfrastructureUnavailable:
            await self._release(receipt, claimed)
            raise
        except asyncio.CancelledError:  # the request's deadline: its 503 must not wait for MongoDB
            self._in_background(self._release(receipt, claimed))
            raise
        self.metrics.publish(event.source)
        self.recent.add(receipt.key)
        await self._mark(Acknowledged(receipt, claimed in ("new", "unfinished")))

    async def _mark(self, done: Acknowledged) -> None:
        """Record the acknowledgement: queued behind the answer, or written before it (``marks_behind=False``)."""
        if self.marks_behind:
            if not await self._marks.put(done, self.store_timeout):
                self._gave_up("receipt_insert", 1, TimeoutError("write-behind queue full"))
            return
        try:
            await asyncio.wait_for(self._mark_writes.submit(done), self.store_timeout)
        except SKIPPED as exc:
            self._gave_up("receipt_insert", 1, exc)

    async def _claim(self, receipt: Receipt) -> Claimed:
        try:
            return await asyncio.wait_for(self._claims.submit(receipt), self.store_timeout)
        except SKIPPED as exc:
            self._gave_up("receipt_lookup", 1, exc)
            return "unknown"

    async def _claim_batch(self, receipts: list[Receipt]) -> list[Claimed]:
        existing = await self._store(partial(self.receipts.claim, receipts))
        if not existing:
            return ["new"] * len(receipts)
        done = await self._store(partial(self.receipts.published, sorted(existing)))
        return [_outcome(r.key, existing, done) for r in receipts]

    async def _release(self, receipt: Receipt, claimed: Claimed) -> None:
        if claimed != "new":
            return  # not our claim, or none: leave it (a leftover claim is taken over by the retry)
        try:
            await self._store(partial(self.receipts.release, receipt.key))
        except SKIPPED as exc:
            self._gave_up("receipt_insert", 1, exc)

    async def _keep(self, token: DownloadToken | None, *, durable: bool) -> bool:
        """Store ``token`` now (``durable``) or queue it; False when it was neither."""
        if token is None:
            return False
        if not durable:
            queued = await self._late_tokens.put(token, self.store_timeout)
            if not queued:
                self._gave_up("token_store", 1, TimeoutError("write-behind queue full"))
            return queued
        try:
            await asyncio.wait_for(self._token_writes.submit(token), self.store_timeout)
        except SKIPPED as exc:
            self._gave_up("token_store", 1, exc)
            return False
        return True

    async def _token_batch(self, tokens: list[DownloadToken]) -> list[None]:
        await self._store(partial(self.tokens.put_many, tokens))
        return [None] * len(tokens)

    async def _mark_now(self, acknowledged: list[Acknowledged]) -> list[None]:
        await self._store(partial(self.receipts.mark_published, acknowledged))
        return [None] * len(acknowledged)

    async def _mark_batch(self, acknowledged: list[Acknowledged]) -> None:
        await self._gated(partial(self.receipts.mark_published, acknowledged))

    async def _late_token_batch(self, tokens: list[DownloadToken]) -> None:
        await self._gated(partial(self.tokens.put_many, tokens))

    def _write_behind(
        self, write: Callable[[list[T]], Awaitable[None]], key: Callable[[T], str], operation: StoreOperation
    ) -> WriteBehind[T]:
        return WriteBehind(
            write,
            key=key,
            retry_on=STORE_ERRORS,
            on_give_up=partial(self._gave_up, operation),
            capacity=self.write_behind_capacity,
            write_timeout=max(10.0, self.store_timeout * 4),
        )

    def _duplicate(self, event: RecordingCompleted) -> Accepted:
        self.metrics.duplicate(event.source)
        return "duplicate"

    async def _gated(self, work: Callable[[], Awaitable[T]]) -> T:
        # A factory, not a coroutine: a step that times out while queued is then never created.
        async with self._store_gate:
            return await work()

    async def _store(self, work: Callable[[], Awaitable[T]]) -> T:
        """A MongoDB step on the request's path: gated, and given up after ``store_timeout``."""
        return await asyncio.wait_for(self._gated(work), self.store_timeout)

    def _gave_up(self, operation: StoreOperation, count: int, exc: BaseException) -> None:
        """Count MongoDB steps skipped because MongoDB failed or was too slow."""
        self.metrics.store_errors.labels(operation=operation).inc(count)
        log.warning("mongodb step skipped", extra={"operation": operation, "count": count, "error": type(exc).__name__})


def _usable_token(
    event: RecordingCompleted, token: SecretStr | None, expires_at: datetime | None
) -> DownloadToken | None:
    if token is None or expires_at is None or expires_at <= utcnow():
        return None  # none, or a days-late delivery: the mixer uses OAuth instead
    return DownloadToken(event.tenant, event.meeting_uuid, token, expires_at)


def _outcome(key: str, existing: set[str], published: set[str]) -> Claimed:
    if key not in existing:
        return "new"
    return "published" if key in published else "unfinished"


def _receipt_key(acknowledged: Acknowledged) -> str:
    return acknowledged.receipt.key


def _meeting_key(token: DownloadToken) -> str:
    return f"{token.tenant}\x1f{token.meeting_uuid}"


def _fields(event: RecordingCompleted) -> dict[str, str]:
    return {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id}
