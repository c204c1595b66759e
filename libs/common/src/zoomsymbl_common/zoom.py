"""Zoom's REST API with Server-to-Server OAuth, shared by ingest's backfill and the mixer.

One :class:`ZoomClient` per tenant: the endpoints zoomsymbl reads (the account's paged listings, each page
checked before it is believed; a user's e-mail; a meeting's recordings and participants), on the token, proxy,
quota and error split of :class:`~zoomsymbl_common.zoom_transport.ZoomTransport`. Ids from Zoom or an event
become URL path segments here, never steps to another endpoint. :func:`zoomsymbl_common.zoom_retries.call_with_retries`
applies exponential backoff with jitter on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from zoomsymbl_common.zoom_answers import (
    InvalidPageError,
    JsonObject,
    OversizedPageError,
    ZoomApiError,
    checked_page_token,
    checked_window,
)
from zoomsymbl_common.zoom_transport import ZoomTransport

MAX_PAGE_SIZE = 300


def encode_meeting_uuid(uuid: str) -> str:
    """``uuid`` as one URL path segment; Zoom wants it encoded twice when it starts with ``/`` or has ``//``."""
    once = path_segment(uuid, "meeting uuid")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


def path_segment(value: str, what: str) -> str:
    """``value`` (an id from Zoom or an event) as one URL path segment; ``.`` and ``..`` are refused
    (:class:`ZoomApiError`, a 400 of our own): percent-encoding leaves dots alone, and ``/users/../recordings``
    would ask another endpoint of the same API, with the account's token, than the one meant."""
    if value in (".", ".."):
        raise ZoomApiError(400, what, f"{value!r} is not a Zoom id")
    return quote(value, safe="")


@dataclass(frozen=True)
class RecordingPage:
    """One page of ``GET /users/{user}/recordings``."""

    meetings: tuple[JsonObject, ...]
    next_page_token: str


@dataclass(frozen=True)
class UserPage:
    """One page of ``GET /users`` (the account's users of one status)."""

    users: tuple[JsonObject, ...]
    next_page_token: str


@dataclass(frozen=True)
class PhoneRecordingPage:
    """One page of ``GET /phone/recordings`` (the account's Zoom Phone call recordings)."""

    recordings: tuple[JsonObject, ...]
    next_page_token: str


@dataclass(frozen=True)
class CallHistoryPage:
    """One page of ``GET /phone/call_history`` (the account's Zoom Phone calls, recorded or not)."""

    calls: tuple[JsonObject, ...]
    next_page_token: str


@dataclass(frozen=True)
class PastMeetingPage:
    """One page of the dashboard's ``GET /metrics/meetings?type=past`` (the account's past meetings)."""

    meetings: tuple[JsonObject, ...]
    next_page_token: str


class ZoomClient(ZoomTransport):
    """The Zoom API for one tenant (use ``async with`` or call :meth:`close`)."""

    async def list_recordings(
        self, from_: date, to: date, page_token: str = "", *, user: str = "me", page_size: int = MAX_PAGE_SIZE
    ) -> RecordingPage:
        """One page of the recordings of ``user`` between two dates (at most one month).

        Zoom answers a longer range 200 for its last month, saying so in the answer's ``from`` alone
        (github.com/zoom/api/issues/36): such a page raises :class:`NarrowedWindowError`, never read as the whole.
        """
        params = {"from": from_.isoformat(), "to": to.isoformat(), "page_size": str(page_size)}
        path = f"/users/{path_segment(user, 'user id')}/recordings"
        items, token = await self._page(
            path, params, "meetings", page_token, what="list recordings", window=(from_, to)
        )
        return RecordingPage(meetings=items, next_page_token=token)

    async def list_users(
        self, status: str = "active", page_token: str = "", *, page_size: int = MAX_PAGE_SIZE
    ) -> UserPage:
        """One page of the account's users of ``status`` (active, inactive or pending).

        ``GET /users`` (scope ``user:read:list_users:admin``, rate-limit label Medium); a
        ``next_page_token`` is valid 15 minutes.
        """
        params = {"status": status, "page_size": str(page_size)}
        items, token = await self._page("/users", params, "users", page_token, what="list users")
        return UserPage(users=items, next_page_token=token)

    async def list_phone_recordings(
        self, from_: date, to: date, page_token: str = "", *, page_size: int = MAX_PAGE_SIZE
    ) -> PhoneRecordingPage:
        """One page of the account's Zoom Phone recordings between two dates (at most one month).

        ``GET /phone/recordings`` (scope ``phone:read:list_recordings:admin``, rate-limit label Medium).
        """
        params = {"from": from_.isoformat(), "to": to.isoformat(), "page_size": str(page_size)}
        items, token = await self._page(
            "/phone/recordings", params, "recordings", page_token, what="list phone recordings", window=(from_, to)
        )
        return PhoneRecordingPage(recordings=items, next_page_token=token)

    async def list_past_meetings(
        self, from_: date, to: date, page_token: str = "", *, page_size: int = MAX_PAGE_SIZE
    ) -> PastMeetingPage:
        """One page of the account's past meetings between two dates (dashboard, at most one month)."""
        params = {"type": "past", "from": from_.isoformat(), "to": to.isoformat(), "page_size": str(page_size)}
        items, token = await self._page("/metrics/meetings", params, "meetings", page_token, what="list past meetings")
        return PastMeetingPage(meetings=items, next_page_token=token)

    async def list_call_history(
        self, from_: date, to: date, page_token: str = "", *, page_size: int = MAX_PAGE_SIZE
    ) -> CallHistoryPage:
        """One page of the account's Zoom Phone call history between two dates (at most one month).

        ``GET /phone/call_history`` ("Get account's call history", scope ``phone:read:list_call_logs:admin``),
        which replaces the sunset call-logs listing; entries under ``call_history``, each with ``call_id`` and
        ``recording_status``. Zoom answers 403 (or 404) where the account has no Zoom Phone.
        """
        params = {"from": from_.isoformat(), "to": to.isoformat(), "page_size": str(page_size)}
        items, token = await self._page(
            "/phone/call_history", params, "call_history", page_token, what="list call history", window=(from_, to)
        )
        return CallHistoryPage(calls=items, next_page_token=token)

    async def _page(
        self,
        path: str,
        params: Mapping[str, str],
        key: str,
        page_token: str,
        *,
        what: str,
        window: tuple[date, date] | None = None,
    ) -> tuple[tuple[JsonObject, ...], str]:
        """One page of a paged listing: the objects under ``key`` and the next page's token ("" on the last).

        Zoom sends every page, the last too, with its list under ``key`` (empty when there is nothing) and a string
        ``next_page_token``, empty on the last page. Pages used: the generated response types of Zoom's own SDK
        (https://zoom.github.io/rivet-javascript/types/Accounts.DashboardsListMeetingsResponse.html: ``meetings``;
        .../types/Phone.CallLogsGetAccountsCallHistoryResponse.html, whose array becomes ``call_history`` per
        https://developers.zoom.us/docs/phone/migrate/; .../types/Phone.CallQueuesGetCallQueueRecordingsResponse.html:
        ``recordings``; they mark no field required) and Zoom's pagination pages and examples
        (https://marketplace.zoom.us/docs/api-reference/pagination,
        https://devforum.zoom.us/t/handling-paginated-responses-from-the-zoom-api/68825).

        An answer without that list, or whose list holds anything but objects, or whose token is not a string or
        is longer than :data:`MAX_PAGE_TOKEN_CHARS`, raises :class:`InvalidPageError`: read as an empty last page
        it made a window nobody saw "complete". A page of more entries than ``params["page_size"]`` raises
        :class:`OversizedPageError`: the page caps (ingest's paging.py) bound a runaway listing's calls and,
        through the page size, its entries, each of which may cost a call of its own (a backfill's recording
        details). The errors name the field, never the token. With ``window``, a page whose ``from``/``to`` cover less
        of it raises :class:`NarrowedWindowError` (zoom_answers.checked_window). A ``page_size`` Zoom does not serve
        (outside 1..:data:`MAX_PAGE_SIZE`; Zoom documents no clamping) is a ``ValueError`` before anything is sent.
        """
        asked = int(params.get("page_size", MAX_PAGE_SIZE))
        if not 1 <= asked <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size {asked} is outside Zoom's 1..{MAX_PAGE_SIZE}")
        data = await self.get_json(path, {**params, "next_page_token": page_token} if page_token else params, what=what)
        if window is not None:
            checked_window(data, *window, what)
        entries = data.get(key)
        if not isinstance(entries, list):
            found = "none" if entries is None else f"a {type(entries).__name__}"
            raise InvalidPageError(200, what, f"the answer has no {key!r} list ({found})")
        if len(entries) > asked:
            raise OversizedPageError(200, what, f"a page of {len(entries)} entries, more than the {asked} asked for")
        if not all(isinstance(e, dict) for e in entries):
            raise InvalidPageError(200, what, f"the {key!r} list holds entries that are not objects")
        return tuple(entries), checked_page_token(data.get("next_page_token"), what)

    async def user_email(self, user_id: str) -> str:
        """The e-mail of a Zoom user (``GET /users/{userId}``, scope ``user:read:user:admin``); empty if none."""
        data = await self.get_json(f"/users/{path_segment(user_id, 'user id')}", {}, what="get user")
        email = data.get("email")
        return email.strip()[:320] if isinstance(email, str) and "@" in email else ""

    async def get_meeting_recordings(self, uuid: str) -> JsonObject:
        """``GET /meetings/{uuid}/recordings`` (download URLs, participant files) for one meeting instance."""
        return await self.get_json(f"/meetings/{encode_meeting_uuid(uuid)}/recordings", {}, what="meeting recordings")

    async def past_meeting_participants(self, uuid: str, *, max_pages: int = 10) -> tuple[tuple[str, str], ...]:
        """(name, e-mail) of who attended, from ``GET /past_meetings/{uuid}/participants`` (paged, 300 a page).

        Zoom fills ``user_email`` only where the account allows it (the participant signed in, and the app
        has the past-participants scope); entries without one are left out.
        """
        found: list[tuple[str, str]] = []
        token = ""
        for _ in range(max_pages):
            params = {"page_size": "300", **({"next_page_token": token} if token else {})}
            path = f"/past_meetings/{encode_meeting_uuid(uuid)}/participants"
            data = await self.get_json(path, params, what="past meeting participants")
            people = data.get("participants")
            for person in people if isinstance(people, list) else []:
                if not isinstance(person, dict):
                    continue
                name, mail = person.get("name"), person.get("user_email")
                if isinstance(name, str) and isinstance(mail, str) and name.strip() and "@" in mail:
                    found.append((name.strip()[:200], mail.strip()[:320]))
            next_token = data.get("next_page_token")
            token = next_token if isinstance(next_token, str) else ""
            if not token:
                break
        return tuple(found)
