"""How many times a consumer has tried one message, kept where a restart cannot lose it.

The consumer policy counts an attempt when it starts one, before the handler runs: a process that
dies during the attempt (evicted for a full disk, OOM-killed) has still spent it, so a redelivered
message continues the count instead of restarting it, and a message that kills its consumer every
time is dead-lettered after the budget instead of blocking its partition for good. Waits that do
not spend the budget (429s, our own servers down) give their attempt back; the count is removed
when the message is done (handled or dead-lettered). An attempt the service's own stop cut short
(a rollout, a drain, an eviction: the handler cancelled) is noted as an *interruption* instead,
which has a budget of its own (``RetryPolicy.max_interruptions``): a long job (a Whisper
transcription of an 8-hour meeting) must not be dead-lettered by a day of deploys, and a message
that brings its service down gracefully every time must still end. A process killed outright
(SIGKILL, the OOM killer) notes nothing, so its attempt stays spent.

:class:`MongoAttempts` keeps the counts in MongoDB (``consumer_attempts``: one document per
consumer, topic and event id, changed only by single-document atomic updates); :class:`MemoryAttempts`
keeps them in the process (the default: unit tests, tools). One message is handled by one consumer
at a time (its partition's owner), so the updates of one count never race each other (FerretDB
1.x as released would not isolate concurrent ``$inc`` on one document; MongoDB does).

Only counting an attempt has to come before the handler; dropping a done message's count does not
have to come before its offset is committed. So :class:`MongoAttempts` queues the counts it forgets
and deletes them behind the messages, a batch in one command (issue 21: one round trip less on
each message's path, and fewer commands for the server); :meth:`MongoAttempts.close` deletes the
rest. A count whose delete is lost (a crash, MongoDB down) is what a crash between handler and
delete left before: it expires (``ATTEMPT_TTL_SECONDS``). A message begun again while its count is
queued (a redelivery, a replay) starts again from 1, as it would after the delete, never from the
old count.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import DeleteOne, ReturnDocument

from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import CONSUMER_ATTEMPTS, ConsumerAttempt

log = logging.getLogger("zoomsymbl.attempts")


@dataclass(frozen=True)
class AttemptKey:
    """One message as one consumer sees it: its service (one consumer group per topic), topic and event id."""

    service: str
    topic: str
    event_id: str

    @property
    def doc_id(self) -> str:
        """A bounded, collision-free document id (event ids may be long)."""
        return hashlib.sha256(f"{self.service}\x1f{self.topic}\x1f{self.event_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """The attempt just started: its 1-based number, the error the previous one ended with (if noted), and how
    many attempts before it the service's stop cut short (not counted in ``number``)."""

    number: int
    last_error: str | None = None
    interruptions: int = 0


class AttemptStore(Protocol):
    """Where a consumer counts the attempts of the messages it handles."""

    async def begin(self, key: AttemptKey) -> Attempt:
        """Count one more attempt of ``key`` and return it."""
        ...

    async def failed(self, key: AttemptKey, reason: str) -> None:
        """Note why the current attempt failed (named when the budget runs out after a restart)."""
        ...

    async def refund(self, key: AttemptKey) -> None:
        """The current attempt did not count (a 429, an outage of our own servers)."""
        ...

    async def interrupted(self, key: AttemptKey) -> None:
        """The current attempt was cut short by the service stopping: an interruption, not an attempt."""
        ...

    async def forget(self, key: AttemptKey) -> None:
        """The message is done: drop its count."""
        ...


class MemoryAttempts:
    """Counts in this process only: lost on restart (the behaviour without a database)."""

    def __init__(self) -> None:
        self._counts: dict[AttemptKey, Attempt] = {}

    async def begin(self, key: AttemptKey) -> Attempt:
        """Count one more attempt of ``key`` and return it."""
        previous = self._counts.get(key, Attempt(0))
        self._counts[key] = replace(previous, number=previous.number + 1)
        return self._counts[key]

    async def failed(self, key: AttemptKey, reason: str) -> None:
        """Note why the current attempt failed."""
        if key in self._counts:
            self._counts[key] = replace(self._counts[key], last_error=reason)

    async def refund(self, key: AttemptKey) -> None:
        """The current attempt did not count."""
        if key in self._counts:
            current = self._counts[key]
            self._counts[key] = replace(current, number=max(0, current.number - 1))

    async def interrupted(self, key: AttemptKey) -> None:
        """Count the current attempt as an interruption."""
        if key in self._counts:
            current = self._counts[key]
            self._counts[key] = replace(
                current, number=max(0, current.number - 1), interruptions=current.interruptions + 1
            )

    async def forget(self, key: AttemptKey) -> None:
        """Drop the count of ``key``."""
        self._counts.pop(key, None)


class MongoAttempts:
    """Counts in MongoDB's ``consumer_attempts``: they survive restarts and are shared by replicas.

    :meth:`begin`, :meth:`failed` and :meth:`refund` write at once. :meth:`forget` only queues the
    count's delete: a background task deletes the queue ``linger`` seconds after a forget, in
    batches of ``batch`` (one ``delete`` command of deletes by ``_id``), one batch in flight at a
    time. The queue holds at most ``max_pending`` counts: a forget that finds it full deletes it
    before returning. A delete that fails goes back to the queue (what does not fit is left to
    expire). :meth:`close` stops the task and deletes what is queued; a forget after it deletes at once.

    Begun again while its delete is queued, a message's count restarts at 1 (``$set``, not ``$inc``:
    the delete and the new count in one update); while its delete is in flight, :meth:`begin` waits
    for that delete to settle first. So a queued delete never leaves a count higher than the
    deletes in line would have. (Across processes, a redelivery to another replica before this one's
    queue was deleted would continue the done message's count, as after a crash between handler and
    delete; a partition moves in a rebalance, seconds, and the queue waits ``linger``.)
    """

    def __init__(self, mongo: Mongo, *, linger: float = 0.1, batch: int = 500, max_pending: int = 10_000) -> None:
        self._collection = mongo.db[CONSUMER_ATTEMPTS]
        self._linger = linger
        self._batch = batch
        self._max_pending = max_pending
        self._pending: dict[str, None] = {}  # doc ids to delete, oldest first (an ordered set)
        self._in_flight: frozenset[str] = frozenset()  # the batch being deleted
        self._lock = asyncio.Lock()  # one batch in flight at a time
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Counts forgotten and not deleted yet."""
        return len(self._pending) + len(self._in_flight)

    async def begin(self, key: AttemptKey) -> Attempt:
        """``$inc`` with upsert: one atomic update, whatever crashed before (from 1 again if it was forgotten)."""
        doc_id = key.doc_id
        if doc_id in self._in_flight:
            async with self._lock:  # its delete settles first: deleted, or back in the queue
                pass
        forgotten = self._pending.pop(doc_id, False) is None
        now = datetime.now(tz=UTC)
        on_insert = {"service": key.service, "topic": key.topic, "event_id": key.event_id}
        update: dict[str, Any] = (
            {
                "$set": {"count": 1, "updated_at": now},
                "$unset": {"last_error": "", "interruptions": ""},
                "$setOnInsert": on_insert,
            }
            if forgotten
            else {"$inc": {"count": 1}, "$set": {"updated_at": now}, "$setOnInsert": on_insert}
        )
        try:
            doc = await guarded(
                self._collection.find_one_and_update(
                    {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
                )
            )
        except BaseException:
            if forgotten:  # not known to have restarted: the next begin restarts it
                self._requeue([doc_id])
            raise
        if doc is None:  # not with upsert and AFTER; kept for the type checker
            return Attempt(1)
        attempt = ConsumerAttempt.from_document(doc)
        return Attempt(attempt.count, attempt.last_error or None, attempt.interruptions)

    async def failed(self, key: AttemptKey, reason: str) -> None:
        """Note why the current attempt failed."""
        await guarded(
            self._collection.update_one(
                {"_id": key.doc_id}, {"$set": {"last_error": reason[:1000], "updated_at": datetime.now(tz=UTC)}}
            )
        )

    async def refund(self, key: AttemptKey) -> None:
        """Give the current attempt back."""
        await guarded(self._collection.update_one({"_id": key.doc_id}, {"$inc": {"count": -1}}))

    async def interrupted(self, key: AttemptKey) -> None:
        """Turn the current attempt into an interruption (one atomic update)."""
        update = {"$inc": {"count": -1, "interruptions": 1}, "$set": {"updated_at": datetime.now(tz=UTC)}}
        await guarded(self._collection.update_one({"_id": key.doc_id}, update))

    async def forget(self, key: AttemptKey) -> None:
        """Queue the delete of ``key``'s count (at once after :meth:`close`, or when the queue is full)."""
        if self._closed:
            await guarded(self._collection.delete_one({"_id": key.doc_id}))
            return
        self._pending[key.doc_id] = None
        if len(self._pending) >= self._max_pending:
            await self.flush()  # back-pressure: the queue stays bounded
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_behind(), name="attempts-forget-flusher")
        self._wake.set()

    async def flush(self) -> None:
        """Delete every count queued so far, a batch at a time; a failed batch goes back to the queue and raises."""
        async with self._lock:
            while self._pending:
                ids = list(itertools.islice(self._pending, self._batch))
                for doc_id in ids:
                    del self._pending[doc_id]
                self._in_flight = frozenset(ids)
                deleted = False
                try:
                    # One command of deletes by ``_id`` alone: the local FerretDB finds a document
                    # without scanning only for such a filter (``{"_id": {"$in": ...}}`` scans).
                    await guarded(self._collection.bulk_write([DeleteOne({"_id": i}) for i in ids], ordered=False))
                    deleted = True
                finally:
                    self._in_flight = frozenset()
                    if not deleted:
                        self._requeue(ids)

    async def close(self) -> None:
        """Stop deleting behind and delete what is queued (once the consumers have stopped)."""
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            await self.flush()
        except Exception as exc:  # closing: what is left expires by TTL
            log.warning("attempt counts left to expire", extra={"counts": len(self._pending), "error": str(exc)})
            self._pending.clear()

    async def _flush_behind(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._linger)  # what the other consumers forget meanwhile joins the batch
            self._wake.clear()
            try:
                await self.flush()
            except MongoUnavailable as exc:  # MongoDB away: the deletes are tried again
                log.warning("attempt counts not deleted yet", extra={"counts": len(self._pending), "error": str(exc)})
                await asyncio.sleep(max(self._linger, 1.0))
                self._wake.set()
            except Exception:  # anything else would fail again: the queued counts are left to expire (TTL)
                log.exception("attempt counts left to expire", extra={"counts": len(self._pending)})
                self._pending.clear()

    def _requeue(self, ids: list[str]) -> None:
        """Put deletes back in the queue, as far as it has room (a count left out expires by TTL)."""
        room = max(0, self._max_pending - len(self._pending))
        for doc_id in ids[:room]:
            self._pending[doc_id] = None
        if len(ids) > room:
            log.warning("attempt counts left to expire", extra={"counts": len(ids) - room})
