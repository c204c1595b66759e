"""SANDBOX: Zoom's dashboard — ``GET /v2/metrics/meetings`` (past meetings) and their participants.

Per Zoom's API reference (the Accounts API's Dashboards section,
https://developers.zoom.us/docs/api/accounts/ma/ and the generated reference quoted at
https://docs.rs/zoom-api/latest/zoom_api/dashboards/struct.Dashboards.html): ``type`` is ``past``,
``pastOne`` or ``live``; ``from``/``to`` one month at most, within the last six months; ``page_size`` at
most 300; a ``next_page_token`` valid 15 minutes. Each meeting carries ``uuid``, ``id``, ``host``,
``email`` (the host's), ``start_time``, ``end_time``, ``has_recording`` (cloud recording was used) and
``has_archiving``. Scope ``dashboard_meetings:read:admin`` (granular
``dashboard:read:list_meetings:admin``); a Business or higher plan; rate-limit label Resource-intensive
(it spends the Heavy daily budget: zoom_limits.py), and Zoom's forum reports the listing refused after a
few pages a minute (https://devforum.zoom.us/t/issues-using-dashboard-api-list-meetings/53299).

The sandbox's past meetings are its recorded meetings (``has_recording`` true) plus the config's
``past_meetings``: meetings that happened and were, or were not, recorded.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from zoomsymbl_sandbox.zoom_call_history import HISTORY_MONTHS, months_before
from zoomsymbl_sandbox.zoom_http import ZoomApiError, meeting_path_id
from zoomsymbl_sandbox.zoom_specs import PastMeetingSpec
from zoomsymbl_sandbox.zoom_state import ZoomSandbox

_TYPES = ("past", "pastOne", "live")


def past_meetings(sandbox: ZoomSandbox) -> list[PastMeetingSpec]:
    """Every past meeting of the account: the recorded ones and the config's, by start time."""
    recorded = [
        PastMeetingSpec(
            uuid=m.spec.uuid,
            meeting_id=m.spec.meeting_id,
            topic=m.spec.topic,
            host_email=m.spec.host_email,
            start_time=m.spec.start_time,
            duration_s=max(p.start_offset_s + p.duration_s for p in m.spec.participants),
            has_recording=True,
            participants=tuple(p.email or p.name for p in m.spec.participants),
        )
        for m in sandbox.meetings.values()
    ]
    return sorted([*recorded, *sandbox.config.past_meetings], key=lambda m: (m.start_time, m.uuid))


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ZoomApiError(400, 300, f"Invalid field: {field!r} must be yyyy-mm-dd.") from None


def _entry(meeting: PastMeetingSpec) -> dict[str, Any]:
    end = meeting.start_time + timedelta(seconds=meeting.duration_s)
    return {
        "uuid": meeting.uuid,
        "id": meeting.meeting_id,
        "topic": meeting.topic,
        "host": meeting.host_email.split("@")[0],
        "email": meeting.host_email,
        "start_time": meeting.start_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": f"{meeting.duration_s // 60}:{meeting.duration_s % 60:02d}",
        "participants": len(meeting.participants),
        "has_recording": meeting.has_recording,
        "has_archiving": False,
    }


def list_dashboard_meetings(request: web.Request, sandbox: ZoomSandbox, size: int, offset: int) -> dict[str, Any]:
    """GET /v2/metrics/meetings?type=past&from=&to=: one page of the account's past meetings, oldest first.

    Per the reference quoted at https://docs.rs/zoom-api/latest/zoom_api/dashboards/struct.Dashboards.html
    ("You can specify a monthly date range for the dashboard data using the from and to query parameters. The
    month should fall within the last six months."): a ``from`` before the same day six months ago is refused
    (400, code 300), as the call history refuses it; before, the sandbox listed any past month.
    """
    kind = request.query.get("type", "live")
    if kind not in _TYPES:
        raise ZoomApiError(400, 300, f"Invalid field: 'type' {kind!r}.")
    to = _day(request.query.get("to"), "to") or sandbox.today()
    start = _day(request.query.get("from"), "from") or to
    if start > to:
        raise ZoomApiError(400, 300, "The 'from' date must not be later than the 'to' date.")
    if (to - start).days > 31:
        raise ZoomApiError(400, 300, "The date range between 'from' and 'to' must not exceed one month.")
    if start < months_before(sandbox.today(), HISTORY_MONTHS):
        raise ZoomApiError(400, 300, "Only dashboard data from the last six months can be queried.")
    matches = [] if kind == "live" else [m for m in past_meetings(sandbox) if start <= m.start_time.date() <= to]
    if kind == "pastOne":
        matches = [m for m in matches if len(m.participants) == 1]
    page, paging = sandbox.page_of(matches, offset, size)
    return {
        "from": start.isoformat(),
        "to": to.isoformat(),
        **paging,
        "meetings": [_entry(m) for m in page],
    }


def dashboard_participants(sandbox: ZoomSandbox, raw_segment: str, size: int, offset: int) -> dict[str, Any]:
    """GET /v2/metrics/meetings/{meetingId}/participants: who joined, by Zoom's double-encoding rule, paged.

    Per https://developers.zoom.us/docs/api/accounts/#tag/dashboards/GET/metrics/meetings/{meetingId}/participants
    (as every meeting-UUID path): a UUID that starts with "/" or contains "//" must be double-encoded; sent
    single-encoded, Zoom's gateway splits it and answers 404 (``meeting_path_id``), so the sandbox does too.
    Per https://developers.zoom.us/docs/api/pagination/ (which names this listing): ``size`` participants from
    ``offset`` and a ``next_page_token`` when more follow; before, every participant came on one page.
    """
    found = meeting_path_id(raw_segment)
    wanted = found if found is not None else unquote(raw_segment)
    for meeting in past_meetings(sandbox) if found is not None else []:
        if wanted in (meeting.uuid, str(meeting.meeting_id)):
            people = [
                {"id": str(i), "email": e, "user_name": e.split("@")[0]} for i, e in enumerate(meeting.participants)
            ]
            page, paging = sandbox.page_of(people, offset, size)
            return {**paging, "participants": list(page)}
    raise ZoomApiError(404, 3001, f"Meeting does not exist: {wanted}.")
