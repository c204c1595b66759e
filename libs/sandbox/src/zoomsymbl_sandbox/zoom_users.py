"""SANDBOX: ``GET /v2/users`` — the account's users, by status, paged.

Per Zoom's API reference (https://developers.zoom.us/docs/api/users/#tag/users/GET/users): scope
``user:read:list_users:admin``, rate-limit label Medium; ``status`` is ``active`` (the default),
``inactive`` or ``pending``; ``page_size`` at most 300 here (default 30); the ``next_page_token``
expires after 15 minutes, and an expired or unknown one answers 400 with code 300.

The sandbox's users are the account owner (``me``) and every meeting host; hosts named in the
config's ``inactive_users`` are listed as inactive (their recordings stay listable, as on Zoom).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zoomsymbl_sandbox.zoom_http import ZoomApiError
from zoomsymbl_sandbox.zoom_specs import user_id
from zoomsymbl_sandbox.zoom_state import ZoomSandbox

_STATUSES = ("active", "inactive", "pending")


def account_users(sandbox: ZoomSandbox) -> list[dict[str, Any]]:
    """Every user of the account, in a stable order (by e-mail)."""
    emails = {sandbox.config.owner_email.lower(): sandbox.config.owner_email}
    ids = {sandbox.config.owner_email.lower(): user_id(sandbox.config.owner_email)}
    for meeting in sandbox.meetings.values():
        emails.setdefault(meeting.spec.host_email.lower(), meeting.spec.host_email)
        ids.setdefault(meeting.spec.host_email.lower(), meeting.spec.host_id)
    inactive = {e.lower() for e in sandbox.config.inactive_users}
    return [
        {
            "id": ids[key],
            "email": emails[key],
            "type": 2,
            "status": "inactive" if key in inactive else "active",
        }
        for key in sorted(emails)
    ]


def list_users(request: web.Request, sandbox: ZoomSandbox, size: int, offset: int) -> dict[str, Any]:
    """GET /v2/users?status=: one page (``size`` users from ``offset``) of the account's users of one status."""
    status = request.query.get("status", "active")
    if status not in _STATUSES:
        raise ZoomApiError(400, 300, f"Invalid field: 'status' {status!r}.")
    matches = [u for u in account_users(sandbox) if u["status"] == status]
    page, paging = sandbox.page_of(matches, offset, size)
    return {**paging, "users": list(page)}
