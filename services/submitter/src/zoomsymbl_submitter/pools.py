"""One limiter per provider account, created on first use (provider clients: ``zoomsymbl_common.providers.pool``)."""

from __future__ import annotations

from dataclasses import dataclass

from zoomsymbl_common.clock import Clock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.factory import WHISPER_ACCOUNT


@dataclass(frozen=True)
class LimiterSettings:
    """The limits every provider account gets (see ``ZOOMSYMBL_SUBMITTER_*``)."""

    rate_per_second: float
    burst: int
    max_in_flight: int
    lease_seconds: float
    poll_max_seconds: float = 1.0
    # The self-hosted transcriber's capacity (replicas × jobs each): its slots, instead of max_in_flight.
    whisper_max_in_flight: int = 2


class LimiterPool:
    """The :class:`Limiter` of each provider account."""

    def __init__(self, mongo: Mongo, settings: LimiterSettings, *, clock: Clock = utcnow) -> None:
        self._mongo = mongo
        self._settings = settings
        self._clock = clock
        self._limiters: dict[str, Limiter] = {}

    def get(self, account_key: str) -> Limiter:
        """The limiter of ``account_key``."""
        if account_key not in self._limiters:
            s = self._settings
            self._limiters[account_key] = Limiter(
                self._mongo,
                account_key,
                s.rate_per_second,
                s.burst,
                s.whisper_max_in_flight if account_key == WHISPER_ACCOUNT else s.max_in_flight,
                s.lease_seconds,
                poll_max_seconds=s.poll_max_seconds,
                clock=self._clock,
            )
        return self._limiters[account_key]

    def all(self) -> list[Limiter]:
        """Every limiter created so far."""
        return list(self._limiters.values())
