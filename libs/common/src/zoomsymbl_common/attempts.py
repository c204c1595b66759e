"""How many times a consumer has tried one message, kept where a restart cannot lose it.

The consumer policy counts an attempt when it starts one, before the handler runs: a process that
dies during the attempt (evicted for a full disk, OOM-killed) has still spent it, so a redelivered
message continues the count instead of restarting it, and a message that kills its consumer every
time is dead-lettered after the budget instead of blocking its partition for good. Waits that do
not spend the budget (429s, our own servers down) give their attempt back; the count is removed
when the message is done (handled or dead-lettered).

:class:`MongoAttempts` keeps the counts in MongoDB (``consumer_attempts``: one document per
consumer, topic and event id, changed only by single-document atomic updates); :class:`MemoryAttempts`
keeps them in the process (the default: unit tests, tools). One message is handled by one consumer
at a time (its partition's owner), so the updates of one count never race each other (the local
FerretDB would not isolate concurrent ``$inc`` on one document; MongoDB does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pymongo import ReturnDocument

from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import CONSUMER_ATTEMPTS, ConsumerAttempt


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
    """The attempt just started: its 1-based number and the error the previous one ended with, if noted."""

    number: int
    last_error: str | None = None


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
        self._counts[key] = Attempt(previous.number + 1, previous.last_error)
        return self._counts[key]

    async def failed(self, key: AttemptKey, reason: str) -> None:
        """Note why the current attempt failed."""
        if key in self._counts:
            self._counts[key] = Attempt(self._counts[key].number, reason)

    async def refund(self, key: AttemptKey) -> None:
        """The current attempt did not count."""
        if key in self._counts:
            current = self._counts[key]
            self._counts[key] = Attempt(max(0, current.number - 1), current.last_error)

    async def forget(self, key: AttemptKey) -> None:
        """Drop the count of ``key``."""
        self._counts.pop(key, None)


class MongoAttempts:
    """Counts in MongoDB's ``consumer_attempts``: they survive restarts and are shared by replicas."""

    def __init__(self, mongo: Mongo) -> None:
        self._collection = mongo.db[CONSUMER_ATTEMPTS]

    async def begin(self, key: AttemptKey) -> Attempt:
        """``$inc`` with upsert: one atomic update, whatever crashed before."""
        doc = await guarded(
            self._collection.find_one_and_update(
                {"_id": key.doc_id},
                {
                    "$inc": {"count": 1},
                    "$set": {"updated_at": datetime.now(tz=UTC)},
                    "$setOnInsert": {"service": key.service, "topic": key.topic, "event_id": key.event_id},
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        if doc is None:  # not with upsert and AFTER; kept for the type checker
            return Attempt(1)
        count = ConsumerAttempt.from_document(doc)
        return Attempt(count.count, count.last_error or None)

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

    async def forget(self, key: AttemptKey) -> None:
        """Delete the count of ``key``."""
        await guarded(self._collection.delete_one({"_id": key.doc_id}))
