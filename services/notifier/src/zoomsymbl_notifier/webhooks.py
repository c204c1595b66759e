"""Provider callbacks over HTTP: authenticate, identify the job, publish durably, answer fast.

``POST /webhooks/symbl/{token}`` carries the per-job token in the path (Symbl signs nothing);
``POST /webhooks/assemblyai`` carries it in the configured header. A forged token is 401, a valid
token for a job we do not know (or a body naming another job) 404, and nothing changes. A 200 means
the report is in Kafka (acks=all) — or, for a callback that overtook the submitter (the provider
answered the submission, the submitter has not stored the job id yet), that the callback is noted in
MongoDB (``early_callbacks``) and the sweeper asks the provider in its next round. Kafka or MongoDB too slow →
503 so the provider may retry.

A valid token for a job whose document does not validate (an older release's, one edited by hand) is answered 200
too, logged (``job document unreadable, callback left to the sweeper``, its ``_id`` in ``job_key``) and not
published: no retry of the provider's could succeed before someone repairs the document (a 500 had AssemblyAI try
ten times, a stack trace each), the body's status is never trusted anyway, and the sweeper, which sets such a
document aside (``Jobs.stale``), asks the provider about the job once it reads again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter
from zoomsymbl_common import protocol_errors
from zoomsymbl_common.bounded import collect
from zoomsymbl_common.callback_tokens import verify_callback_token
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.events import Event, JobStatusReported, Provider, stable_id
from zoomsymbl_common.telemetry import context_from, tracer

from zoomsymbl_notifier.callbacks import CallbackBody, InvalidCallback, parse_callback
from zoomsymbl_notifier.jobs import JobRecord, Jobs, UnreadableJob
from zoomsymbl_notifier.settings import Settings

log = logging.getLogger("zoomsymbl.notifier.webhooks")
Publish = Callable[[Event, float], Awaitable[None]]


class CallbackMetrics:
    """Callbacks received, by provider and outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "zoomsymbl_notifier_callbacks", "Provider callbacks by outcome.", ["provider", "outcome"], registry=registry
        )


@dataclass(frozen=True)
class CallbackDeps:
    """What the callback routes need."""

    settings: Settings
    jobs: Jobs
    publish: Publish
    metrics: CallbackMetrics


CALLBACK_DEPS = web.AppKey("callback_deps", CallbackDeps)


SYMBL_CALLBACKS = "/webhooks/symbl/"
"""Symbl's callback path: its next segment is the callback token."""


def add_webhook_routes(app: web.Application) -> None:
    """Register both callback routes (their dependencies go in ``app[CALLBACK_DEPS]``); no callback token in
    aiohttp's errors about requests it cannot parse."""
    protocol_errors.install((SYMBL_CALLBACKS,))
    app.router.add_post(SYMBL_CALLBACKS + "{token}", on_symbl_callback)
    app.router.add_post("/webhooks/assemblyai", on_assemblyai_callback)


async def on_symbl_callback(request: web.Request) -> web.Response:
    """Symbl's job-status webhook; the token is the last path segment."""
    return await _accept(request, "symbl", request.match_info["token"])


async def on_assemblyai_callback(request: web.Request) -> web.Response:
    """AssemblyAI's webhook; the token is the value of the configured auth header."""
    deps = request.app[CALLBACK_DEPS]
    return await _accept(request, "assemblyai", request.headers.get(deps.settings.assemblyai_auth_header_name, ""))


async def _accept(request: web.Request, provider: Provider, token: str) -> web.Response:
    deps = request.app[CALLBACK_DEPS]
    job_ref = verify_callback_token(deps.settings.callback_secret, token) if token else None
    if job_ref is None:
        return _answer(deps, provider, 401, "invalid callback token")
    if (request.content_length or 0) > deps.settings.max_body_bytes:
        return _answer(deps, provider, 413, "body too large")
    try:
        body = parse_callback(provider, await _read(request, deps.settings.max_body_bytes))
    except InvalidCallback as exc:
        return _answer(deps, provider, 400, exc.reason)
    except _TooLarge:
        return _answer(deps, provider, 413, "body too large")
    try:
        async with asyncio.timeout(deps.settings.callback_deadline_seconds):
            return await _publish(deps, provider, job_ref, body)
    except (TimeoutError, InfrastructureUnavailable) as exc:
        log.warning("callback not accepted, dependency unavailable", extra={"provider": provider, "error": str(exc)})
        return _answer(deps, provider, 503, "temporarily unavailable, retry later")


_ROUTES: dict[str, str] = {"symbl": "/webhooks/symbl/{token}", "assemblyai": "/webhooks/assemblyai"}


async def _publish(deps: CallbackDeps, provider: Provider, job_ref: str, body: CallbackBody) -> web.Response:
    try:
        job = await deps.jobs.by_ref(job_ref)
    except UnreadableJob as exc:
        log.error(
            "job document unreadable, callback left to the sweeper",
            extra={"provider": provider, "job_key": exc.key, "error": str(exc)[:300]},
        )
        return _answer(deps, provider, 200, "accepted")
    if job is not None and job.provider == provider and not job.job_id:
        await deps.jobs.note_early_callback(job, body.job_id, body.status)
        log.info(
            "callback before the job id was stored, noted for the sweeper",
            extra={"tenant": job.tenant, "meeting_uuid": job.meeting_uuid, "status": body.status},
        )
        return _answer(deps, provider, 200, "accepted")
    if job is None or job.provider != provider or job.job_id != body.job_id:
        return _answer(deps, provider, 404, "unknown job")
    event = _event(job, body)
    # The callback is a new HTTP request: continue the meeting's trace stored with the job, so one
    # trace runs from the Zoom webhook to the e-mail.
    with tracer().start_as_current_span(
        f"POST /webhooks/{provider}",
        context=context_from(job.trace_context),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": _ROUTES[provider], "zoomsymbl.job_id": job.job_id},
    ):
        await deps.publish(event, deps.settings.callback_deadline_seconds)
    log.info(
        "callback accepted",
        extra={"tenant": job.tenant, "meeting_uuid": job.meeting_uuid, "job_id": job.job_id, "status": body.status},
    )
    return _answer(deps, provider, 200, "accepted")


def _event(job: JobRecord, body: CallbackBody) -> JobStatusReported:
    return JobStatusReported(
        # Duplicate deliveries of one callback share an id; the worker is idempotent either way.
        event_id=stable_id("callback", job.provider, job.job_id, body.status),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=job.provider,
        job_id=job.job_id,
        reported_status=body.status,
        via="callback",
    )


class _TooLarge(Exception):
    pass


async def _read(request: web.Request, limit: int) -> bytes:
    # Content-Length may be absent (chunked); count what actually arrives.
    body = await collect(request.content.iter_chunked(4096), limit)
    if body is None:
        raise _TooLarge
    return body


def _answer(deps: CallbackDeps, provider: Provider, status: int, message: str) -> web.Response:
    deps.metrics.received.labels(provider=provider, outcome=str(status)).inc()
    if 400 <= status < 500:
        log.info("callback refused", extra={"provider": provider, "status": status, "reason": message})
    key = "status" if status == 200 else "error"
    return web.json_response({key: message}, status=status)
