"""Symbl's app token (Authentication, https://docs.symbl.ai/docs/developer-tools/authentication/):
``POST /oauth2/token:generate`` -> ``{accessToken, expiresIn}`` (24 h).

Cached per client and refreshed shortly before it expires by one caller at a time; a 401 on a call made with
a token invalidates exactly that token (so concurrent 401s cause one refresh, not many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from pydantic import SecretStr

from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.http import direct_request, read_json, transport_errors

_SHORT = aiohttp.ClientTimeout(total=60, sock_connect=10)


@dataclass
class _Token:
    value: str
    refresh_at: float


class SymblToken:
    """The cached app token; one refresh at a time, ahead of expiry."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, app_id: str, app_secret: SecretStr, clock: Callable[[], float]
    ) -> None:
        self._session = session
        self._url = f"{base}/oauth2/token:generate"
        self._app_id = app_id
        self._app_secret = app_secret
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self.issued = 0

    async def get(self) -> str:
        """A token valid for a while yet (fetches one when none is cached or it is about to expire)."""
        async with self._lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = await self._generate()
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is still the cached token (the server rejected it)."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _generate(self) -> _Token:
        body = {"type": "application", "appId": self._app_id, "appSecret": self._app_secret.get_secret_value()}
        async with (
            transport_errors("symbl", "token:generate"),
            direct_request(self._session, "POST", self._url, json=body, timeout=_SHORT) as resp,
        ):
            data = await read_json("symbl", "token:generate", resp)
        token, lifetime = data.get("accessToken"), data.get("expiresIn")
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise RetryableError("symbl token:generate answered without accessToken/expiresIn")
        register_secret(token, ttl=timedelta(seconds=min(float(lifetime), 86400.0) + 60))
        self.issued += 1
        # Refresh a little early (10 %, at most 10 min) so no request leaves with a dying token.
        margin = min(600.0, float(lifetime) * 0.1)
        return _Token(token, self._clock() + float(lifetime) - margin)
