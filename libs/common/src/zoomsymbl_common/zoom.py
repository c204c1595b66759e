"""Zoom's REST API with Server-to-Server OAuth, shared by ingest's backfill and the mixer.

One :class:`ZoomClient` per tenant: it fetches the account-credentials token, caches it and
refreshes it before its 1-hour expiry (one caller at a time), sends every call through the
tenant's proxy when one is set, and turns Zoom's answers into the common error split: 429 →
:class:`RateLimitedError` (with ``Retry-After`` when Zoom sent it), 5xx/network →
:class:`RetryableError`, any other 4xx → :class:`ZoomApiError` (answers are read by
:mod:`zoomsymbl_common.zoom_answers`; the token endpoint's refusals are :class:`ZoomAuthError`, naming Zoom's
``error`` and ``reason``, never a secret). :func:`zoomsymbl_common.zoom_retries.call_with_retries` applies exponential
backoff with jitter on top. Tokens are registered with the log redactor.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr
from yarl import URL

from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom_answers import (
    InvalidPageError,
    JsonObject,
    OversizedPageError,
    ZoomApiError,
    answer,
    checked_page_token,
    checked_window,
    host_of,
    json_or_raise,
    oauth_refusal,
    token_rejected,
)
from zoomsymbl_common.zoom_quota import Priority, ZoomQuota, api_family, category_of
from zoomsymbl_common.zoom_retries import DailyLimitError, daily_limit_wait, retry_after_seconds

log = logging.getLogger("zoomsymbl.zoom")

# Refresh this long before Zoom's stated expiry, so a token never expires mid-request.
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
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


@dataclass(frozen=True)
class _Token:
    value: SecretStr
    refresh_at: float


class ZoomClient:
    """The Zoom API for one tenant (use ``async with`` or call :meth:`close`)."""

    def __init__(
        self,
        tenant: TenantConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        quota: ZoomQuota | None = None,
        priority: Priority = "priority",
    ) -> None:
        """``clock`` times the token's refresh; ``wall_clock`` reads a ``Retry-After`` instant (tests inject both).

        With ``quota`` every API call first takes a slot of the account's shared allowance (zoom_quota.py):
        ``priority`` for webhook-driven work, ``bulk`` for a backfill, which leaves the reserved share.
        """
        self.tenant = tenant
        self._wall_clock = wall_clock
        self._quota = quota
        self._priority: Priority = priority
        self._session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self._owns_session = session is None
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> ZoomClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session when this client opened it."""
        if self._owns_session:
            await self._session.close()

    async def access_token(self) -> SecretStr:
        """A valid S2S OAuth token; only one caller fetches when the cached one is near expiry."""
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = await self._fetch_token()
            return self._token.value

    def invalidate_token(self, token: SecretStr | None = None) -> None:
        """Forget the cached token (Zoom rejected it); with ``token``, only if that is still the cached
        one (a parallel caller may have replaced it already)."""
        if token is None or (self._token is not None and self._token.value == token):
            self._token = None

    async def list_recordings(
        self, from_: date, to: date, page_token: str = "", *, user: str = "me", page_size: int = MAX_PAGE_SIZE
    ) -> RecordingPage:
        """One page of the recordings of ``user`` between two dates (Zoom allows at most one month)."""
        params = {"from": from_.isoformat(), "to": to.isoformat(), "page_size": str(page_size)}
        path = f"/users/{path_segment(user, 'user id')}/recordings"
        items, token = await self._page(path, params, "meetings", page_token, what="list recordings")
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

    async def get_json(self, path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
        """GET an API ``path`` (already percent-encoded); a rejected token is refreshed once."""
        url = URL(self.tenant.zoom_api_base.rstrip("/") + path, encoded=True)
        if params:
            url = url.update_query(params)
        for attempt in (1, 2):
            token = await self.access_token()
            headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}
            status, data = await self._counted(path, url, what, headers)
            if attempt == 1 and (status == 401 or token_rejected(data)):
                self.invalidate_token()
                continue
            return json_or_raise(status, data, what)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _counted(self, path: str, url: URL, what: str, headers: Mapping[str, str]) -> tuple[int, object]:
        """``_send`` within the account's shared quota, when there is one; its 429s are reported to it."""
        if self._quota is None:
            return await self._send("GET", url, what, headers=headers)
        category, family = category_of(path), api_family(path)
        await self._quota.acquire(category, self._priority, family)
        try:
            return await self._send("GET", url, what, headers=headers)
        except DailyLimitError as exc:
            wait = exc.retry_after
            reset = self._wall_clock() + timedelta(seconds=wait) if wait is not None else None
            self._quota.note_rate_limited(category, "Daily-limit", reset, family)
            raise
        except RateLimitedError:
            self._quota.note_rate_limited(category, "QPS", family=family)  # Zoom's X-RateLimit-Type of per-second
            raise

    async def _fetch_token(self) -> _Token:
        url = URL(self.tenant.zoom_oauth_url).update_query(
            {"grant_type": "account_credentials", "account_id": self.tenant.zoom_account_id}
        )
        secret = self.tenant.zoom_client_secret.get_secret_value()
        credentials = f"{self.tenant.zoom_client_id}:{secret}"
        encoded = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        status, data = await self._send("POST", url, "oauth token", headers={"Authorization": f"Basic {encoded}"})
        if status >= 400:
            # Zoom's refusals (400 for a wrong client id or secret, account id, grant type; a deactivated app) name
            # why in {"error", "reason"}: a ZoomAuthError says it, never retried (a 429 or 5xx raised above is).
            raise oauth_refusal(status, data, secrets=(secret, encoded))
        body = json_or_raise(status, data, "oauth token")
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise RetryableError("zoom oauth token answer has no access_token")
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        register_secret(value, ttl=timedelta(seconds=min(max(seconds, 0.0), 86400.0) + 60))
        refresh_in = max(seconds - TOKEN_REFRESH_MARGIN_SECONDS, seconds / 2)
        log.info("zoom token fetched", extra={"tenant": self.tenant.id, "expires_in": seconds})
        return _Token(value=SecretStr(value), refresh_at=self._clock() + refresh_in)

    async def _send(
        self,
        method: str,
        url: URL,
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, object]:
        """``(status, parsed JSON or None)``; 429/5xx/network errors raise their retryable errors."""
        try:
            # Redirects are not followed: the answering side must not choose where our token (or the next
            # request) goes, nor whose answer we read as Zoom's (the JSON API and the token endpoint never redirect).
            async with self._session.request(
                method, url, headers=headers, proxy=self.tenant.zoom_proxy, allow_redirects=False
            ) as response:
                if response.status == 429:
                    now = self._wall_clock()
                    wait = retry_after_seconds(response.headers, now)
                    if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit":
                        raise DailyLimitError(f"zoom {what} rate limited", retry_after=daily_limit_wait(wait, now))
                    raise RateLimitedError(f"zoom {what} rate limited", retry_after=wait)
                if response.status >= 500:
                    raise RetryableError(f"zoom {what} answered {response.status}")
                if 300 <= response.status < 400:
                    raise ZoomApiError(response.status, what, f"a redirect to {host_of(response)} was not followed")
                return await answer(response, what)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"zoom {what} unreachable: {type(exc).__name__}") from None
