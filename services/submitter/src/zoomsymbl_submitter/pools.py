"""One provider client per tenant and one limiter per provider account, created on first use."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SpeechProvider
from zoomsymbl_common.providers.factory import WHISPER_ACCOUNT, make_provider, provider_account_key
from zoomsymbl_common.tenants import TenantConfig


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

    def __init__(self, mongo: Mongo, settings: LimiterSettings) -> None:
        self._mongo = mongo
        self._settings = settings
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
            )
        return self._limiters[account_key]

    def all(self) -> list[Limiter]:
        """Every limiter created so far."""
        return list(self._limiters.values())


class ProviderPool:
    """The provider client of each tenant, sharing one HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, submit_timeout: float, mongo: Mongo | None = None) -> None:
        self._session = session
        self._submit_timeout = submit_timeout
        self._mongo = mongo
        self._providers: dict[str, SpeechProvider] = {}

    def get(self, tenant: TenantConfig) -> SpeechProvider:
        """The client of ``tenant``'s provider (raises ConfigError when credentials are missing)."""
        if tenant.id not in self._providers:
            self._providers[tenant.id] = make_provider(
                tenant, self._session, submit_timeout=self._submit_timeout, mongo=self._mongo
            )
        return self._providers[tenant.id]

    @staticmethod
    def account_key(tenant: TenantConfig) -> str:
        """The provider account ``tenant``'s jobs count against."""
        return provider_account_key(tenant)
