"""SANDBOX: the access tokens (S2S OAuth) and download tokens the Zoom sandbox has issued."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

TokenCheck = Literal["valid", "expired", "invalid"]
TokenKind = Literal["access", "download", "all"]

# Real Zoom tokens are long JWTs; the same shape catches clients that truncate or log them.
_JWT_HEADER = "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIiwidiI6IjIuMCIsImtpZCI6InNhbmRib3gifQ"


def _new_token() -> str:
    return f"{_JWT_HEADER}.{secrets.token_urlsafe(120)}.{secrets.token_urlsafe(64)}"


@dataclass
class _Issued:
    expires_at: float
    meeting_uuid: str | None  # download tokens only open the recordings of their own meeting


class TokenStore:
    """Issues tokens and answers whether a presented token is valid right now."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._access: dict[str, _Issued] = {}
        self._download: dict[str, _Issued] = {}

    def issue_access(self, ttl_s: int) -> str:
        """A new S2S OAuth access token valid for `ttl_s` seconds."""
        token = _new_token()
        self._access[token] = _Issued(self._clock() + ttl_s, None)
        return token

    def issue_download(self, meeting_uuid: str, ttl_s: int) -> str:
        """A new download token for the recordings of `meeting_uuid`."""
        token = _new_token()
        self._download[token] = _Issued(self._clock() + ttl_s, meeting_uuid)
        return token

    def check_access(self, token: str) -> TokenCheck:
        """Whether `token` is a live access token."""
        return self._check(self._access.get(token))

    def check_download(self, token: str, meeting_uuid: str) -> TokenCheck:
        """Whether `token` is a live download token for `meeting_uuid`."""
        issued = self._download.get(token)
        if issued is not None and issued.meeting_uuid != meeting_uuid:
            return "invalid"
        return self._check(issued)

    def expire(self, kind: TokenKind) -> int:
        """Make every issued token of `kind` expired now; return how many were live."""
        now = self._clock()
        stores = {"access": [self._access], "download": [self._download]}.get(kind, [self._access, self._download])
        live = 0
        for store in stores:
            for issued in store.values():
                live += issued.expires_at > now
                issued.expires_at = min(issued.expires_at, now)
        return live

    def _check(self, issued: _Issued | None) -> TokenCheck:
        if issued is None:
            return "invalid"
        return "valid" if self._clock() < issued.expires_at else "expired"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
