"""The limiter's token bucket, as arithmetic on ticks (pure functions: no I/O, no clock of their own).

Tick n of a provider account falls due at ``n / rate`` (Unix seconds) and may be spent once while it is
among the last ``burst`` ticks due. That is the token bucket: in any window of length T at most
``burst + ceil(rate * T)`` ticks are spent (in any 1-second window: ``burst + ceil(rate)``, i.e.
``burst + rate`` for a whole-number rate). :class:`~zoomsymbl_common.limiter.Limiter` spends a tick by
inserting it under a unique ``_id``, so each is spent once across replicas.
"""

from __future__ import annotations

import math


def tick_window(now: float, rate: float, burst: int) -> tuple[int, int]:
    """The ticks that may be spent at ``now``: ``lo < n <= hi`` (the last ``burst`` ticks due)."""
    hi = math.floor(now * rate)
    return hi - burst, hi


def next_tick_in(now: float, rate: float) -> float:
    """Seconds until the next tick falls due."""
    return max(0.0, (math.floor(now * rate) + 1) / rate - now)


def pick_tick(spent: set[int], lo: int, hi: int) -> int | None:
    """The oldest tick of the window not known to be spent."""
    return next((n for n in range(lo + 1, hi + 1) if n not in spent), None)
