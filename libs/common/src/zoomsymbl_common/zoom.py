"""Zoom's REST API with Server-to-Server OAuth, shared by ingest's backfill and the mixer.

One :class:`ZoomClient` per tenant: it fetches the account-credentials token, caches it and
refreshes it before its 1-hour expiry (one caller at a time), sends every call through the
tenant's proxy when one is set, and turns Zoom's answers into the common error split: 429 →
:class:`RateLimitedError` (with ``Retry-After`` when Zoom sent it), 5xx/network →
:class:`RetryableError`, any other 4xx → :class:`ZoomApiError`. :func:`call_with_retries` applies
exponential backoff with jitter on top. Tokens are registered with the log redactor.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr
from yarl import URL

from zoomsymbl_common.bounded import read_bounded
from zoomsymbl_common.errors import RateLimitedError, RetryableError, ZoomsymblError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom_quota import (
    DAILY_RESET_MARGIN,
    Priority,
    ZoomQuota,
    api_family,
    category_of,
    latest_daily_reset,
)

log = logging.getLogger("zoomsymbl.zoom")
T = TypeVar("T")
JsonObject = dict[str, Any]

# Refresh this long before Zoom's stated expiry, so a token never expires mid-request.
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
MAX_PAGE_SIZE = 300
# A daily-limit 429 is waited out at least DAILY_LIMIT_MIN_WAIT (``Retry-After: 0`` or a reset already past must not
# repeat the call at once) and at most until the next 00:00 UTC plus DAILY_RESET_MARGIN (zoom_quota.py), when Zoom
# has reset its daily limits; that long too without a usable Retry-After. Never longer than DAILY_LIMIT_MAX_WAIT.
DAILY_LIMIT_MIN_WAIT = 60.0
DAILY_LIMIT_MAX_WAIT = 86400.0 + DAILY_RESET_MARGIN.total_seconds()
# A DailyLimitError that names no wait (ZoomClient's always name one): look again in an hour.
DAILY_LIMIT_FALLBACK_WAIT = 3600.0
# call_with_retries waits for the daily reset at most this often per call; a daily limit still spent is then raised.
DAILY_LIMIT_MAX_WAITS = 3
# A Retry-After further off than this (a date in 9999, 1e12) is no wait a server means: read as absent. Zoom's
# longest, the daily reset, is less than a day away.
MAX_RETRY_AFTER_SECONDS = 2 * 86400.0
ZOOM_RETRY_POLICY = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=60.0, max_rate_limit_wait=300.0)
# Zoom's largest answers are listing pages of at most 300 entries (a page of meetings with their recording
# files, of users, of participants: ~1-2 KB an entry, well under 1 MB a page). 16 MiB is over ten times that,
# and bounds what an answer (a proxy's, or a gzip bomb: the bound applies after decompression) can make us hold.
MAX_ZOOM_ANSWER_BYTES = 16 * 1024 * 1024
# Zoom's next_page_tokens are about 35 characters ("Usse957pzxvmYwlmCZ50a6CNXFrhztxuj82" in its references). A longer
# one is no page Zoom serves: it is refused, so the tokens a listing remembers (ingest's paging.py: up to 10,000) hold
# at most 5 MB, and no huge token is sent back in a URL.
MAX_PAGE_TOKEN_CHARS = 512
# Zoom's code for an access token without the scope an API needs ("Invalid access token, does not contain scopes").
MISSING_SCOPE_CODE = 4711


class ZoomApiError(ZoomsymblError):
    """Zoom answered a client error (4xx other than 429) that repeating the call will not fix."""

    def __init__(self, status: int, what: str, detail: str = "", code: int | None = None) -> None:
        super().__init__(f"zoom {what} answered {status}" + (f": {detail!r}" if detail else ""))
        self.status = status
        self.what = what
        self.detail = detail
        self.code = code

    @property
    def page_token_expired(self) -> bool:
        """Zoom refused a ``next_page_token`` (older than 15 minutes, or unknown): the listing restarts.

        Zoom answers it with 400 and its validation code 300 ("The next page token is invalid or expired.").
        """
        return self.status == 400 and self.code == 300 and "page token" in self.detail.lower()

    @property
    def phone_not_set_up(self) -> bool:
        """Zoom's documented refusal of a Zoom Phone API for an account without Zoom Phone, or the app's missing scope.

        "You'll receive a 403 error message if you have not set up Zoom Phone" (the Phone API reference,
        https://developers.zoom.us/docs/api/phone/); an app without the listing's scope is answered code 4711
        ("Invalid access token, does not contain scopes: […]"). No other refusal means the account has no Zoom
        Phone: a 404, another 400, an unreadable page are a listing that failed.
        """
        return self.status == 403 or self.code == MISSING_SCOPE_CODE


class InvalidPageError(ZoomApiError):
    """A 200 listing page no Zoom serves (no list of entries, a bad ``next_page_token``): refused, never an end."""


class OversizedPageError(InvalidPageError):
    """A listing page held more entries than the ``page_size`` asked for: not a page Zoom serves (at most 300)."""


class DailyLimitError(RateLimitedError):
    """A 429 with ``X-RateLimit-Type: Daily-limit``: the account's daily budget is spent until ``retry_after``."""


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
            "/phone/recordings", params, "recordings", page_token, what="list phone recordings"
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
            "/phone/call_history", params, "call_history", page_token, what="list call history"
        )
        return CallHistoryPage(calls=items, next_page_token=token)

    async def _page(
        self, path: str, params: Mapping[str, str], key: str, page_token: str, *, what: str
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
        details). The errors name the field, never the token.
        """
        data = await self.get_json(path, {**params, "next_page_token": page_token} if page_token else params, what=what)
        entries = data.get(key)
        if not isinstance(entries, list):
            found = "none" if entries is None else f"a {type(entries).__name__}"
            raise InvalidPageError(200, what, f"the answer has no {key!r} list ({found})")
        asked = int(params.get("page_size", MAX_PAGE_SIZE))
        if len(entries) > asked:
            raise OversizedPageError(200, what, f"a page of {len(entries)} entries, more than the {asked} asked for")
        if not all(isinstance(e, dict) for e in entries):
            raise InvalidPageError(200, what, f"the {key!r} list holds entries that are not objects")
        return tuple(entries), _page_token(data.get("next_page_token"), what)

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
            if attempt == 1 and (status == 401 or _token_rejected(data)):
                self.invalidate_token()
                continue
            return _json_or_raise(status, data, what)
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
            self._quota.note_rate_limited(category, "Per-second-limit", family=family)
            raise

    async def _fetch_token(self) -> _Token:
        url = URL(self.tenant.zoom_oauth_url).update_query(
            {"grant_type": "account_credentials", "account_id": self.tenant.zoom_account_id}
        )
        credentials = f"{self.tenant.zoom_client_id}:{self.tenant.zoom_client_secret.get_secret_value()}"
        basic = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        status, data = await self._send("POST", url, "oauth token", headers={"Authorization": basic})
        body = _json_or_raise(status, data, "oauth token")
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
                    raise ZoomApiError(response.status, what, f"a redirect to {_host_of(response)} was not followed")
                return await _answer(response, what)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"zoom {what} unreachable: {type(exc).__name__}") from None


def _page_token(token: object, what: str) -> str:
    """A page's ``next_page_token`` ("" when absent or null: the last page); :class:`InvalidPageError` when it is
    not a string or longer than :data:`MAX_PAGE_TOKEN_CHARS` (its length is named, never the token)."""
    if token is None:
        return ""
    if not isinstance(token, str):
        raise InvalidPageError(200, what, f"a next_page_token that is a {type(token).__name__}, not a string")
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        raise InvalidPageError(
            200, what, f"a next_page_token of {len(token)} characters, longer than {MAX_PAGE_TOKEN_CHARS}"
        )
    return token


def _host_of(response: aiohttp.ClientResponse) -> str:
    """The host a redirect names, never its path or query (a signed URL's secret may be there)."""
    try:
        host = URL(response.headers.get("Location", "")).host
    except ValueError:
        return "an invalid URL"
    return repr(host[:255]) if host else "the same host"


async def _answer(response: aiohttp.ClientResponse, what: str) -> tuple[int, object]:
    """``(status, parsed JSON or None)`` of an answer that is neither a 429 nor a 5xx, read within the bound."""
    body = await read_bounded(response, MAX_ZOOM_ANSWER_BYTES)
    if body is None:
        if response.status < 300:
            # Unusable like Zoom's other bad 200s (an HTML page for JSON): retryable, within the retry budget
            # every caller already has; a 4xx keeps its status (ZoomApiError) without a detail.
            raise RetryableError(f"zoom {what} answered more than {MAX_ZOOM_ANSWER_BYTES} bytes")
        return response.status, None
    if response.status < 300 and response.content_type != "application/json":
        # Zoom's quirk: a 200 carrying an HTML page or an error, labelled text/html.
        text = body.decode(_charset(response), errors="replace")
        return 401 if _token_rejected(_loads(text)) else response.status, None
    try:
        return response.status, _loads(body.decode(_charset(response)))
    except ValueError:  # not text in its charset: as unreadable as invalid JSON
        return response.status, None


def _charset(response: aiohttp.ClientResponse) -> str:
    """The answer's declared charset when Python knows it, else UTF-8 (JSON's default)."""
    try:
        return codecs.lookup(response.charset or "utf-8").name
    except LookupError:
        return "utf-8"


def _loads(text: str) -> object:
    """Parsed JSON, or None when ``text`` is not JSON (nesting too deep for the parser counts as not JSON)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _token_rejected(data: object) -> bool:
    # Zoom's error code 124: "Invalid access token" / "Access token is expired".
    return isinstance(data, dict) and data.get("code") == 124


def _json_or_raise(status: int, data: object, what: str) -> JsonObject:
    if status >= 400:
        detail = str(data.get("message", "")) if isinstance(data, dict) else ""
        code = data.get("code") if isinstance(data, dict) else None
        raise ZoomApiError(status, what, detail[:200], code if isinstance(code, int) else None)
    if not isinstance(data, dict):
        # Zoom sometimes answers 200 with an HTML error page; the same call usually succeeds later.
        raise RetryableError(f"zoom {what} answered {status} without a JSON object")
    return data


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, or None when absent, unreadable, not finite (``inf``, ``nan``) or absurd
    (further off than :data:`MAX_RETRY_AFTER_SECONDS`): callers then wait as if Zoom had sent none.

    Zoom answers in three forms: seconds (``30``), an HTTP date (``Thu, 04 Dec 2026 00:00:00 GMT``) and,
    for its daily limits, an ISO-8601 instant (``2026-12-04T00:00:00Z``, the next UTC midnight).
    """
    raw = headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        when = _http_date(raw) or _iso_instant(raw)
        if when is None:
            return None
        seconds = (when - (now or utcnow())).total_seconds()
    if not math.isfinite(seconds) or seconds > MAX_RETRY_AFTER_SECONDS:
        return None
    return max(0.0, seconds)


def daily_limit_wait(seconds: float | None, now: datetime) -> float:
    """How long to wait out a daily-limit 429 whose ``Retry-After`` read ``seconds`` at ``now``.

    At most until the next 00:00 UTC plus the margin, when Zoom's daily limits have reset whatever it
    announced, and that long when it announced nothing usable (None, not finite); at least
    :data:`DAILY_LIMIT_MIN_WAIT`, so ``Retry-After: 0`` cannot make a caller spin.
    """
    latest = (latest_daily_reset(now) - now).total_seconds()
    if seconds is None or not math.isfinite(seconds):
        return latest
    return min(max(seconds, DAILY_LIMIT_MIN_WAIT), latest)


def _http_date(raw: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year or hour of 20 digits
        return None
    return when if when.tzinfo else None


def _iso_instant(raw: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = ZOOM_RETRY_POLICY,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    max_rate_limited: int = 20,
    max_daily_waits: int = DAILY_LIMIT_MAX_WAITS,
) -> T:
    """Run ``operation``, waiting out 429s (``Retry-After`` or backoff) and retrying other retryable errors.

    Re-raises the last error once ``policy.max_attempts`` retryable failures or ``max_rate_limited``
    429s happened; non-retryable errors propagate at once. A spent daily budget (:class:`DailyLimitError`)
    is waited out until its reset (its ``Retry-After``, else an hour; at least :data:`DAILY_LIMIT_MIN_WAIT`,
    at most :data:`DAILY_LIMIT_MAX_WAIT`) without counting against the others: the work resumes instead of
    failing. Still spent after ``max_daily_waits`` such waits, it is raised as a :class:`DailyLimitError`.
    """
    failures = 0
    limited = 0
    daily_waits = 0
    while True:
        try:
            return await operation()
        except DailyLimitError as exc:
            told = exc.retry_after
            wait = told if told is not None and math.isfinite(told) else DAILY_LIMIT_FALLBACK_WAIT
            wait = min(max(wait, DAILY_LIMIT_MIN_WAIT), DAILY_LIMIT_MAX_WAIT)
            daily_waits += 1
            if daily_waits > max_daily_waits:
                raise DailyLimitError(
                    f"{exc}: the daily limit was still spent after {max_daily_waits} waits for its reset",
                    retry_after=wait,
                ) from exc
            await sleep(wait)
        except RateLimitedError as exc:
            limited += 1
            if limited > max_rate_limited:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.delay(limited)
            await sleep(min(wait, policy.max_rate_limit_wait))
        except RetryableError:
            failures += 1
            if failures >= policy.max_attempts:
                raise
            await sleep(policy.delay(failures))
