"""SANDBOX: Zoom's error bodies, route names and path decoding, shared by the sandbox handlers."""

from __future__ import annotations

import json
from urllib.parse import unquote

from aiohttp import web

from zoomsymbl_sandbox.zoom_faults import Fault, RouteName
from zoomsymbl_sandbox.zoom_limits import PER_SECOND_TYPE, ROUTE_CATEGORY
from zoomsymbl_sandbox.zoom_tokens import TokenCheck

INVALID_TOKEN_BODY = {"code": 124, "message": "Invalid access token."}
_EXPIRED_TOKEN_BODY = {"code": 124, "message": "Access token is expired."}
_RATE_LIMITED = "You have reached the maximum per-second rate limit for this API. Try again later."
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Error - Zoom</title></head>"
    "<body><h1>Sorry, this page is not available.</h1><p>Please sign in to continue.</p></body></html>"
)


class ZoomApiError(Exception):
    """An error answer in Zoom's `{"code", "message"}` shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        """The error as Zoom sends it."""
        return zoom_error(self.status, self.code, self.message)


def zoom_error(status: int, code: int, message: str) -> web.Response:
    """A JSON error the way Zoom's API answers one."""
    return web.json_response({"code": code, "message": message}, status=status)


def unauthorized(check: TokenCheck) -> web.Response:
    """Zoom's 401 for a missing, unknown or expired token."""
    body = _EXPIRED_TOKEN_BODY if check == "expired" else INVALID_TOKEN_BODY
    return web.json_response(body, status=401)


def meeting_path_id(raw_segment: str) -> str | None:
    """Decode a meeting id or UUID from a raw path segment by Zoom's double-encoding rule.

    A UUID that starts with "/" or contains "//" only survives Zoom's gateway double-encoded
    ("%252F"); single-encoded, it is split into path segments and the meeting is not found (None).
    """
    once = unquote(raw_segment)
    if once.startswith("/") or "//" in once:
        return None
    return unquote(once) if "%" in once else once


def classify_route(raw_path: str) -> tuple[RouteName | None, str | None]:
    """The sandbox route a raw request path belongs to, and the file id for downloads."""
    parts = raw_path.split("/")
    if raw_path == "/oauth/token":
        return "oauth", None
    if len(parts) == 4 and parts[1] == "rec" and parts[2] == "download":
        return "download", unquote(parts[3])
    if len(parts) == 3 and parts[1] == "dl":
        return "cdn_download", unquote(parts[2])
    if len(parts) < 3 or parts[1] != "v2":
        return None, None
    if parts[2:] == ["users"]:
        return "list_users", None
    if parts[2:] == ["metrics", "meetings"]:
        return "dashboard_meetings", None
    if parts[2:4] == ["metrics", "meetings"] and parts[-1] == "participants":
        return "dashboard_participants", None
    if parts[2] == "users" and parts[-1] == "recordings":
        return "list_recordings", None
    if parts[2] == "meetings" and parts[-1] == "recordings":
        return "get_recordings", None
    if parts[2] == "past_meetings" and parts[-1] == "participants":
        return "participants", None
    if parts[2:] == ["phone", "recordings"]:
        return "phone_recordings", None
    if parts[2:] == ["phone", "call_history"]:
        return "phone_call_history", None
    if parts[2:5] == ["phone", "recording", "download"] and len(parts) == 6:
        return "phone_download", unquote(parts[5])
    if parts[2] == "users" and len(parts) == 4:
        return "users", None
    return None, None


def fault_response(fault: Fault) -> web.Response:
    """The answer an injected `status` or `error_body` fault stands for.

    An injected 429 is a per-second one as zoom_limits.py answers it: ``X-RateLimit-Type: QPS`` and the route's
    rate-limit label in ``X-RateLimit-Category`` (none for routes without one: downloads, the token endpoint).
    """
    if fault.kind == "error_body":
        # Zoom's quirk: a 200 whose body is an error, labelled text/html whatever it contains.
        text = json.dumps(INVALID_TOKEN_BODY) if fault.body == "json" else _HTML_ERROR_PAGE
        return web.Response(status=200, text=text, content_type="text/html")
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 429:
        category = ROUTE_CATEGORY.get(fault.route)
        headers |= {"X-RateLimit-Category": category} if category else {}
        headers["X-RateLimit-Type"] = PER_SECOND_TYPE
        return web.json_response({"code": 429, "message": _RATE_LIMITED}, status=429, headers=headers)
    return web.json_response(
        {"code": fault.status, "message": "Internal error, please try again later."},
        status=fault.status,
        headers=headers,
    )
