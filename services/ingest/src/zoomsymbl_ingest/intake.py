"""The one path every recording takes into Kafka: keep the token, publish, answer, write the receipt.

Order: publish and wait for Kafka's acknowledgement (acks=all) → answer → write the receipt behind
the answer. A 200 therefore means "on Kafka", and nothing on MongoDB's side is waited for unless
the recording can only be downloaded with the webhook's token (see below). Duplicates are caught
in this replica's memory (a per-recording lock, the recent keys and the write-behind queue); a
duplicate delivered to another replica, or after a restart, is published again with the same
``event_id``, which every consumer deduplicates: the mixer finds its mix by input hash, the
submitter its job by key, the notifier its e-mail in the outbox (the duplicate-burst and replay
tests prove no second submission and no second e-mail). Until issue 21 a receipt was *claimed*
in MongoDB before every publish; that round trip doubled the request's latency and caught only
what the consumers catch anyway.

A download token is written before the publish only when the tenant has no OAuth credentials (the
token is then the only way to download); otherwise it is written behind the answer, the event says
a token is coming (``has_download_token``), the mixer waits a few seconds for one it does not find
yet, and a token that never arrives makes it use OAuth.
Concurrent requests share MongoDB round trips (one insert of all tokens waiting; one insert of all
receipts queued).

MongoDB is an aid (deduplication for the backfill, tokens), Kafka the record: when MongoDB is down
or slow the recording is still published (counted in ``store_errors``) rather than refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Literal, Protocol, TypeVar

from pydantic import SecretStr
from pymongo.errors import PyMongoError
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import Event, RecordingCompleted, utcnow
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_ingest.dedupe import Coalescer, KeyedLocks, RecentKeys, WriteBehind
from zoomsymbl_ingest.metrics import IngestMetrics, StoreOperation
from zoomsymbl_ingest.stores import DownloadToken, Receipt, ReceiptStore, TokenStore

log = logging.getLogger("zoomsymbl.ingest.intake")
T = TypeVar("T")
Accepted = Literal["published", "duplicate"]
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
    # Seconds a batch of receipts may wait to fill (issue 21): nothing reads a receipt soon.
    receipt_linger: float = 0.2
    # Late tokens are written at once: the mixer looks for the token as soon as it has the event (and waits a
    # few seconds for one its event announces). A 50 ms linger for them was measured on 2026-12-04 20:55: no
    # difference beyond noise in throughput or in the MongoDB-wire server's CPU (4 alternating pairs).

    def __post_init__(self) -> None:
        # A few MongoDB operations at a time: more only queue inside the server, and some servers
        # (SQLite-backed FerretDB) lose most of their throughput to lock contention beyond a handful.
        self._store_gate = asyncio.Semaphore(self.store_concurrency)
        self._token_writes = Coalescer(self._token_batch, parallel=self.store_concurrency)
        self._receipts: WriteBehind[Receipt] = self._write_behind(
            self._receipt_batch, _receipt_key, "receipt_insert", linger=self.receipt_linger
        )
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
        """Publish ``event`` unless this replica published this recording (tenant, meeting, file set) before.

        Raises ``KafkaUnavailable`` when Kafka did not acknowledge (nothing is recorded, so a retry
        publishes). With ``token_required`` (a tenant without OAuth credentials, whose recordings can
        only be downloaded with the token) a usable token that could not be stored raises
        ``MongoUnavailable`` instead of publishing an event nobody could act on.
        """
        key = event.event_id  # stable_id(tenant, meeting uuid, sorted file ids): the receipt key too
        async with self.locks.hold(key):
            if key in self.recent or key in self._receipts:
                return self._duplicate(event)
            usable = _usable_token(event, token, token_expires_at)
            kept = await self._keep(usable, durable=token_required)
            if token_required and usable is not None and not kept:
                raise MongoUnavailable("download token not stored and the tenant has no OAuth credentials")
            if kept and usable is not None:
                event = event.model_copy(
                    update={"has_download_token": True, "download_token_expires_at": usable.expires_at}
                )
            await self.publisher.publish(event, timeout=self.publish_timeout)
            self.metrics.publish(event.source)
            self.recent.add(key)
            receipt = Receipt(key, event.tenant, event.meeting_uuid, event.event_id, event.source, event.carries_audio)
            if not await self._receipts.put(receipt, self.store_timeout):
                self._gave_up("receipt_insert", 1, TimeoutError("write-behind queue full"))
        return "published"

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """True when any recording of this meeting was published (raises ``MongoUnavailable``).

        Receipts still queued behind their answers count: this process published them.
        """
        if any(r.tenant == tenant and r.meeting_uuid == meeting_uuid and r.audio for r in self._receipts.queued()):
            return True
        async with asyncio.timeout(self.store_timeout * 4):
            return await self._gated(partial(self.receipts.meeting_seen, tenant, meeting_uuid))

    @property
    def backlog(self) -> int:
        """Receipts and download tokens accepted but not yet written."""
        return len(self._receipts) + len(self._late_tokens)

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is still queued (call on shutdown, before MongoDB is closed)."""
        await asyncio.gather(self._receipts.close(timeout), self._late_tokens.close(timeout))

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
            async with asyncio.timeout(self.store_timeout):
                await self._token_writes.submit(token)
        except SKIPPED as exc:
            self._gave_up("token_store", 1, exc)
            return False
        return True

    async def _token_batch(self, tokens: list[DownloadToken]) -> list[None]:
        await self._store(partial(self.tokens.put_many, tokens))
        return [None] * len(tokens)

    async def _receipt_batch(self, receipts: list[Receipt]) -> None:
        await self._gated(partial(self.receipts.record, receipts))

    async def _late_token_batch(self, tokens: list[DownloadToken]) -> None:
        await self._gated(partial(self.tokens.put_many, tokens))

    def _write_behind(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        key: Callable[[T], str],
        operation: StoreOperation,
        *,
        linger: float = 0.0,
    ) -> WriteBehind[T]:
        return WriteBehind(
            write,
            key=key,
            retry_on=STORE_ERRORS,
            on_give_up=partial(self._gave_up, operation),
            capacity=self.write_behind_capacity,
            write_timeout=max(10.0, self.store_timeout * 4),
            linger=linger,
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
        async with asyncio.timeout(self.store_timeout):
            return await self._gated(work)

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


def _receipt_key(receipt: Receipt) -> str:
    return receipt.key


def _meeting_key(token: DownloadToken) -> str:
    return f"{token.tenant}\x1f{token.meeting_uuid}"
