"""The injected clock: leases and the limiter ask it for "now", so tests can move time instead of waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from zoomsymbl_common.events import utcnow

__all__ = ["Clock", "FakeClock", "utcnow"]


class Clock(Protocol):
    """A callable returning the current time as a timezone-aware UTC ``datetime`` (default :func:`utcnow`)."""

    def __call__(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class FakeClock:
    """A clock that only moves when told to (tests): ``clock.advance(seconds)``.

    It starts on a whole millisecond, so its times survive a round trip through BSON unchanged.
    """

    def __init__(self, start: datetime | None = None) -> None:
        now = start or utcnow()
        self.now = now.replace(microsecond=now.microsecond // 1000 * 1000)

    def __call__(self) -> datetime:
        """The clock's current time."""
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` forward and return the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now
