"""SANDBOX: Zoom Phone's call history — ``GET /v2/phone/call_history`` ("Get account's call history").

Per Zoom's pages found for it: https://developers.zoom.us/docs/api/phone/ (the Phone API reference, tag
Call Logs: ``GET /phone/call_history``; "You'll receive a 403 error message if you have not set up Zoom
Phone"), https://developers.zoom.us/docs/phone/understanding-call-history/ (it replaces "Get account's
call logs", sunset November 30 2025; account-level OAuth apps with scope ``phone:read:list_call_logs:admin``)
and https://developers.zoom.us/docs/phone/migrate/ (the ``call_log`` array becomes ``call_history``,
whose entries carry ``call_history_uuid`` and ``call_id``; ``call_log`` goes in November 2026). Zoom's
changelogs (https://developers.zoom.us/changelog/phone/june-04-2026.md,
https://developers.zoom.us/changelog/phone/december-08-2025.md) add the ``call_ids`` filter and the
``caller_account_code``/``callee_account_code`` fields to the same listing.

Confirmed there: the path, the scope, the ``call_history`` array with ``call_history_uuid`` and
``call_id``. The query, per the endpoint's reference as transcribed at
https://withone.ai/knowledge/zoom/conn_mod_def%3A%3AGJ8eWqIpEvA%3A%3AMuPI7UpkRImIrFHMeGWSYg ("Get an Account's Call
History"): without ``from``, the last 24 hours; with ``from``, ``to`` is required; "the date range defined by from
and to must be one month (the response only includes one month's worth of data)"; "the month queried should fall
within the last six months"; a ``next_page_token`` expires after 15 minutes. What Zoom does with a longer range is
what the call-logs listing it replaces did (https://devforum.zoom.us/t/phone-call-logs-endpoint-returns-only-1-
month-of-data/42360: ``from=2020-08-01&to=2021-02-01`` answered 200 with ``"from": "2021-01-01", "to":
"2021-02-01"``): the last month of the range is listed and the answer's ``from``/``to`` say which; the sandbox
does the same (it used to answer 400, which a client asking too much was never shown). A ``from`` without ``to``
is refused (400, code 300). Not confirmed by a Zoom page: ``page_size`` at most 300 (more is refused) and the
rate-limit label (Heavy here, as the call-logs listing it replaces). The entry's other fields (``id``,
``direction``, ``connect_type``, ``caller_*``/``callee_*`` with ``_ext_id``, ``_email``, ``_ext_type``,
``_did_number``, ``_ext_number``, ``start_time``, ``answer_time``, ``end_time``) and ``recording_status``
(``recorded`` / ``non_recorded``) follow the published client libraries' models of this listing (e.g. the Go
``zoom/models`` CallHistory and ``enums.RecordingStatus``), not a Zoom page: which field names "the
recorded user" is not documented; the ``user``-type extension on the user's side of the call is it here.

The sandbox's call history: one entry per recorded call (each ``PhoneCallSpec``, ``recorded``) and the
config's ``past_calls`` (not recorded, or recorded and never delivered). 429s and the Heavy budget come
from the middleware (route ``phone_call_history``), like every listing: the Phone API's own limits, config keys
``Phone Heavy`` (https://developers.zoom.us/docs/api/rate-limits/, "Zoom Phone APIs have unique rate limits").
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from zoomsymbl_sandbox.zoom_http import ZoomApiError
from zoomsymbl_sandbox.zoom_phone import RecordedCall
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, user_id
from zoomsymbl_sandbox.zoom_state import ZoomSandbox

MAX_PAGE_SIZE = 300
DEFAULT_PAGE_SIZE = 30
HISTORY_MONTHS = 6


@dataclass(frozen=True)
class CallRecord:
    """One call as the history lists it, whatever the sandbox knows it from."""

    call_id: str
    direction: str
    owner_email: str
    owner_name: str
    owner_extension: int
    other_number: str
    other_name: str
    start_time: datetime
    duration_s: int
    recorded: bool

    @classmethod
    def of_recording(cls, call: RecordedCall) -> CallRecord:
        """A recorded call (its ``PhoneCallSpec``)."""
        spec = call.spec
        inbound = spec.direction == "inbound"
        return cls(
            call_id=spec.call_id,
            direction=spec.direction,
            owner_email=spec.owner_email,
            owner_name=spec.owner_name,
            owner_extension=spec.owner_extension,
            other_number=spec.caller_number if inbound else spec.callee_number,
            other_name=spec.caller_name if inbound else spec.callee_name,
            start_time=spec.start_time,
            duration_s=call.duration_s,
            recorded=True,
        )

    @classmethod
    def of_past(cls, spec: PastCallSpec) -> CallRecord:
        """A configured past call."""
        return cls(
            spec.call_id, spec.direction, spec.owner_email, spec.owner_name, spec.owner_extension,
            spec.other_number, spec.other_name, spec.start_time, spec.duration_s, spec.recorded,
        )  # fmt: skip


def past_calls(sandbox: ZoomSandbox) -> list[CallRecord]:
    """Every call of the account, once per ``call_id`` (a recording wins), newest first."""
    calls: dict[str, CallRecord] = {}
    for spec in sandbox.config.past_calls:
        calls[spec.call_id] = CallRecord.of_past(spec)
    for recorded in sandbox.phone_calls.values():
        calls[recorded.spec.call_id] = CallRecord.of_recording(recorded)
    return sorted(calls.values(), key=lambda c: (c.start_time, c.call_id), reverse=True)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _side(call: CallRecord, owner: bool) -> dict[str, Any]:
    if owner:
        return {
            "ext_id": user_id(call.owner_email),
            "name": call.owner_name,
            "email": call.owner_email,
            "ext_number": str(call.owner_extension),
            "ext_type": "user",
            "did_number": "",
            "number_type": "zoom_pstn",
        }
    external = call.direction != "internal"
    return {
        "ext_id": "",
        "name": call.other_name,
        "email": "",
        "ext_number": "" if external else call.other_number,
        "ext_type": "" if external else "common_area",
        "did_number": call.other_number if external else "",
        "number_type": "external_pstn" if external else "zoom_pstn",
    }


def history_entry(call: CallRecord) -> dict[str, Any]:
    """One ``call_history[]`` entry (the user's side is the callee of an inbound call, else the caller)."""
    history_uuid = hashlib.sha256(call.call_id.encode()).hexdigest()
    owner_is_caller = call.direction != "inbound"
    sides = {"caller": _side(call, owner_is_caller), "callee": _side(call, not owner_is_caller)}
    entry: dict[str, Any] = {
        "id": history_uuid[:32],
        "call_history_uuid": f"{history_uuid[:8]}-{history_uuid[8:12]}-{history_uuid[12:16]}-{history_uuid[16:28]}",
        "call_id": call.call_id,
        "connect_type": "internal" if call.direction == "internal" else "external",
        "call_type": "general",
        "direction": "outbound" if owner_is_caller else "inbound",
        "international": False,
        "hide_caller_id": False,
        "end_to_end": False,
        "start_time": _stamp(call.start_time),
        "answer_time": _stamp(call.start_time),
        "end_time": _stamp(call.start_time + timedelta(seconds=call.duration_s)),
        "duration": call.duration_s,
        "recording_status": "recorded" if call.recorded else "non_recorded",
    }
    for role, side in sides.items():
        entry.update({f"{role}_{key}": value for key, value in side.items()})
    return entry


def query_day(value: str | None, field: str) -> date | None:
    """The day of a ``from``/``to`` query value (None when absent); 400, code 300, when it is neither form."""
    if value is None:
        return None
    try:  # yyyy-mm-dd, or Zoom's yyyy-MM-ddTHH:mm:ssZ
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()
    except ValueError:
        raise ZoomApiError(400, 300, f"Invalid field: {field!r} must be yyyy-mm-dd.") from None


def months_before(day: date, months: int) -> date:
    """The same day ``months`` months earlier (later when negative), clamped to that month's last day (not to
    the 28th: 2026-10-31 to 2026-11-29 is within a month)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def call_history_window(query: dict[str, str], today: date) -> tuple[date, date]:
    """The ``from``/``to`` served: the last day by default; ``to`` required with ``from``; of a range longer than
    a month, its last month only (the answer's ``from`` says so); within the last six months."""
    start, to = query_day(query.get("from"), "from"), query_day(query.get("to"), "to")
    if start is not None and to is None:
        raise ZoomApiError(400, 300, "The 'to' field is required when 'from' is specified.")
    to = to or today
    start = start or to - timedelta(days=1)
    if start > to:
        raise ZoomApiError(400, 300, "The 'from' date must not be later than the 'to' date.")
    start = max(start, months_before(to, 1))
    if start < months_before(today, HISTORY_MONTHS):
        raise ZoomApiError(400, 300, "Only call history from the last six months can be queried.")
    return start, to


def call_history_page_size(query: dict[str, str]) -> int:
    """``page_size``: 1 to 300 (30 by default); more is refused."""
    raw = query.get("page_size", str(DEFAULT_PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ZoomApiError(400, 300, f"Invalid field: 'page_size' {raw!r} (1 to {MAX_PAGE_SIZE}).")
    return int(raw)


def list_call_history(request: web.Request, sandbox: ZoomSandbox, offset: int) -> dict[str, Any]:
    """GET /v2/phone/call_history?from=&to=&page_size=&next_page_token=: one page, newest first."""
    query = dict(request.query)
    start, to = call_history_window(query, sandbox.today())
    size = call_history_page_size(query)
    matches = [c for c in past_calls(sandbox) if start <= c.start_time.date() <= to]
    page, paging = sandbox.page_of(matches, offset, size)
    return {
        "from": start.isoformat(),
        "to": to.isoformat(),
        **paging,
        "call_history": [history_entry(c) for c in page],
    }
