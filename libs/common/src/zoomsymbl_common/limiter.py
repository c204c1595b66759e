"""The cluster-wide provider limiter: a token bucket plus a cap on jobs in flight, per provider account.

Every change is one atomic single-document operation that a unique key arbitrates: an insert (the
loser gets ``DuplicateKeyError``) or a delete (exactly one caller gets ``deleted_count == 1``).
Read-modify-write updates are not used: on FerretDB 1.24 as released (the tests' server before its wrapper locked
each collection's writes, docs/development.md) concurrent conditional updates are not isolated — six compare-and-set
writers on a version field all "won" 180 times while the version reached 95, and ``$inc`` lost 144 of 180
increments — whereas unique-key inserts and deletes stay exact. FerretDB also answers only ``_id`` equality from an
index, so ticks are found by inserting them, never by querying.

* collection ``limiter`` holds the **slots**: ``_id = "{account}|slot|{k}"`` with k below
  ``max_in_flight``, and ``key = "{account}|ref|{job_ref}"`` (unique): the cap is the number of slot
  numbers, and a job reference holds one slot at most. A handful of documents per account.
* collection ``limiter_ticks`` holds the spent **ticks**: ``_id = "{account}|{rate}|{n}"``, each spent once, when
  the token bucket (:mod:`zoomsymbl_common.limiter_ticks`) allows. Replicas use their own clocks (an injected
  :class:`~zoomsymbl_common.clock.Clock`); one ahead by d seconds spends up to ``d * rate`` ticks early. Old ticks
  are swept as they go.

Lifecycle of a slot, keyed by a job reference (the submitter's idempotency key): ``acquire``
(submitter, before submitting; idempotent while the reference holds a paid slot) → ``release``
(notifier on ``completed``/``failed``, or the submitter when no job came to exist; True exactly
once) or ``reclaim_expired`` (lease ran out and the provider confirms the job finished).

A slot is taken first and paid for (a tick spent) after: a token is spent only once a slot is there, so a
wait for a slot spends no budget. The slot document says whether it is paid (``paid``, set once its tick is
spent; should a concurrent lease renewal lose that update, the slot is paid for twice, never not at all).
``acquire`` returns only with a paid slot, so a slot left unpaid (MongoDB went away, or the caller was
cancelled at shutdown, between the slot and the tick) is paid for by the next ``acquire`` of its reference
(the redelivered message): no submission goes out on an unspent token. Such a failure also gives the unpaid
slot back (a delete that matches only an unpaid slot, so a concurrent ``acquire`` of the same reference that
paid keeps it); when even that cannot reach MongoDB, the slot waits for its reference's next ``acquire``, or
for the reclaimer after a lease (no job exists). A slot without the field (taken before 2026-12-05) counts
as paid.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from zoomsymbl_common.clock import Clock
from zoomsymbl_common.errors import RateLimitedError, ZoomsymblError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.limiter_slots import PAID, Slot, expired, free_slot_numbers, slot_of
from zoomsymbl_common.limiter_ticks import next_tick_in, pick_tick, tick_window
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import LIMITER, LIMITER_TICKS, LimiterSlot, LimiterTick

log = logging.getLogger("zoomsymbl.limiter")
LIMITER_INDEXES = [IndexModel([("key", ASCENDING)], unique=True, name="limiter_key_unique")]
_SWEEP_EVERY = 32  # whoever spends a tick divisible by this deletes ticks long out of every window
_SKEW_TOLERANCE = 10.0  # seconds of clock skew between replicas that sweeping never cuts into


class LimiterTimeout(RateLimitedError):
    """No token or slot became free within the caller's timeout; retry later without spending budget."""

    def __init__(self, account_key: str, job_ref: str, timeout: float) -> None:
        super().__init__(
            f"no limiter slot for account {account_key!r} (job {job_ref!r}) within {timeout!r} s",
            retry_after=0.0,
        )
        self.account_key = account_key
        self.job_ref = job_ref


class Limiter:
    """The limiter of one provider account, shared by every replica through MongoDB."""

    def __init__(
        self,
        mongo: Mongo,
        account_key: str,
        rate_per_second: float = 1.0,
        burst: int = 1,
        max_in_flight: int = 2,
        lease_seconds: float = 900.0,
        *,
        poll_max_seconds: float = 1.0,
        clock: Clock = utcnow,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if rate_per_second <= 0 or burst < 1 or max_in_flight < 1 or lease_seconds <= 0:
            raise ValueError("limiter needs rate_per_second > 0, burst >= 1, max_in_flight >= 1, lease_seconds > 0")
        self.account_key = account_key
        self.rate = rate_per_second
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self._slots = mongo.db[LIMITER]
        self._ticks = mongo.db[LIMITER_TICKS]
        self._poll_max = poll_max_seconds
        self._clock = clock
        self._sleep = sleep
        self._indexed = False
        self._spent: set[int] = set()  # ticks known spent (they never become unspent)

    async def acquire(self, job_ref: str, *, timeout: float | None = None) -> None:
        """Hold a paid slot for ``job_ref``: take a slot, then spend one token, waiting up to ``timeout`` seconds.

        Returns at once when ``job_ref`` already holds a paid slot (its lease is renewed); a slot it holds
        unpaid (an earlier ``acquire`` stopped between the two) is paid for first. Waits by polling for a slot
        with backoff, then sleeping until the next token is due. Raises :class:`LimiterTimeout` when
        ``timeout`` passes first; on that and on any other failure (MongoDB, cancellation) the slot taken
        here is given back unpaid, and nothing that was paid is touched.
        """
        await self._ensure_indexes()
        deadline = None if timeout is None else self._now() + timeout
        while True:
            slot = await self._hold_slot(job_ref, deadline, timeout)
            if slot.paid:
                return  # held already: its token was spent when it was paid for
            try:
                await self._pay(job_ref, deadline, timeout)
                if await self._mark_paid(slot):
                    return
            except BaseException:
                await self._give_back_unpaid(job_ref)
                raise
            # Released meanwhile (a concurrent acquire of this reference gave it back): the tick is spent
            # for nothing, which errs on the safe side; take a slot again.

    async def release(self, job_ref: str) -> bool:
        """Free the slot of ``job_ref``; True only for the one call that actually freed it."""
        result = await guarded(self._slots.delete_one({"key": self._ref_key(job_ref)}))
        return result.deleted_count == 1

    async def reclaim_expired(self, is_finished: Callable[[str], Awaitable[bool]]) -> int:
        """Free expired slots whose job ``is_finished`` confirms finished; renew the others' leases.

        Returns how many slots were freed. ``is_finished`` should ask the provider's job API.
        """
        freed = 0
        for slot in expired(await self.slots(), self._now()):
            slot_id = self._slot_id(slot.number)
            if await is_finished(slot.ref):
                # Matches only if nobody renewed or released the slot meanwhile.
                query = {"_id": slot_id, "ref": slot.ref, "expires_at": slot.expires_at}
                result = await guarded(self._slots.delete_one(query))
                freed += result.deleted_count
                log.warning("limiter slot reclaimed", extra={"account": self.account_key, "job_ref": slot.ref})
            else:
                await self._renew(slot_id, slot.ref)
        return freed

    async def slots(self) -> list[Slot]:
        """The slots held now."""
        docs = await guarded(self._slots.find({"account": self.account_key}).to_list(None))
        return [slot_of(doc) for doc in docs]

    async def snapshot(self) -> dict[str, Any]:
        """The current state (tokens left, slots held), for metrics, tests and operators."""
        lo, hi = tick_window(self._now(), self.rate, self.burst)
        ticks = await guarded(self._ticks.find({"account": self.account_key, "rate": self.rate}).to_list(None))
        spent = {int(doc["tick"]) for doc in ticks}
        slots = await self.slots()
        return {
            "account_key": self.account_key,
            "tokens": len([n for n in range(lo + 1, hi + 1) if n not in spent]),
            "in_flight": len(slots),
            "max_in_flight": self.max_in_flight,
            "rate_per_second": self.rate,
            "burst": self.burst,
            "slots": [
                {"ref": s.ref, "acquired_at": s.acquired_at, "expires_at": s.expires_at, "paid": s.paid} for s in slots
            ],
        }

    async def _hold_slot(self, job_ref: str, deadline: float | None, timeout: float | None) -> Slot:
        """The slot ``job_ref`` holds (lease renewed), or a free one taken for it (unpaid); polls while full."""
        polls = 0
        while True:
            slots = await self.slots()
            held = next((slot for slot in slots if slot.ref == job_ref), None)
            if held is not None:
                if await self._renew(self._slot_id(held.number), job_ref):
                    return held
                continue  # released (and maybe taken by another job) since the read: look again
            free = free_slot_numbers({slot.number for slot in slots}, self.max_in_flight)
            if free:
                taken = await self._insert_slot(job_ref, random.choice(free))
                if taken is not None:
                    return taken
                continue  # another replica took that number (or this ref) first: look again
            polls += 1
            wait = min(self._poll_max, 0.02 * 2 ** min(polls, 10)) * random.uniform(0.5, 1.0)
            if deadline is not None:
                left = deadline - self._now()
                if left <= 0:
                    raise LimiterTimeout(self.account_key, job_ref, float(timeout or 0))
                wait = min(wait, left)
            await self._sleep(wait)

    async def _pay(self, job_ref: str, deadline: float | None, timeout: float | None) -> None:
        """Spend one tick, sleeping until one falls due; :class:`LimiterTimeout` past ``deadline``."""
        while (wait := await self._spend_tick()) is not None:
            left = None if deadline is None else deadline - self._now()
            if left is not None and left <= 0:
                raise LimiterTimeout(self.account_key, job_ref, float(timeout or 0))
            await self._sleep(wait if left is None else min(wait, left))

    async def _mark_paid(self, slot: Slot) -> bool:
        """Note on ``slot`` that its token is spent, its lease starting again (the wait for a token may have outlasted
        it: the reclaimer would free it under the job about to be sent); False when its reference no longer holds it."""
        query = {"_id": self._slot_id(slot.number), "ref": slot.ref}
        paid = {PAID: True, "expires_at": self._now() + self.lease_seconds}
        result = await guarded(self._slots.update_one(query, {"$set": paid}))
        return result.matched_count == 1

    async def _give_back_unpaid(self, job_ref: str) -> None:
        """Free ``job_ref``'s slot if it is unpaid, as far as MongoDB can be reached (the caller's failure
        stands either way: an unpaid slot left behind is paid for by the reference's next ``acquire``)."""
        try:
            await guarded(self._slots.delete_one({"key": self._ref_key(job_ref), PAID: False}))
        except ZoomsymblError as exc:
            log.warning(
                "unpaid limiter slot not given back",
                extra={"account": self.account_key, "job_ref": job_ref, "error": str(exc)},
            )

    async def _insert_slot(self, job_ref: str, number: int) -> Slot | None:
        """Take slot ``number`` for ``job_ref``, unpaid; None when it (or the reference) is held already."""
        now = self._now()
        slot = LimiterSlot(
            id=self._slot_id(number),
            key=self._ref_key(job_ref),
            account=self.account_key,
            slot=number,
            ref=job_ref,
            acquired_at=now,
            expires_at=now + self.lease_seconds,
        )
        try:
            await guarded(self._slots.insert_one({**slot.to_document(), PAID: False}))
        except DuplicateKeyError:
            return None
        return Slot(job_ref, number, slot.acquired_at, slot.expires_at, paid=False)

    async def _renew(self, slot_id: str, job_ref: str) -> bool:
        """Extend the lease of slot ``slot_id`` if ``job_ref`` still holds it (a slot number read a moment
        ago may have been released and taken by another job since); False when it does not."""
        query = {"_id": slot_id, "ref": job_ref}
        result = await guarded(
            self._slots.update_one(query, {"$set": {"expires_at": self._now() + self.lease_seconds}})
        )
        return result.matched_count == 1

    async def _spend_tick(self) -> float | None:
        """Spend a tick (None), or say how long until the next one falls due (seconds)."""
        while True:
            now = self._now()
            lo, hi = tick_window(now, self.rate, self.burst)
            self._spent = {n for n in self._spent if n > lo}
            tick = pick_tick(self._spent, lo, hi)
            if tick is None:
                return next_tick_in(now, self.rate) + random.uniform(0.0, 0.005)
            self._spent.add(tick)
            spent = LimiterTick(
                id=f"{self.account_key}|{self.rate:g}|{tick}",
                account=self.account_key,
                rate=self.rate,
                tick=tick,
                at=now,
            )
            try:
                await guarded(self._ticks.insert_one(spent.to_document()))
            except DuplicateKeyError:
                continue  # spent by another replica; try the next one
            if tick % _SWEEP_EVERY == 0:
                await self._sweep(now)
            return None

    async def _sweep(self, now: float) -> None:
        """Delete ticks long out of every window (by time, so ticks of an old rate go too)."""
        horizon = now - self.burst / self.rate - _SKEW_TOLERANCE
        await guarded(self._ticks.delete_many({"account": self.account_key, "at": {"$lt": horizon}}))

    async def _ensure_indexes(self) -> None:
        if not self._indexed:
            # One index per call: FerretDB 1.24 drops the connection when a multi-index call meets
            # indexes that already exist.
            for model in LIMITER_INDEXES:
                await guarded(self._slots.create_indexes([model]))
            self._indexed = True

    def _now(self) -> float:
        """Now in Unix seconds, the unit slots and ticks are kept in."""
        return self._clock().timestamp()

    def _slot_id(self, number: int) -> str:
        return f"{self.account_key}|slot|{number}"

    def _ref_key(self, job_ref: str) -> str:
        return f"{self.account_key}|ref|{job_ref}"
