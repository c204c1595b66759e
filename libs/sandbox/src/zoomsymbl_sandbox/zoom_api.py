"""SANDBOX: Zoom's REST API v2 for cloud recordings, routed on the raw (still encoded) path."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from zoomsymbl_sandbox.zoom_call_history import list_call_history, months_before, query_day
from zoomsymbl_sandbox.zoom_dashboard import dashboard_participants, list_dashboard_meetings
from zoomsymbl_sandbox.zoom_http import ZoomApiError, meeting_path_id, unauthorized
from zoomsymbl_sandbox.zoom_phone import phone_recording_entry
from zoomsymbl_sandbox.zoom_recordings import RecordedMeeting
from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX, ZoomSandbox
from zoomsymbl_sandbox.zoom_tokens import bearer_token
from zoomsymbl_sandbox.zoom_users import account_users, list_users

MAX_PAGE_SIZE = 300
DEFAULT_PAGE_SIZE = 30
PHONE_WINDOW_DAYS = 30
_NO_RECORDING = (404, 3301, "This recording does not exist.")


def _parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ZoomApiError(400, 300, f"Invalid field: {field!r} must be yyyy-mm-dd.") from None


def recordings_window(query: dict[str, str], today: date) -> tuple[date, date]:
    """The `from`/`to` days the cloud-recording listing serves; Zoom lists at most one month per call.

    A missing ``from`` is today and, when ``to`` is missing too, ``to`` is tomorrow: Zoom's reference gives a call
    on 2020-06-30 without either the window ``from`` 2020-06-30 ``to`` 2020-07-01. A ``from`` after ``to`` is
    refused (400, code 300). A range longer than a month is not refused: Zoom answers 200 for its last month, the
    answer's ``from`` saying so (github.com/zoom/api/issues/36: asked ``from=2017-08-02&to=2018-04-09``, the answer
    listed from 2018-03-09, and Zoom's staff: "the query date range is a maximum of one month";
    github.com/graphaelli/zat/issues/16: an older ``from`` "results in zoom returning only recordings from the last
    30 days"; devforum.zoom.us/t/22487: "Setting a longer date range doesn't seem to raise an error (I get a 200").
    The sandbox refused it (400) until 2026-12: a client that asked too much failed loudly here and would have lost
    the earlier days silently on Zoom.
    """
    start = _parse_day(query["from"], "from") if "from" in query else today
    to = _parse_day(query["to"], "to") if "to" in query else (today if "from" in query else today + timedelta(days=1))
    if start > to:
        raise ZoomApiError(400, 300, "The 'from' date must not be later than the 'to' date.")
    return max(start, months_before(to, 1)), to


def earliest_phone_day(to: date) -> date:
    """The earliest day a phone recordings listing ending ``to`` holds: 30 days back and one month back, whichever
    is later (Zoom's references give both, "a maximum of 30 days" and "within a month": the stricter holds)."""
    return max(to - timedelta(days=PHONE_WINDOW_DAYS), months_before(to, 1))


def phone_recordings_window(query: dict[str, str], today: date) -> tuple[date, date]:
    """The `from`/`to` a phone recordings listing serves (``list_phone_recordings``)."""
    start, to = query_day(query.get("from"), "from"), query_day(query.get("to"), "to")
    if start is not None and to is None:
        raise ZoomApiError(400, 300, "The 'to' field is required when 'from' is specified.")
    to = to or today
    start = start or to - timedelta(days=PHONE_WINDOW_DAYS)
    if start > to:
        raise ZoomApiError(400, 300, "The 'from' date must not be later than the 'to' date.")
    return max(start, earliest_phone_day(to)), to


def page_size(query: dict[str, str]) -> int:
    """`page_size`: 1 to 300 (30 by default); anything else is refused (400, code 300).

    Zoom documents 300 as the maximum ("Default: 30. Maximum: 300." in its listings' references;
    https://developers.zoom.us/docs/api/pagination/: "Light data retrieval: Up to 300 items per page") and no
    clamping. The sandbox used to cap a larger one at 300; it refuses it now: a client passing here asks no more
    than 300, which works whether Zoom clamps or refuses, while one that relied on the cap would break on a Zoom
    that refuses.
    """
    raw = query.get("page_size", str(DEFAULT_PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ZoomApiError(400, 300, f"Invalid field: 'page_size' {raw[:20]!r} (1 to {MAX_PAGE_SIZE}).")
    return int(raw)


def _hosted_by(sandbox: ZoomSandbox, user: str) -> list[RecordedMeeting]:
    wanted = sandbox.config.owner_email if user == "me" else user
    hosted = [
        m for m in sandbox.meetings.values() if wanted.lower() in (m.spec.host_email.lower(), m.spec.host_id.lower())
    ]
    known = {key.lower() for u in account_users(sandbox) for key in (u["id"], u["email"])}
    if not hosted and wanted.lower() not in known:
        raise ZoomApiError(404, 1001, f"User does not exist: {user}.")
    return hosted


def list_recordings(request: web.Request, sandbox: ZoomSandbox, user: str) -> dict[str, Any]:
    """GET /v2/users/{userId}/recordings: one page of the user's meetings, newest first.

    Per https://developers.zoom.us/docs/api/cloud-recording/#tag/cloud-recording/GET/users/{userId}/recordings:
    one month of ``from``/``to`` per answer, a longer range answered for its last month (``recordings_window``;
    ``from`` defaults to the current date; without either, the window is today to tomorrow), ``page_size`` at most
    300, a ``next_page_token`` valid 15 minutes (expired or unknown: 400, code 300); rate-limit label Medium.
    """
    query = dict(request.query)
    start, to = recordings_window(query, sandbox.today())
    size = page_size(query)
    offset = _page_offset(sandbox, query)
    matches = sorted(
        (m for m in _hosted_by(sandbox, user) if start <= m.spec.start_time.date() <= to),
        key=lambda m: m.spec.start_time,
        reverse=True,
    )
    page, paging = sandbox.page_of(matches, offset, size)
    return {
        "from": start.isoformat(),
        "to": to.isoformat(),
        **paging,
        "meetings": [sandbox.meeting_object(m.spec.uuid, request) for m in page],
    }


def _page_offset(sandbox: ZoomSandbox, query: dict[str, str]) -> int:
    if not query.get("next_page_token"):
        return 0
    found = sandbox.page_offset(query["next_page_token"])
    if found is None:
        raise ZoomApiError(400, 300, "The next page token is invalid or expired.")
    return found


def list_phone_recordings(request: web.Request, sandbox: ZoomSandbox) -> dict[str, Any]:
    """GET /v2/phone/recordings: one page of the account's call recordings, newest first (zoom_phone.py).

    Per "Get call recordings" (https://developers.zoom.us/docs/api/phone/, its query as transcribed at
    https://www.withone.ai/knowledge/zoom/conn_mod_def%3A%3AGJ8etS2w2n8%3A%3AyvaqbtdzRT6N-MA1y8V9-w): ``page_size``
    "Default: 30. Maximum: 300."; ``from`` "If unspecified, returns data from the past 30 days. The range defined by
    from and to should be within a month because the response only includes one month of data at a time."; ``to``
    "Required only when from is specified". Pipedream's action for it says "Date range should be a maximum of 30
    days". No six-month bound: Zoom lifted it (https://developers.zoom.us/changelog/phone/december-17th-2022/,
    "Allow query data more than 6 months old in Get call recordings API").

    So: without dates, the last 30 days; ``from`` without ``to`` is refused (400, code 300); a range longer than
    30 days or a month is answered for its last part only, the answer's ``from``/``to`` saying which, as Zoom's
    call-logs listing did (zoom_call_history.py). The sandbox used to default to the last day, take a lone
    ``from`` up to today and refuse a longer range (400): a client asking too much was never shown what Zoom does.
    """
    query = dict(request.query)
    start, to = phone_recordings_window(query, sandbox.today())
    size = page_size(query)
    offset = _page_offset(sandbox, query)
    matches = sorted(
        (c for c in sandbox.phone_calls.values() if start <= c.spec.start_time.date() <= to),
        key=lambda c: c.spec.start_time,
        reverse=True,
    )
    page = matches[offset : offset + size]
    more = offset + size < len(matches)
    base = sandbox.base_url_for(request)
    return {
        "from": start.isoformat(),
        "to": to.isoformat(),
        "page_size": size,
        "total_records": len(matches),
        "next_page_token": sandbox.new_page_token(offset + size) if more else "",
        "recordings": [phone_recording_entry(c, base) for c in page],
    }


def get_user(sandbox: ZoomSandbox, user: str) -> dict[str, Any]:
    """GET /v2/users/{userId}: a phone recording's owner or a meeting host, by id or e-mail."""
    for call in sandbox.phone_calls.values():
        if user in (call.spec.owner_id, call.spec.owner_email):
            return {"id": call.spec.owner_id, "email": call.spec.owner_email, "display_name": call.spec.owner_name}
    for meeting in sandbox.meetings.values():
        if user in (meeting.spec.host_id, meeting.spec.host_email):
            return {"id": meeting.spec.host_id, "email": meeting.spec.host_email}
    raise ZoomApiError(404, 1001, f"User does not exist: {user}.")


def _meeting_at(sandbox: ZoomSandbox, raw_segment: str) -> RecordedMeeting:
    meeting_id = meeting_path_id(raw_segment)
    meeting = sandbox.find_meeting(meeting_id) if meeting_id is not None else None
    if meeting is None:
        raise ZoomApiError(*_NO_RECORDING)
    return meeting


def get_recordings(request: web.Request, sandbox: ZoomSandbox, raw_segment: str) -> dict[str, Any]:
    """GET /v2/meetings/{meetingId}/recordings, with `download_access_token` only when asked for."""
    meeting = _meeting_at(sandbox, raw_segment)
    body = sandbox.meeting_object(meeting.spec.uuid, request)
    if "download_access_token" in request.query.get("include_fields", "").split(","):
        ttl = request.query.get("ttl", "")
        if ttl and (not ttl.isdigit() or not 1 <= int(ttl) <= 604_800):
            raise ZoomApiError(400, 300, f"Invalid field: 'ttl' {ttl!r}.")
        body["download_access_token"] = sandbox.issue_download_token(meeting.spec.uuid, int(ttl or 0) or None)
    return body


def participants(request: web.Request, sandbox: ZoomSandbox, raw_segment: str) -> dict[str, Any]:
    """GET /v2/past_meetings/{meetingUUID}/participants: names and e-mails of who attended, paged.

    Per https://developers.zoom.us/docs/api/meetings/#tag/meetings/GET/past_meetings/{meetingId}/participants
    and https://developers.zoom.us/docs/api/pagination/: ``page_size`` defaults to 30 (at most 300) and more
    participants than a page follow behind a ``next_page_token`` (15 minutes); before, the sandbox answered
    every participant on one page whatever ``page_size`` asked, so a client that never paged passed here.
    """
    meeting_id = meeting_path_id(raw_segment)
    meeting = sandbox.find_meeting(meeting_id) if meeting_id is not None else None
    if meeting is None:
        raise ZoomApiError(404, 3001, f"Meeting does not exist: {unquote(raw_segment)}.")
    query = dict(request.query)
    size, offset = page_size(query), _page_offset(sandbox, query)
    people = [
        {"id": hashlib.sha256(p.name.encode()).hexdigest()[:22], "name": p.name, "user_email": p.email or ""}
        for p in meeting.spec.participants
    ]
    page, paging = sandbox.page_of(people, offset, size)
    return {**paging, "participants": list(page)}


def _route(request: web.Request, sandbox: ZoomSandbox, parts: list[str]) -> dict[str, Any]:
    match parts:
        case ["users"]:
            query = dict(request.query)
            return list_users(request, sandbox, page_size(query), _page_offset(sandbox, query))
        case ["users", user, "recordings"]:
            return list_recordings(request, sandbox, unquote(user))
        case ["meetings", raw_id, "recordings"]:
            return get_recordings(request, sandbox, raw_id)
        case ["past_meetings", raw_id, "participants"]:
            return participants(request, sandbox, raw_id)
        case ["metrics", "meetings"]:
            query = dict(request.query)
            return list_dashboard_meetings(request, sandbox, page_size(query), _page_offset(sandbox, query))
        case ["metrics", "meetings", raw_id, "participants"]:
            query = dict(request.query)
            return dashboard_participants(sandbox, raw_id, page_size(query), _page_offset(sandbox, query))
        case ["phone", "recordings"]:
            return list_phone_recordings(request, sandbox)
        case ["phone", "call_history"]:
            return list_call_history(request, sandbox, _page_offset(sandbox, dict(request.query)))
        case ["users", user]:
            return get_user(sandbox, unquote(user))
        case ["meetings", *_]:
            # A UUID with a raw "/" in it splits the path, exactly what breaks on real Zoom.
            raise ZoomApiError(*_NO_RECORDING)
    raise ZoomApiError(404, 404, "Not found.")


async def v2_handler(request: web.Request) -> web.StreamResponse:
    """Entry point of every /v2/ request; the path is parsed raw so %2F and %252F stay distinct."""
    sandbox = request.app[ZOOM_SANDBOX]
    token = bearer_token(request.headers.get("Authorization"))
    check = sandbox.tokens.check_access(token) if token else "invalid"
    if check != "valid":
        return unauthorized(check)
    parts = request.rel_url.raw_path.split("/")[2:]
    if parts[:3] == ["phone", "recording", "download"] and len(parts) == 4:
        call = sandbox.phone_calls.get(unquote(parts[3]))
        if call is None:
            return ZoomApiError(404, 3301, "This recording does not exist.").response()
        headers = {"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes"}
        return web.FileResponse(call.media.path, headers=headers)
    try:
        return web.json_response(_route(request, sandbox, parts))
    except ZoomApiError as exc:
        return exc.response()
