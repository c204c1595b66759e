"""SANDBOX: Zoom's Server-to-Server OAuth token endpoint (`grant_type=account_credentials`).

Per https://developers.zoom.us/docs/rooms/oauth/ ("OAuth 2.0", App Type Server to Server): `POST
https://zoom.us/oauth/token` with Basic client credentials and `grant_type`, `account_id` "either as query
parameters or in the request body using the x-www-form-urlencoded format"; 1-hour tokens
(https://developers.zoom.us/docs/rooms/s2s-oauth/: "Tokens stop working when the app is deactivated").

Refusals, in Zoom's `{"reason", "error"}` shape, all 400:
- wrong client id or secret: `{"reason": "Invalid client_id or client_secret", "error": "invalid_client"}` with
  **400**, as Zoom answers it (github.com/JubaerHossain/zoom-laravel/issues/3, 2023: "`POST
  https://zoom.us/oauth/token` resulted in a `400 Bad Request` response"; Zoom's table of OAuth errors,
  https://developers.zoom.us/docs/integrations/oauth-error-messages/, codes 4702/4704 "Invalid client"). The sandbox
  used to answer 401, which a client taking "401 means bad credentials" passed only here;
- another grant type: `{"reason": "unsupported grant type", "error": "unsupported_grant_type"}`
  (github.com/zoom/server-to-server-oauth-token/issues/3; the same table, code 4705);
- an account id that is not the app's: `invalid_request` (status and `error` as for every request Zoom refuses
  here; its exact `reason` was not found published);
- a deactivated app (config `app_active=False`): `invalid_client` with the table's message for code 4717, "The app
  has been disabled" (modelled: the status and `error` key are the other refusals', not found published).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX, ZoomSandbox


def _oauth_error(error: str, reason: str) -> web.Response:
    return web.json_response({"reason": reason, "error": error}, status=400)


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
        return _oauth_error("invalid_client", "Invalid client_id or client_secret")
    if not sandbox.config.app_active:
        return _oauth_error("invalid_client", "The app has been disabled")
    if params.get("grant_type") != "account_credentials":
        return _oauth_error("unsupported_grant_type", "unsupported grant type")
    if params.get("account_id") != sandbox.config.account_id:
        return _oauth_error("invalid_request", "Invalid request : Account ID is invalid")
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
