"""What Zoom's REST API answers, read within bounds: its client errors, JSON objects, page tokens.

:func:`answer` reads an answer that is neither a 429 nor a 5xx (those are :mod:`zoomsymbl_common.zoom`'s) within
:data:`MAX_ZOOM_ANSWER_BYTES`; :func:`json_or_raise` turns it into a JSON object or the error split: a 4xx is a
:class:`ZoomApiError`, a 200 without a JSON object a :class:`RetryableError` (Zoom's HTML pages). Nothing of a
token, a signed URL or a page token is ever put into an error.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import aiohttp
from yarl import URL

from zoomsymbl_common.bounded import read_bounded
from zoomsymbl_common.errors import RetryableError, ZoomsymblError
from zoomsymbl_common.providers.base import encodable

JsonObject = dict[str, Any]

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
    def scope_refused(self) -> bool:
        """Zoom refused this API to the app: 403 (the account or the app may not use it), or code 4711 ("Invalid
        access token, does not contain scopes: […]"). Any other refusal (a 404, another 400) is a call that failed."""
        return self.status == 403 or self.code == MISSING_SCOPE_CODE

    @property
    def phone_not_set_up(self) -> bool:
        """Zoom's documented refusal of a Zoom Phone API for an account without Zoom Phone, or the app's missing scope.

        "You'll receive a 403 error message if you have not set up Zoom Phone" (the Phone API reference,
        https://developers.zoom.us/docs/api/phone/); an app without the listing's scope is answered code 4711
        ("Invalid access token, does not contain scopes: […]"). No other refusal means the account has no Zoom
        Phone: a 404, another 400, an unreadable page are a listing that failed.
        """
        return self.scope_refused


class InvalidPageError(ZoomApiError):
    """A 200 listing page no Zoom serves (no list of entries, a bad ``next_page_token``): refused, never an end."""


class OversizedPageError(InvalidPageError):
    """A listing page held more entries than the ``page_size`` asked for: not a page Zoom serves (at most 300)."""


class NarrowedWindowError(InvalidPageError):
    """A listing page's ``from``/``to`` cover less than the dates asked for: the days left out would go unseen."""


class ZoomAuthError(ZoomApiError):
    """Zoom's token endpoint refused the app (client id or secret, account id, app deactivated): not retried."""

    def __init__(self, status: int, error: str, reason: str, code: int | None = None) -> None:
        super().__init__(status, "oauth token", ": ".join(part for part in (error, reason) if part), code)
        self.error = error
        self.reason = reason


# Zoom's token endpoint answers its refusals as {"reason", "error"} (400 for a wrong client id or secret, an
# unsupported grant type, a wrong account id): zoom_oauth.py of the sandbox names the pages. Never longer than this.
MAX_OAUTH_REASON_CHARS = 200
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def oauth_refusal(status: int, data: object, secrets: Iterable[str]) -> ZoomAuthError:
    """The :class:`ZoomAuthError` of a 4xx from the token endpoint: its ``error`` and ``reason`` (or an API-style
    ``message``), one line each, at most :data:`MAX_OAUTH_REASON_CHARS`, with every one of ``secrets`` (the client
    secret, the Basic credentials) that an answer may echo replaced by ``[redacted]``."""
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    hidden = [secret for secret in secrets if secret]

    def text(*keys: str) -> str:
        value = next((v for k in keys if isinstance(v := fields.get(k), str) and v.strip()), "")
        for secret in hidden:
            value = value.replace(secret, "[redacted]")
        return _CONTROLS.sub(" ", value).strip()[:MAX_OAUTH_REASON_CHARS]

    code = fields.get("code")
    return ZoomAuthError(status, text("error"), text("reason", "message"), code if type(code) is int else None)


def _answered_day(value: object) -> date | None:
    """The day of a listing's ``from``/``to`` (``2026-12-01`` or ``2026-12-01T00:00:00Z``), None when unreadable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def checked_window(data: JsonObject, from_: date, to: date, what: str) -> None:
    """Raise :class:`NarrowedWindowError` when the page's ``from``/``to`` cover less than ``from_``..``to``.

    Zoom's phone listings hold one month of data per answer: asked for a longer range, its call-logs listing
    answered 200 for the last month only, saying so in ``from``/``to`` alone
    (https://devforum.zoom.us/t/phone-call-logs-endpoint-returns-only-1-month-of-data/42360). Read as the whole
    range, the days before would be a window nobody saw reported complete. An answer without them (or with a
    value that is no date) is taken as the range asked.
    """
    served_from, served_to = _answered_day(data.get("from")), _answered_day(data.get("to"))
    if (served_from is not None and served_from > from_) or (served_to is not None and served_to < to):
        raise NarrowedWindowError(
            200,
            what,
            f"the page lists {served_from or from_}..{served_to or to}, not the {from_}..{to} asked for"
            " (Zoom answers one month at a time)",
        )


def checked_page_token(token: object, what: str) -> str:
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


def host_of(response: aiohttp.ClientResponse) -> str:
    """The host a redirect names, never its path or query (a signed URL's secret may be there)."""
    try:
        host = URL(response.headers.get("Location", "")).host
    except ValueError:
        return "an invalid URL"
    return repr(host[:255]) if host else "the same host"


async def answer(response: aiohttp.ClientResponse, what: str) -> tuple[int, object]:
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
        return 401 if token_rejected(_loads(text)) else response.status, None
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
    """Parsed JSON, or None when ``text`` is not JSON (nesting too deep for the parser counts as not JSON).

    Every string of it (names too) passes :func:`~zoomsymbl_common.providers.base.encodable` once, here: Python's
    parser accepts an escaped lone surrogate (``"a\\ud800b"``, an emoji cut in half in a topic) and hands on a code
    point no UTF-8 holds, which raised ``UnicodeEncodeError`` where a topic, an e-mail or a file id met BSON, an event's
    JSON or a hash: a backfill or reconciliation stopped at that meeting, every round."""
    try:
        return _encodable(json.loads(text))
    except (ValueError, RecursionError):
        return None


def _encodable(value: object) -> object:
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {encodable(key): _encodable(item) for key, item in value.items()}
    return value


def token_rejected(data: object) -> bool:
    # Zoom's error code 124: "Invalid access token" / "Access token is expired".
    return isinstance(data, dict) and data.get("code") == 124


def json_or_raise(status: int, data: object, what: str) -> JsonObject:
    if status >= 400:
        detail = str(data.get("message", "")) if isinstance(data, dict) else ""
        code = data.get("code") if isinstance(data, dict) else None
        raise ZoomApiError(status, what, detail[:200], code if isinstance(code, int) else None)
    if not isinstance(data, dict):
        # Zoom sometimes answers 200 with an HTML error page; the same call usually succeeds later.
        raise RetryableError(f"zoom {what} answered {status} without a JSON object")
    return data
