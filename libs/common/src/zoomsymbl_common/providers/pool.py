"""One provider client per tenant, created on first use and kept (a client caches its access token)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SpeechProvider
from zoomsymbl_common.providers.factory import make_provider, provider_account_key
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.tenants import TenantConfig


@dataclass(frozen=True)
class SummaryWait:
    """How long Symbl's lazily generated summary is waited for (tries, first delay in seconds, doubling)."""

    attempts: int
    delay: float


class ProviderPool:
    """``pool.get(tenant)`` → that tenant's :class:`SpeechProvider`, sharing one HTTP session.

    ``submit_timeout`` bounds one submission (upload); ``summary_wait`` tunes how long a Symbl
    client waits for a summary still being prepared (the provider's default when None).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        submit_timeout: float = 900.0,
        mongo: Mongo | None = None,
        summary_wait: SummaryWait | None = None,
    ) -> None:
        self._session = session
        self._submit_timeout = submit_timeout
        self._mongo = mongo
        self._summary_wait = summary_wait
        self._clients: dict[str, SpeechProvider] = {}

    def get(self, tenant: TenantConfig) -> SpeechProvider:
        """The client of ``tenant``'s provider; raises ``ConfigError`` when its credentials are missing."""
        # Keyed by the provider too: a meeting that falls back to Zoom's transcript runs the tenant as "zoom".
        key = f"{tenant.id}\x1f{tenant.provider}"
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._make(tenant)
        return client

    @staticmethod
    def account_key(tenant: TenantConfig) -> str:
        """The provider account ``tenant``'s jobs count against."""
        return provider_account_key(tenant)

    def _make(self, tenant: TenantConfig) -> SpeechProvider:
        # make_provider checks the credentials and registers the secrets with the log redactor.
        client = make_provider(tenant, self._session, submit_timeout=self._submit_timeout, mongo=self._mongo)
        if tenant.provider != "symbl" or self._summary_wait is None:
            return client
        return SymblProvider(
            self._session,
            app_id=tenant.symbl_app_id,
            app_secret=tenant.symbl_app_secret,
            api_base=tenant.symbl_api_base,
            submit_timeout=self._submit_timeout,
            summary_attempts=self._summary_wait.attempts,
            summary_delay=self._summary_wait.delay,
        )
