"""SANDBOX: sends webhooks the way Zoom does — signed `recording.completed` and `endpoint.url_validation`."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from zoomsymbl_sandbox.zoom_signing import encrypt_plain_token, sign_zoom_webhook

# Zoom waits 3 s for an answer before it counts the delivery as failed.
ZOOM_WEBHOOK_TIMEOUT_S = 3.0


def recording_completed_event(
    meeting: Mapping[str, Any], download_token: str, *, event_ts: int | None = None
) -> dict[str, Any]:
    """The `recording.completed` body for the meeting object `meeting`."""
    return {
        "event": "recording.completed",
        "event_ts": event_ts if event_ts is not None else int(time.time() * 1000),
        "payload": {"account_id": meeting["account_id"], "object": dict(meeting)},
        "download_token": download_token,
    }


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as Zoom sends it: names such as "Zoë 🎧 Ng" arrive unescaped."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def post_signed(
    session: aiohttp.ClientSession,
    target_url: str,
    body: bytes,
    secret: str,
    *,
    timestamp: str | None = None,
    signature: str | None = None,
) -> aiohttp.ClientResponse:
    """POST `body` with Zoom's signature headers; `timestamp`/`signature` override them for negative tests.

    The caller must release the response (use it with `async with`).
    """
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": signature if signature is not None else sign_zoom_webhook(secret, timestamp, body),
        "user-agent": "Zoom Marketplace/1.0a",
    }
    timeout = aiohttp.ClientTimeout(total=ZOOM_WEBHOOK_TIMEOUT_S)
    return await session.post(target_url, data=body, headers=headers, timeout=timeout)


async def send_recording_completed(
    session: aiohttp.ClientSession,
    target_url: str,
    meeting: Mapping[str, Any],
    secret: str,
    *,
    download_token: str,
    event_ts: int | None = None,
    timestamp: str | None = None,
    signature: str | None = None,
) -> int:
    """POST a signed `recording.completed` event for `meeting`; return the receiver's HTTP status."""
    body = encode_event(recording_completed_event(meeting, download_token, event_ts=event_ts))
    async with await post_signed(
        session, target_url, body, secret, timestamp=timestamp, signature=signature
    ) as response:
        await response.read()
        return response.status


@dataclass(frozen=True)
class UrlValidationResult:
    """How a receiver answered `endpoint.url_validation`."""

    ok: bool
    status: int | None  # None when no answer came within Zoom's 3 s
    reason: str
    elapsed_s: float


def _judge_validation(status: int, raw: bytes, plain_token: str, secret: str) -> str:
    if status != 200:
        return f"status {status}"
    try:
        answer = json.loads(raw)
    except ValueError:
        return "answer is not JSON"
    if not isinstance(answer, dict):
        return "answer is not a JSON object"
    if answer.get("plainToken") != plain_token:
        return f"plainToken {answer.get('plainToken')!r} is not the one sent"
    if answer.get("encryptedToken") != encrypt_plain_token(secret, plain_token):
        return "encryptedToken does not match HMAC-SHA256(secret, plainToken)"
    return ""


async def send_url_validation(
    session: aiohttp.ClientSession, target_url: str, secret: str, *, plain_token: str | None = None
) -> UrlValidationResult:
    """Send a signed `endpoint.url_validation` and check the receiver's `encryptedToken`."""
    plain_token = plain_token or secrets.token_urlsafe(16)
    event = {
        "payload": {"plainToken": plain_token},
        "event_ts": int(time.time() * 1000),
        "event": "endpoint.url_validation",
    }
    started = time.monotonic()
    try:
        async with await post_signed(session, target_url, encode_event(event), secret) as response:
            raw = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return UrlValidationResult(False, None, f"no answer: {exc!r}", time.monotonic() - started)
    reason = _judge_validation(status, raw, plain_token, secret)
    return UrlValidationResult(not reason, status, reason or "ok", time.monotonic() - started)


__all__ = [
    "ZOOM_WEBHOOK_TIMEOUT_S",
    "UrlValidationResult",
    "encode_event",
    "post_signed",
    "recording_completed_event",
    "send_recording_completed",
    "send_url_validation",
]
