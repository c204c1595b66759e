"""The webhook endpoint: verify, parse, answer url_validation, hand recordings to the intake.

Outcomes: 401 bad/missing signature or stale timestamp, 404 unknown tenant, 400 not JSON or
missing fields or a value no event can hold, 413 body too large, 408 body not read within the
webhook's deadline (a slow or stalled sender holds no connection longer), 200 for ignored event types,
200 only after Kafka acknowledged a recording (or it was a duplicate), 503 when Kafka (or the
deadline) failed, so Zoom retries. A phone webhook's entries stand alone: the good ones are
published (200, ``skipped`` counts the others), 400 only when none is good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.logs import LogSampler, scrub
from zoomsymbl_common.service import TENANTS
from zoomsymbl_common.telemetry import tracer
from zoomsymbl_common.tenants import TenantConfig, has_oauth

from zoomsymbl_ingest.intake import Intake, host_allowed
from zoomsymbl_ingest.metrics import IngestMetrics, Outcome, RejectReason
from zoomsymbl_ingest.phone_payload import phone_owner, phone_recording_completed, phone_recordings
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.signature import SignatureRejected, encrypted_token, verify
from zoomsymbl_ingest.zoom_payload import (
    PayloadError,
    Webhook,
    host_of,
    parse_webhook,
    plain_token,
    recording_completed,
    recording_object,
    refused_event,
)

log = logging.getLogger("zoomsymbl.ingest.webhooks")

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", IngestMetrics)
INTAKE = web.AppKey("intake", Intake)
# "recording published" at most this often: one line per webhook costs CPU at high rates (issue 21).
PUBLISHED_LINES = web.AppKey("published_lines", LogSampler)

# Zoom's download_token is valid for about a day after the event.
DOWNLOAD_TOKEN_LIFETIME = timedelta(hours=24)
Answer = tuple[Outcome, web.Response]
DETAIL_MAX = 300


def add_webhook_routes(app: web.Application) -> None:
    """``POST /webhooks/zoom`` (default tenant) and ``POST /webhooks/zoom/{tenant}``."""
    app[PUBLISHED_LINES] = LogSampler()
    app.router.add_post("/webhooks/zoom", on_webhook)
    app.router.add_post("/webhooks/zoom/{tenant}", on_webhook)


async def on_webhook(request: web.Request) -> web.Response:
    """Answer one Zoom webhook delivery."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    metrics.received.inc()
    route = "/webhooks/zoom/{tenant}" if "tenant" in request.match_info else "/webhooks/zoom"
    # The root of the meeting's trace: the Kafka publish below carries it on (W3C headers).
    with tracer().start_as_current_span(
        f"POST {route}",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": route, "url.scheme": request.scheme},
    ) as span:
        outcome, response = await _answer(request)
        span.set_attribute("http.response.status_code", response.status)
    metrics.observe(outcome, time.perf_counter() - started)
    return response


async def _answer(request: web.Request) -> Answer:
    app = request.app
    metrics, settings = app[METRICS], app[SETTINGS]
    tenant_id = request.match_info.get("tenant")
    tenants = app[TENANTS]
    tenant = tenants.get(tenant_id) if tenant_id is not None else tenants.default()
    if tenant is None:
        return _refuse(metrics, 404, "unknown_tenant")
    # One deadline from the request's headers to its answer: the body's read and, for a recording, Kafka's
    # acknowledgement. Zoom gives up after 3 s, so a body still arriving after the deadline is nobody's webhook.
    deadline = asyncio.get_running_loop().time() + settings.request_deadline_seconds
    try:
        async with asyncio.timeout_at(deadline):
            body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _refuse(metrics, 413, "body_too_large")
    except TimeoutError:
        log.warning("webhook body not received in time", extra={"tenant": tenant.id})
        outcome, response = _refuse(metrics, 408, "body_timeout")
        # Not kept alive: once aiohttp's lingering close (≤ 10 s of reading and dropping what still trickles in) ends,
        # the connection is closed.
        response.force_close()
        return outcome, response
    try:
        verify(
            tenant.zoom_webhook_secret.get_secret_value(),
            timestamp=request.headers.get("x-zm-request-timestamp"),
            signature=request.headers.get("x-zm-signature"),
            body=body,
            now=time.time(),
            tolerance_seconds=settings.timestamp_tolerance_seconds,
        )
        return await _dispatch(app, tenant, parse_webhook(body), deadline)
    except SignatureRejected as exc:
        log.warning("webhook rejected", extra={"tenant": tenant.id, "reason": exc.reason})
        return _refuse(metrics, 401, exc.reason)
    except PayloadError as exc:
        log.warning("webhook unreadable", extra={"tenant": tenant.id, "error": _detail(exc)})
        return _refuse(metrics, 400, exc.reason, _detail(exc))
    except ValidationError as exc:
        # The payload modules turn a refused event into a PayloadError; this one escaped them. Still the
        # body's fault, so 400 (Zoom's retry would meet the same refusal), never the 500 of a crash.
        refused = refused_event("event", exc)
        log.warning("webhook unreadable", extra={"tenant": tenant.id, "error": _detail(refused)})
        return _refuse(metrics, 400, refused.reason, _detail(refused))
    except (InfrastructureUnavailable, TimeoutError) as exc:
        return _unavailable(metrics, tenant, exc)


async def _dispatch(app: web.Application, tenant: TenantConfig, webhook: Webhook, deadline: float) -> Answer:
    if webhook.event == "endpoint.url_validation":
        return on_url_validation(tenant, webhook)
    if webhook.event in ("recording.completed", "recording.transcript_completed"):
        # Zoom's transcript (TRANSCRIPT/CC files) comes after the recording, in the same object shape.
        return await on_recording_completed(app, tenant, webhook, deadline)
    if webhook.event == "phone.recording_completed":
        return await on_phone_recording_completed(app, tenant, webhook, deadline)
    app[METRICS].ignore("unsupported_event")
    log.info("webhook ignored", extra={"tenant": tenant.id, "event": webhook.event[:64]})
    return "ignored", web.json_response({"status": "ignored", "reason": "unsupported_event"})


def on_url_validation(tenant: TenantConfig, webhook: Webhook) -> Answer:
    """Prove to Zoom that we hold the tenant's secret token."""
    plain = plain_token(webhook)
    encrypted = encrypted_token(tenant.zoom_webhook_secret.get_secret_value(), plain)
    return "validated", web.json_response({"plainToken": plain, "encryptedToken": encrypted})


async def on_recording_completed(
    app: web.Application, tenant: TenantConfig, webhook: Webhook, deadline: float
) -> Answer:
    """Publish the recording (once) and answer 200 only after Kafka acknowledged it (by ``deadline``, loop time)."""
    obj = recording_object(webhook)
    account_id = webhook.payload.get("account_id")
    if tenant.zoom_account_id and account_id != tenant.zoom_account_id:
        # Signed with this tenant's secret but about another Zoom account: a leaked secret must not let
        # anyone feed recordings (and download URLs) of an account we do not archive.
        log.warning("recording of another zoom account refused", extra={"tenant": tenant.id})
        return _refuse(app[METRICS], 403, "account_mismatch")
    if not host_allowed(tenant, *host_of(obj)):
        app[METRICS].ignore("user_not_allowed")
        log.info("recording of a user not archived", extra={"tenant": tenant.id})
        return "ignored", web.json_response({"status": "ignored", "reason": "user_not_allowed"})
    event = recording_completed(
        tenant.id,
        obj,
        source="webhook",
        occurred_at=webhook.event_ts,
        account_id=account_id if isinstance(account_id, str) else "",
    )
    # Counted from the delivery at the latest: the body's times are not checked against any clock, and one
    # in the future would keep a dead token in use (or, near year 9999, overflow into a 500).
    expires_at = min(webhook.event_ts or event.occurred_at, utcnow()) + DOWNLOAD_TOKEN_LIFETIME
    async with asyncio.timeout_at(deadline):
        outcome = await app[INTAKE].accept(
            event, webhook.download_token, expires_at, token_required=not has_oauth(tenant)
        )
    if (unlogged := app[PUBLISHED_LINES].take()) is not None:
        log.info(
            "recording published" if outcome == "published" else "recording already published",
            extra={"tenant": tenant.id, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id}
            | ({"unlogged": unlogged} if unlogged else {}),
        )
    return outcome, web.json_response({"status": outcome, "event_id": event.event_id})


async def on_phone_recording_completed(
    app: web.Application, tenant: TenantConfig, webhook: Webhook, deadline: float
) -> Answer:
    """Publish each recording of a Zoom Phone ``phone.recording_completed`` (once), 200 only once Kafka has them all.

    Phone recordings come without a download token: the mixer downloads them with the tenant's OAuth token.
    An entry no event can be built of is skipped (``skipped`` in the answer), see :func:`_phone_events`.
    """
    account_id = webhook.payload.get("account_id")
    if tenant.zoom_account_id and account_id != tenant.zoom_account_id:
        log.warning("phone recording of another zoom account refused", extra={"tenant": tenant.id})
        return _refuse(app[METRICS], 403, "account_mismatch")
    entries = [e for e in phone_recordings(webhook.payload) if host_allowed(tenant, *phone_owner(e))]
    if not entries:
        app[METRICS].ignore("user_not_allowed")
        return "ignored", web.json_response({"status": "ignored", "reason": "user_not_allowed"})
    events = _phone_events(app, tenant, webhook, entries)
    accepting = asyncio.gather(*(app[INTAKE].accept(event) for event in events))
    async with asyncio.timeout_at(deadline):
        outcomes = await accepting
    outcome: Outcome = "published" if "published" in outcomes else "duplicate"
    for event, each in zip(events, outcomes, strict=True):
        log.info(
            "phone recording published" if each == "published" else "phone recording already published",
            extra={"tenant": tenant.id, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id},
        )
    skipped = {"skipped": len(entries) - len(events)} if len(events) < len(entries) else {}
    return outcome, web.json_response({"status": outcome, "event_ids": [e.event_id for e in events], **skipped})


def _phone_events(
    app: web.Application, tenant: TenantConfig, webhook: Webhook, entries: list[Mapping[str, Any]]
) -> list[RecordingCompleted]:
    """The events of the entries that make one; the others are counted, logged and skipped.

    Zoom answers a non-2xx by sending the same body again (and again): an entry that cannot become an
    event now never will, so refusing the webhook would only lose the good recordings beside it. With no
    good entry at all the first entry's :class:`PayloadError` stands (400: nothing to publish, and the
    sender sees why).
    """
    account_id = webhook.payload.get("account_id")
    events: list[RecordingCompleted] = []
    first_error: PayloadError | None = None
    for entry in entries:
        try:
            event = phone_recording_completed(
                tenant.id,
                entry,
                source="webhook",
                account_id=account_id if isinstance(account_id, str) else "",
                occurred_at=webhook.event_ts,
            )
        except PayloadError as exc:
            first_error = first_error or exc
            app[METRICS].invalid_recording("webhook")
            log.warning("phone recording skipped", extra={"tenant": tenant.id, "error": _detail(exc)})
            continue
        events.append(event)
    if first_error is not None and not events:
        raise first_error
    return events


def _unavailable(metrics: IngestMetrics, tenant: TenantConfig, exc: Exception) -> Answer:
    # 503 makes Zoom retry later; nothing was recorded, so the retry publishes.
    component = exc.component if isinstance(exc, InfrastructureUnavailable) else "deadline"
    log.warning("webhook not durable, answering 503", extra={"tenant": tenant.id, "component": component})
    metrics.unavailable.labels(component=component).inc()
    return "unavailable", web.json_response({"error": f"{component} unavailable"}, status=503)


def _detail(exc: PayloadError) -> str:
    # Answered to whoever holds the secret and logged: short, and scrubbed of URLs and tokens just in case.
    return scrub(str(exc), DETAIL_MAX)


def _refuse(metrics: IngestMetrics, status: int, reason: RejectReason, detail: str = "") -> Answer:
    metrics.reject(reason)
    body = {"error": reason, **({"detail": detail} if detail else {})}
    return "rejected", web.json_response(body, status=status)
