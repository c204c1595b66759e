"""The consumer policy's numbers (:class:`RetryPolicy`), its give-up hook's shape and the partition key of events.

:mod:`zoomsymbl_common.consumer` applies them and re-exports every name here.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zoomsymbl_common.events import Event


def event_key(event: Event) -> bytes:
    """Partition key: all events of one meeting (and its dead letters) land on one partition, in order."""
    return f"{event.tenant}\x1f{event.meeting_uuid}".encode()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a consumer retries a retryable failure."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limit_wait: float = 300.0
    # Our own servers (Kafka, MongoDB, S3) being down is not the meeting's fault: such failures wait
    # (backoff up to max_delay) without spending the attempt budget, for up to this long per message.
    max_outage_wait: float = 1800.0
    # Attempts the service's own stop cut short (rollouts, drains, evictions) spend this budget, not max_attempts:
    # only a message that brings its service down this often in a row is dead-lettered for it.
    max_interruptions: int = 10
    # Longest a stopping handler waits for its interruption to be noted: the rest of the stop's grace is the others'.
    interruption_note_seconds: float = 2.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the given 1-based attempt."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


GiveUp = Callable[[Event | None, str, str], Awaitable[None]]


OUTAGE_GIVE_UP = "of infrastructure outage"
"""In the reason of every give-up after waiting out our own servers: hooks tell it from the message's own fault."""
