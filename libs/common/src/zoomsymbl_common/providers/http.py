"""HTTP plumbing shared by the provider clients: the request, status → error type, Retry-After, safe error text.

Every provider and insights-engine request goes through :func:`direct_request`, which never follows a redirect: the
host is the configured one, not one an answer names (aiohttp follows redirects by default, resending the body of
a 307/308 and every header but ``Authorization`` to the new host, https to http included). A 3xx is an error
like a 4xx. 429 → :class:`RateLimitedError` (wait, no retry budget spent); 5xx, timeouts and connection errors →
:class:`RetryableError`; any other 4xx → :class:`PoisonInputError` carrying the provider's message.
An answer is read only up to a byte bound; a 2xx answer past it is a :class:`PoisonInputError`.
Every message passes through the log redactor first: a provider may echo our webhook URL (which
holds the callback token) or a presigned URL back in an error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from zoomsymbl_common.bounded import read_bounded
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError, RetryableError
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.zoom_retries import retry_after_seconds

_MAX_MESSAGE = 300
MAX_ANSWER_BYTES = 128 * 1024 * 1024
"""Most bytes of one provider answer read (after decompression).

The largest real answer is a finished AssemblyAI transcript: every word twice (top level and in its
utterance) with times, confidence, speaker and channel, ~240 bytes a word as measured on a synthetic 10-hour
transcript at 180 words a minute (25.7 MB). AssemblyAI takes files of up to 10 hours; at a fast 300 words a
minute that is 180,000 words, ~43 MB; a Symbl ``messages`` answer with words is of the same order. 128 MiB
is about three times that worst case, and still a bounded allocation."""
_TOO_LARGE = b"(answer too large to read)"


class NotAName(PoisonInputError):
    """A stored provider id that cannot be one path segment: the provider cannot know it (nothing was asked)."""


def path_segment(provider: str, value: str, stage: str) -> str:
    """``value`` (a stored job, transcript or conversation id) as exactly one path segment of a provider's URL.

    Quoting keeps ``/ ? #`` inside the segment, but ``.`` and ``..`` stay what they are, and aiohttp's URLs
    normalise them (``%2E%2E`` too): ``/v2/transcript/..`` asks ``/v2/`` with our key. Such an id is refused
    (:class:`NotAName`), as the submitter refuses it when a provider answers one; a status call reads it as a job
    the provider does not know, a delete as nothing to delete.
    """
    if value in {"", ".", ".."}:
        raise NotAName(f"{provider} id {value!r} is not a name", stage=stage)
    return quote(value, safe="")


def direct_request(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """``session.request(method, url, **kwargs)`` that does not follow a redirect (:func:`read_json` refuses it).

    A redirect would let the answering side choose where our key, token, callback secret or transcript goes
    next: a provider's answer is untrusted input, and secrets go to the configured host only.
    """
    return session.request(method, url, allow_redirects=False, **kwargs)


def _redirect_target(headers: Mapping[str, str]) -> str:
    """The host a redirect names (never its path or query, which may carry a signed URL's secret)."""
    try:
        host = urlsplit(headers.get("Location", "")).hostname
    except ValueError:
        return "an invalid URL"
    return repr(scrub(host, 255)) if host else "the same host"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds, HTTP date or ISO-8601 instant), at most an hour."""
    seconds = retry_after_seconds(headers)
    return None if seconds is None else min(seconds, 3600.0)


def provider_message(body: bytes) -> str:
    """The human part of an error body (``message``/``error``/``detail``, or ``error.message`` as the LLM Gateway
    and OpenAI-style servers nest it: https://www.assemblyai.com/docs/llm-gateway/chat-completions), redacted and
    shortened."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "msg"):
            if isinstance(data.get(key), str):
                text = data[key]
                break
    # scrub, not only redact: a provider may echo a presigned URL of ours, which is no registered secret.
    return scrub(text.strip(), _MAX_MESSAGE) or "(empty body)"


def raise_for_status(
    provider: str, action: str, status: int, body: bytes, headers: Mapping[str, str], stage: str = "submit"
) -> None:
    """Raise the error type that ``status`` calls for; return for 2xx (a 3xx is a :class:`PoisonInputError`)."""
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise PoisonInputError(
            f"{provider} {action} answered a redirect (HTTP {status}) to {_redirect_target(headers)}, not followed:"
            " configure the address the API answers at",
            stage=stage,
        )
    message = provider_message(body)
    what = f"{provider} {action} answered HTTP {status}: {message!r}"
    if status == 429:
        raise RateLimitedError(what, retry_after=retry_after(headers))
    if status >= 500 or status in (408, 409, 425):
        raise RetryableError(what, retry_after=retry_after(headers))
    raise PoisonInputError(what, stage=stage)


@asynccontextmanager
async def transport_errors(provider: str, action: str) -> AsyncIterator[None]:
    """Turn connection failures and timeouts into :class:`RetryableError` (no URL in the message)."""
    try:
        yield
    except TimeoutError as exc:
        raise RetryableError(f"{provider} {action} timed out") from exc
    except aiohttp.ClientError as exc:
        raise RetryableError(f"{provider} {action} failed: {type(exc).__name__}") from exc


async def read_json(
    provider: str,
    action: str,
    response: aiohttp.ClientResponse,
    stage: str = "submit",
    *,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> dict[str, Any]:
    """The JSON object of a 2xx ``response``; anything else raises the matching error.

    An answer longer than ``max_bytes`` is not read further: an error status still raises its own error;
    a 2xx raises :class:`PoisonInputError` (asking again returns the same answer, so retrying only delays
    the outcome; every caller already handles the type, the insights engine as a failed window).
    """
    body = await read_bounded(response, max_bytes)
    if body is None:
        raise_for_status(provider, action, response.status, _TOO_LARGE, response.headers, stage)
        raise PoisonInputError(f"{provider} {action} answered more than {max_bytes} bytes", stage=stage)
    raise_for_status(provider, action, response.status, body, response.headers, stage)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes, as unusable
        raise RetryableError(f"{provider} {action} answered non-JSON with HTTP {response.status}") from None
    if not isinstance(data, dict):
        raise RetryableError(f"{provider} {action} answered a JSON {type(data).__name__}, not an object")
    return data


async def close_stream(stream: object) -> None:
    """Close an async generator body the HTTP client may have left half-read (frees the S3 response)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
