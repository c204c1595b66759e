"""JSON-lines logging with trace ids, and a last line of defence against leaked secrets.

Every record is one JSON object: ``ts``, ``level``, ``logger``, ``msg`` (lower case), the current
OpenTelemetry ``trace_id``/``span_id`` when a span is active, and any ``extra`` fields. Values
registered with :func:`register_secret` are replaced by ``[redacted]`` wherever they appear.
:func:`scrub` goes further for text that leaves the process (an event, an e-mail).
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from opentelemetry import trace

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_secrets: set[str] = set()  # permanent: configuration secrets, for the life of the process
_secrets_lock = threading.Lock()
REDACTED = "[redacted]"
_PREFIX = 6  # the shortest secret registered; secrets are found by their first _PREFIX characters
# Registered secrets by their first characters: a log line is searched for its own windows, so the
# cost of redaction follows the line's length, not the number of secrets.
_by_prefix: dict[str, set[str]] = {}
# Per-request secrets (a webhook's download token, a presigned URL, a job's callback token) are kept
# only while they are valid (their ``ttl``) and at most this many forms, oldest dropped first: ingest
# registers one per webhook, and a set that only grows is a slow memory leak. A secret past its
# validity opens nothing, so forgetting it is safe.
MAX_EPHEMERAL = 100_000
_ephemeral: dict[str, float] = {}  # form → monotonic expiry
_expiries: list[tuple[float, str]] = []  # heap of (expiry, form); an entry superseded by a later one is skipped
_HEAP_SLACK = 1024  # superseded heap entries tolerated beyond one per live form before the heap is rebuilt
# A URL (its userinfo, path, query and fragment may all be capabilities), a credential after an
# auth scheme, and a ``name=value`` / ``name: value`` pair whose name says it is a secret.
# Every repetition that can fail and be retried from the next position is bounded (or its
# alternatives cannot overlap), so scrubbing a hostile provider body stays linear in its length.
_PLAIN = re.compile(r"[A-Za-z0-9._~+/=:@%-]*")  # characters neither repr() nor JSON escape
_URL = re.compile(r"(?i)([a-z][a-z0-9+.-]{0,30}://)([^/\s?#'\"<>]*)([^\s'\"<>]*)")
# A URL inside a query string or a form body (``https%3A%2F%2Fhost%2Fk%3FX-Amz-Signature%3D…``) or a
# JSON body whose encoder escapes slashes (``https:\/\/host\/k?…``): the same capabilities in disguise.
# Encoded twice (``https%253A%252F%252F…``: a redirect target inside a query inside a query) counts as well.
_DISGUISED_URL = re.compile(
    r"(?i)([a-z][a-z0-9+.-]{0,30})(?:%(?:25)?3A%(?:25)?2F%(?:25)?2F|:\\/\\/)"
    r"((?:[^\s'\"<>%/\\?#]|%(?!(?:25)?(?:2F|3F|23))[0-9a-f]{2})*)"
    r"((?:%(?:25)?(?:2F|3F|23)|\\?/|[?#])[^\s'\"<>]*)?"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]+")
# The name may be closed by a quote (``{"access_token": "…"}``, ``{'appSecret': …}``, or ``\"`` when
# that JSON is itself quoted in a JSON string) and its separator percent-encoded (``token%3D…``).
_SECRET_PAIR = re.compile(
    # a name glued to an encoded separator (``%26access_token%3D…``, or ``%2526…`` encoded twice) counts
    r"(?i)(?:\b|(?<=%[0-9a-f]{2})|(?<=%25[0-9a-f]{2}))"
    r"([a-z_-]{0,64}(?:token|secret|password|passwd|signature|api[_-]?key|authorization)[a-z_-]{0,64})"
    r"(\\?['\"]?\s{0,16}(?:[=:]|%(?:25)?3[ad])\s{0,16})(\\?['\"]?)(?:[^\s'\"&,;\\]|\\(?!['\"]))+"
)


def _forms(value: str) -> set[str]:
    """``value`` as it may appear in a line: raw, quoted by ``!r``, escaped by JSON, or both."""
    if _PLAIN.fullmatch(value):  # nothing to escape (most tokens): one form, found without escaping anything
        return {value}
    quoted = repr(value)[1:-1]
    return {value, quoted, _json_inner(value), _json_inner(quoted)}


def _json_inner(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def register_secret(value: str | None, *, ttl: timedelta | None = None) -> None:
    """Never print ``value`` in a log line again (tokens, passwords, signed URLs).

    Without ``ttl`` the value is redacted for the life of the process (configuration secrets). With
    ``ttl`` (a per-request secret: how long it stays valid) it is redacted for that long, and among at
    most :data:`MAX_EPHEMERAL` such forms. A secret holding ``"``, ``\\`` or a control character is
    also found in its escaped forms (a log line is JSON; an error message quotes values with ``!r``).
    """
    if not value or len(value) < _PREFIX:
        return
    now = time.monotonic()
    with _secrets_lock:
        for form in _forms(value):
            _by_prefix.setdefault(form[:_PREFIX], set()).add(form)
            if ttl is None:
                _secrets.add(form)
                _ephemeral.pop(form, None)  # its heap entry is skipped when popped
            elif form not in _secrets:
                expiry = max(now + ttl.total_seconds(), _ephemeral.get(form, 0.0))
                _ephemeral[form] = expiry
                heapq.heappush(_expiries, (expiry, form))
        _forget_expired(now)


def _forget_expired(now: float) -> None:
    """Drop per-request secrets past their validity, then the soonest to expire beyond the cap (lock held)."""
    while _expiries and (_expiries[0][0] <= now or len(_ephemeral) > MAX_EPHEMERAL):
        expiry, form = heapq.heappop(_expiries)
        if _ephemeral.get(form) != expiry:
            continue  # re-registered later with a longer validity, or made permanent
        del _ephemeral[form]
        forms = _by_prefix.get(form[:_PREFIX])
        if forms is not None:
            forms.discard(form)
            if not forms:
                del _by_prefix[form[:_PREFIX]]
    if len(_expiries) > 2 * len(_ephemeral) + _HEAP_SLACK:
        # Superseded entries wait in the heap until their own expiry: a token registered again on every request
        # (the web's page token, up to 30 days) left one per request. Rebuilt from the live entries: amortised O(1).
        _expiries[:] = [(expiry, form) for form, expiry in _ephemeral.items()]
        heapq.heapify(_expiries)


def registered_count() -> int:
    """How many secret forms the redactor holds (permanent and per-request)."""
    with _secrets_lock:
        return len(_secrets) + len(_ephemeral)


def register_uri_password(uri: str) -> None:
    """Register the password in ``uri``'s userinfo (``mongodb://user:password@host/``), raw and decoded."""
    try:
        netloc = urlsplit(uri).netloc
    except ValueError:  # e.g. an unbalanced "[": still find the userinfo
        netloc = uri.partition("://")[2].partition("/")[0]
    userinfo, at, _ = netloc.rpartition("@")
    _, colon, password = userinfo.partition(":")
    if at and colon and password:
        register_secret(password)
        register_secret(unquote(password))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]`` (longest first)."""
    windows = {text[i : i + _PREFIX] for i in range(len(text) - _PREFIX + 1)}
    with _secrets_lock:
        candidates = [s for w in windows & _by_prefix.keys() for s in _by_prefix[w]]
    for secret in sorted(candidates, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub(text: str, limit: int = 1000) -> str:
    """``text`` fit to leave the process (an event, an e-mail), at most ``limit`` characters.

    Registered secrets are redacted, every URL is cut to its scheme and host (``https://zoom.us/…``),
    and credentials after ``Bearer``/``Basic`` or in ``token=…``-like pairs are masked. Idempotent.
    """
    text = redact(text)
    text = _DISGUISED_URL.sub(_disguised_url, text)
    text = _URL.sub(lambda m: m[1] + m[2].rpartition("@")[2] + ("/…" if m[3] else ""), text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{REDACTED}", text)
    return text[:limit]


def _disguised_url(match: re.Match[str]) -> str:
    """A percent-encoded or slash-escaped URL as a plain ``scheme://host/…`` (its userinfo dropped)."""
    host = match[2].rpartition("@")[2].rpartition("%40")[2].rpartition("%2540")[2]
    return f"{match[1]}://{host}" + ("/…" if match[3] else "")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with trace context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = format(ctx.trace_id, "032x")
            entry["span_id"] = format(ctx.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            # Scrubbed, not only redacted: a chained cause may quote a URL whose token nobody registered
            # (an aiohttp timeout names the URL it fetched). Not shortened: the whole trace is the point.
            entry["exc"] = scrub(self.formatException(record.exc_info), sys.maxsize)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def setup_logging(level: str = "INFO", service: str = "zoomsymbl") -> None:
    """Send every logger's records as JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs connection failures at ERROR on every retry; they are reported by our own code.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger(service).setLevel(level)


class LogSampler:
    """At most ``per_second`` lines a second on average (``burst`` at once) for one kind of INFO line.

    A line per event is useful when events are rare and a cost when they are not: at thousands of
    webhooks a second ingest spent about a tenth of its CPU formatting and redacting "recording
    published" (issue 21). :meth:`take` says whether to write this one, and how many were left out
    since the last one written, which that line reports (``unlogged``): the metrics keep counting
    every event whatever is logged.
    """

    def __init__(self, per_second: float = 20.0, burst: int = 50, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.burst, self._clock = per_second, burst, clock
        self._tokens = float(burst)
        self._last = clock()
        self._skipped = 0

    def take(self) -> int | None:
        """None: leave this line out; otherwise write it, reporting the returned count of lines left out."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.per_second)
        self._last = now
        if self._tokens < 1.0:
            self._skipped += 1
            return None
        self._tokens -= 1.0
        skipped, self._skipped = self._skipped, 0
        return skipped
