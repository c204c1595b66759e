"""The slots of the limiter's cap on jobs in flight, as the limiter reads them (pure: no I/O).

Slot k of a provider account (k below ``max_in_flight``) is held by one job reference at a time until it
is released or its lease runs out; a slot taken but not yet paid for (its token unspent) says so in its
document's :data:`PAID` field.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import LimiterSlot

PAID = "paid"  # the slot document's field: its token is spent (the limiter's own bookkeeping)


@dataclass(frozen=True)
class Slot:
    """A job in flight: which slot number, who holds it, since when, until when without news."""

    ref: str
    number: int
    acquired_at: float
    expires_at: float
    paid: bool = True  # its token spent (a slot taken by an ``acquire`` that did not finish is not)


def free_slot_numbers(taken: set[int], cap: int) -> list[int]:
    """Slot numbers below ``cap`` nobody holds."""
    return [n for n in range(cap) if n not in taken]


def expired(slots: list[Slot], now: float) -> list[Slot]:
    """Slots whose lease ran out."""
    return [slot for slot in slots if slot.expires_at <= now]


def slot_of(doc: Document) -> Slot:
    """The slot a ``limiter`` document holds; one without the :data:`PAID` field counts as paid."""
    slot = LimiterSlot.from_document(doc)
    return Slot(slot.ref, slot.slot, slot.acquired_at, slot.expires_at, doc.get(PAID) is not False)
