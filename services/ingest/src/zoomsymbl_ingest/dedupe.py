"""In-process deduplication helpers: one lock per receipt key, and a memory of recently published keys.

The lock serialises identical deliveries inside one replica, so a burst of Zoom retries publishes
once. The memory answers repeats without a MongoDB round trip and keeps deduplicating while MongoDB
is unreachable. Across replicas the receipt in MongoDB is the only guard: two replicas racing on the
same recording may both publish, with the same ``event_id``, which consumers deduplicate.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """An ``asyncio.Lock`` per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class RecentKeys:
    """The last ``capacity`` keys added, least recently used forgotten first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        if key in self._keys:
            self._keys.move_to_end(str(key))
            return True
        return False

    def add(self, key: str) -> None:
        """Remember ``key``."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)
