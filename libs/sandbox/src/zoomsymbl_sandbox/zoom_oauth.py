"""SANDBOX: Zoom's Server-to-Server OAuth token endpoint (`grant_type=account_credentials`)."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX, ZoomSandbox


def _oauth_error(status: int, error: str, reason: str) -> web.Response:
    return web.json_response({"reason": reason, "error": error}, status=status)


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """`(client_id, client_secret)` from an `Authorization: Basic` header, else None."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


def _credentials_ok(sandbox: ZoomSandbox, credentials: tuple[str, str] | None) -> bool:
    if credentials is None:
        return False
    wanted = f"{sandbox.config.client_id}:{sandbox.config.client_secret}".encode()
    return hmac.compare_digest(f"{credentials[0]}:{credentials[1]}".encode(), wanted)


async def token_handler(request: web.Request) -> web.Response:
    """POST /oauth/token?grant_type=account_credentials&account_id=X with Basic client credentials."""
    sandbox = request.app[ZOOM_SANDBOX]
    # Zoom takes the parameters from the query string or a form body alike.
    params = {**(await request.post()), **request.query}
    if not _credentials_ok(sandbox, basic_credentials(request.headers.get("Authorization"))):
        return _oauth_error(401, "invalid_client", "Invalid client_id or client_secret")
    if params.get("grant_type") != "account_credentials":
        return _oauth_error(400, "unsupported_grant_type", "unsupported grant type")
    if params.get("account_id") != sandbox.config.account_id:
        return _oauth_error(400, "invalid_request", "Invalid request : Account ID is invalid")
    sandbox.stats.token_issues += 1
    return web.json_response(
        {
            "access_token": sandbox.tokens.issue_access(sandbox.config.access_token_ttl_s),
            "token_type": "bearer",
            "expires_in": sandbox.config.access_token_ttl_s,
            "scope": sandbox.config.scope,
            "api_url": sandbox.base_url_for(request),
        }
    )
