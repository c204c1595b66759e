"""How :class:`~zoomsymbl_common.zoom.ZoomClient` talks to Zoom's REST API with Server-to-Server OAuth.

:class:`ZoomTransport` fetches the account-credentials token, caches it and refreshes it before its 1-hour
expiry (one caller at a time), sends every call through the tenant's proxy when one is set, takes a slot of the
account's shared quota first when there is one, and turns Zoom's answers into the common error split: 429 →
:class:`RateLimitedError` (with ``Retry-After`` when Zoom sent it), 5xx/network → :class:`RetryableError`, any
other 4xx → :class:`ZoomApiError` (answers are read by :mod:`zoomsymbl_common.zoom_answers`; the token endpoint's
refusals are :class:`ZoomAuthError`, naming Zoom's ``error`` and ``reason``, never a secret). Tokens are
registered with the log redactor.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import aiohttp
from pydantic import SecretStr
from yarl import URL

from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom_answers import (
    JsonObject,
    ZoomApiError,
    answer,
    host_of,
    json_or_raise,
    oauth_refusal,
    token_rejected,
)
from zoomsymbl_common.zoom_quota import Priority, ZoomQuota, api_family, category_of
from zoomsymbl_common.zoom_retries import DailyLimitError, daily_limit_wait, retry_after_seconds

log = logging.getLogger("zoomsymbl.zoom")

# Refresh this long before Zoom's stated expiry, so a token never expires mid-request.
TOKEN_REFRESH_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class _Token:
    value: SecretStr
    refresh_at: float


class ZoomTransport:
    """Token, proxy, quota and error split of the Zoom API for one tenant (use ``async with`` or call :meth:`close`).

    :class:`~zoomsymbl_common.zoom.ZoomClient` adds the endpoints zoomsymbl reads.
    """

    def __init__(
        self,
        tenant: TenantConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        quota: ZoomQuota | None = None,
        priority: Priority = "priority",
    ) -> None:
        """``clock`` times the token's refresh; ``wall_clock`` reads a ``Retry-After`` instant (tests inject both).

        With ``quota`` every API call first takes a slot of the account's shared allowance (zoom_quota.py):
        ``priority`` for webhook-driven work, ``bulk`` for a backfill, which leaves the reserved share.
        """
        self.tenant = tenant
        self._wall_clock = wall_clock
        self._quota = quota
        self._priority: Priority = priority
        self._session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._owns_session = session is None
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session when this client opened it."""
        if self._owns_session:
            await self._session.close()

    async def access_token(self) -> SecretStr:
        """A valid S2S OAuth token; only one caller fetches when the cached one is near expiry."""
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = await self._fetch_token()
            return self._token.value

    def invalidate_token(self, token: SecretStr | None = None) -> None:
        """Forget the cached token (Zoom rejected it); with ``token``, only if that is still the cached
        one (a parallel caller may have replaced it already)."""
        if token is None or (self._token is not None and self._token.value == token):
            self._token = None

    async def get_json(self, path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
        """GET an API ``path`` (already percent-encoded); a rejected token is refreshed once."""
        url = URL(self.tenant.zoom_api_base.rstrip("/") + path, encoded=True)
        if params:
            url = url.update_query(params)
        for attempt in (1, 2):
            token = await self.access_token()
            headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}
            status, data = await self._counted(path, url, what, headers)
            if attempt == 1 and (status == 401 or token_rejected(data)):
                self.invalidate_token()
                continue
            return json_or_raise(status, data, what)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _counted(self, path: str, url: URL, what: str, headers: Mapping[str, str]) -> tuple[int, object]:
        """``_send`` within the account's shared quota, when there is one; its 429s are reported to it."""
        if self._quota is None:
            return await self._send("GET", url, what, headers=headers)
        category, family = category_of(path), api_family(path)
        await self._quota.acquire(category, self._priority, family)
        try:
            return await self._send("GET", url, what, headers=headers)
        except DailyLimitError as exc:
            wait = exc.retry_after
            reset = self._wall_clock() + timedelta(seconds=wait) if wait is not None else None
            self._quota.note_rate_limited(category, "Daily-limit", reset, family)
            raise
        except RateLimitedError:
            self._quota.note_rate_limited(category, "QPS", family=family)  # Zoom's X-RateLimit-Type of per-second
            raise

    async def _fetch_token(self) -> _Token:
        url = URL(self.tenant.zoom_oauth_url).update_query(
            {"grant_type": "account_credentials", "account_id": self.tenant.zoom_account_id}
        )
        secret = self.tenant.zoom_client_secret.get_secret_value()
        credentials = f"{self.tenant.zoom_client_id}:{secret}"
        encoded = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        status, data = await self._send("POST", url, "oauth token", headers={"Authorization": f"Basic {encoded}"})
        if status >= 400:
            # Zoom's refusals (400 for a wrong client id or secret, account id, grant type; a deactivated app) name
            # why in {"error", "reason"}: a ZoomAuthError says it, never retried (a 429 or 5xx raised above is).
            raise oauth_refusal(status, data, secrets=(secret, encoded))
        body = json_or_raise(status, data, "oauth token")
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise RetryableError("zoom oauth token answer has no access_token")
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        register_secret(value, ttl=timedelta(seconds=min(max(seconds, 0.0), 86400.0) + 60))
        refresh_in = max(seconds - TOKEN_REFRESH_MARGIN_SECONDS, seconds / 2)
        log.info("zoom token fetched", extra={"tenant": self.tenant.id, "expires_in": seconds})
        return _Token(value=SecretStr(value), refresh_at=self._clock() + refresh_in)

    async def _send(
        self,
        method: str,
        url: URL,
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, object]:
        """``(status, parsed JSON or None)``; 429/5xx/network errors raise their retryable errors."""
        try:
            # Redirects are not followed: the answering side must not choose where our token (or the next
            # request) goes, nor whose answer we read as Zoom's (the JSON API and the token endpoint never redirect).
            async with self._session.request(
                method, url, headers=headers, proxy=self.tenant.zoom_proxy, allow_redirects=False
            ) as response:
                if response.status == 429:
                    now = self._wall_clock()
                    wait = retry_after_seconds(response.headers, now)
                    if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit":
                        raise DailyLimitError(f"zoom {what} rate limited", retry_after=daily_limit_wait(wait, now))
                    raise RateLimitedError(f"zoom {what} rate limited", retry_after=wait)
                if response.status >= 500:
                    raise RetryableError(f"zoom {what} answered {response.status}")
                if 300 <= response.status < 400:
                    raise ZoomApiError(response.status, what, f"a redirect to {host_of(response)} was not followed")
                return await answer(response, what)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"zoom {what} unreachable: {type(exc).__name__}") from None
