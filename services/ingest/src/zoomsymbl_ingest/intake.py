"""The one path every recording takes into Kafka: deduplicate, keep the token, publish, write the receipt.

Order matters: check the receipt → publish and wait for Kafka's acknowledgement → write the
receipt. A crash between the last two only causes a repeat with the same ``event_id``, never a
loss. MongoDB is the deduplication aid, Kafka the record: when MongoDB is down or slow the
recording is still published (counted in ``store_errors``) rather than refused.
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

from zoomsymbl_ingest.dedupe import KeyedLocks, RecentKeys
from zoomsymbl_ingest.metrics import IngestMetrics, StoreOperation
from zoomsymbl_ingest.stores import DownloadToken, Receipt, ReceiptStore, TokenStore

log = logging.getLogger("zoomsymbl.ingest.intake")
T = TypeVar("T")
Accepted = Literal["published", "duplicate"]


class Publisher(Protocol):
    """Publishes an event and returns once Kafka acknowledged it."""

    async def publish(self, event: Event, *, timeout: float) -> None:
        """Raise ``KafkaUnavailable`` when no acknowledgement arrives within ``timeout``."""


def has_oauth(tenant: TenantConfig) -> bool:
    """True when the tenant has Server-to-Server OAuth credentials (backfill and token-less downloads need them)."""
    return bool(tenant.zoom_account_id and tenant.zoom_client_id and tenant.zoom_client_secret.get_secret_value())


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

    def __post_init__(self) -> None:
        # A few MongoDB operations at a time: more only queue inside the server, and some servers
        # (SQLite-backed FerretDB) lose most of their throughput to lock contention beyond a handful.
        self._store_gate = asyncio.Semaphore(self.store_concurrency)

    async def accept(
        self,
        event: RecordingCompleted,
        token: SecretStr | None = None,
        token_expires_at: datetime | None = None,
        *,
        token_required: bool = False,
    ) -> Accepted:
        """Publish ``event`` unless this recording (tenant, meeting, file set) was published before.

        Raises ``KafkaUnavailable`` when Kafka did not acknowledge; nothing is recorded then, so a
        retry publishes again. With ``token_required`` (a tenant without OAuth credentials, whose
        recordings can only be downloaded with the token) a token that could not be stored raises
        ``MongoUnavailable`` instead of publishing an event nobody could act on.
        """
        key = event.event_id  # stable_id(tenant, meeting uuid, sorted file ids): the receipt key too
        async with self.locks.hold(key):
            if key in self.recent:
                return self._duplicate(event)
            # Independent MongoDB round trips run together; for a duplicate the token write only
            # refreshes the stored token, which is harmless.
            seen, event = await asyncio.gather(self._seen(key), self._with_token(event, token, token_expires_at))
            if token_required and token is not None and not event.has_download_token and not seen:
                raise MongoUnavailable("download token not stored and the tenant has no OAuth credentials")
            if seen:
                self.recent.add(key)
                return self._duplicate(event)
            await self.publisher.publish(event, timeout=self.publish_timeout)
            self.metrics.publish(event.source)
            self.recent.add(key)
            receipt = Receipt(key, event.tenant, event.meeting_uuid, event.event_id, event.source)
            await self._quietly("receipt_insert", partial(self.receipts.record, receipt), None)
        return "published"

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        """True when any recording of this meeting was published (raises ``MongoUnavailable``)."""
        return await asyncio.wait_for(
            self._gated(partial(self.receipts.meeting_seen, tenant, meeting_uuid)), self.store_timeout * 4
        )

    async def _seen(self, key: str) -> bool:
        return await self._quietly("receipt_lookup", partial(self.receipts.seen, key), False)

    def _duplicate(self, event: RecordingCompleted) -> Accepted:
        self.metrics.duplicate(event.source)
        return "duplicate"

    async def _with_token(
        self, event: RecordingCompleted, token: SecretStr | None, expires_at: datetime | None
    ) -> RecordingCompleted:
        if token is None or expires_at is None or expires_at <= utcnow():
            return event  # none, or a days-late delivery: the mixer uses OAuth instead
        stored = DownloadToken(event.tenant, event.meeting_uuid, token, expires_at)
        if not await self._quietly("token_store", partial(self._put_token, stored), False):
            return event
        return event.model_copy(update={"has_download_token": True, "download_token_expires_at": expires_at})

    async def _put_token(self, token: DownloadToken) -> bool:
        await self.tokens.put(token)
        return True

    async def _gated(self, work: Callable[[], Awaitable[T]]) -> T:
        # A factory, not a coroutine: a step that times out while queued is then never created.
        async with self._store_gate:
            return await work()

    async def _quietly(self, operation: StoreOperation, work: Callable[[], Awaitable[T]], fallback: T) -> T:
        """Run a MongoDB step within ``store_timeout``; when MongoDB fails, count it and use ``fallback``."""
        try:
            return await asyncio.wait_for(self._gated(work), self.store_timeout)
        except (MongoUnavailable, PyMongoError, TimeoutError) as exc:
            self.metrics.store_error(operation)
            log.warning("mongodb step skipped", extra={"operation": operation, "error": type(exc).__name__})
            return fallback
