"""SANDBOX: an aiohttp server imitating Zoom's contracts, for tests and `make demo`. Never production.

Imitated: the `recording.completed` and `endpoint.url_validation` webhooks (sent by the sandbox),
Server-to-Server OAuth, the cloud recording API (with Zoom's double-encoding rule for UUIDs),
recording downloads (Bearer only, byte ranges, redirects), and faults injected at run time.
Rate limits per category and per day, with Zoom's 429 headers, when the config sets them (zoom_limits.py).

Routes:
  POST /oauth/token                                   S2S OAuth (Basic client credentials)
  GET  /v2/users?status=active|inactive|pending       the account's users, paged (zoom_users.py)
  GET  /v2/users/{userId|me}/recordings               listing, one month per call, next_page_token (15 min)
  GET  /v2/meetings/{meetingId|uuid}/recordings       include_fields=download_access_token[&ttl=]
  GET  /v2/past_meetings/{uuid}/participants          names and e-mails
  GET  /v2/metrics/meetings?type=past&from=&to=       dashboard: past meetings, has_recording, paged (zoom_dashboard.py)
  GET  /v2/metrics/meetings/{uuid}/participants       dashboard: who joined
  GET  /rec/download/{file_id}                        Bearer only; Range; HEAD; may 302 to /dl/
  GET  /dl/{file_id}?expires=&signature=              the signed "CDN" URL downloads redirect to
  POST|GET|DELETE /_sandbox/faults                    inject faults (see `Fault`)
  GET|DELETE /_sandbox/stats                          counters (see `SandboxStats`)
  POST /_sandbox/tokens/expire                        {"kind": "access"|"download"|"all"}
  POST|GET /_sandbox/meetings                         record another `MeetingSpec` / list meetings
  POST /_sandbox/webhooks/recording-completed         {"meeting_uuid", "target_url", "event_ts"?}
  POST /_sandbox/webhooks/url-validation              {"target_url", "plain_token"?}
Zoom Phone (zoom_phone.py, per Zoom's Phone API and webhook references):
  GET  /v2/phone/recordings                           account's call recordings, from/to, next_page_token
  GET  /v2/phone/call_history                         call history, recording_status, paged (zoom_call_history.py)
  GET  /v2/phone/recording/download/{recordingId}     the MP3 (48 kHz mono), OAuth Bearer only
  GET  /v2/users/{userId}                             the user's e-mail (a phone recording's owner)
  POST /_sandbox/phone/calls                          record a `PhoneCallSpec`
  POST /_sandbox/webhooks/phone-recording-completed   {"recording_id", "target_url", "event_ts"?}
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from zoomsymbl_sandbox.zoom_api import v2_handler
from zoomsymbl_sandbox.zoom_audio import LEAD_IN_S, MediaFile, MeetingMedia, generate_meeting_media
from zoomsymbl_sandbox.zoom_control import WEBHOOK_SESSION, add_control_routes
from zoomsymbl_sandbox.zoom_download import cdn_download_handler, download_handler
from zoomsymbl_sandbox.zoom_faults import DownloadRecord, Fault, FaultKind, SandboxStats
from zoomsymbl_sandbox.zoom_http import classify_route, fault_response, meeting_path_id
from zoomsymbl_sandbox.zoom_oauth import token_handler
from zoomsymbl_sandbox.zoom_phone import PhoneCallSpec, demo_call_spec, phone_recording_entry
from zoomsymbl_sandbox.zoom_signing import (
    encrypt_plain_token,
    is_valid_zoom_signature,
    sign_zoom_webhook,
    url_validation_response,
)
from zoomsymbl_sandbox.zoom_specs import (
    MeetingSpec,
    ParticipantSpec,
    ZoomSandboxConfig,
    demo_meeting_spec,
    long_meeting_spec,
    typical_meeting_spec,
)
from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX, ZoomSandbox
from zoomsymbl_sandbox.zoom_webhooks import (
    UrlValidationResult,
    recording_completed_event,
    send_recording_completed,
    send_url_validation,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FAULTS_IN_MIDDLEWARE: frozenset[FaultKind] = frozenset({"status", "error_body"})


@web.middleware
async def _count_and_inject(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each Zoom-route request and answer it with a pending fault instead, if one matches."""
    sandbox = request.app[ZOOM_SANDBOX]
    route, file_id = classify_route(request.rel_url.raw_path)
    if route is None:
        return await handler(request)
    sandbox.stats.requests[route] += 1
    fault = sandbox.faults.take(route, _FAULTS_IN_MIDDLEWARE, file_id)
    # An injected fault answers first; then the account's rate limits (zoom_limits.py), as Zoom's gateway would.
    limited = sandbox.limits.admit(route) if fault is None else None
    try:
        if limited is not None:
            response: web.StreamResponse = limited
        else:
            response = fault_response(fault) if fault is not None else await handler(request)
    except web.HTTPException as exc:
        _count_status(sandbox, route, exc.status)
        raise
    _count_status(sandbox, route, response.status)
    return response


def _count_status(sandbox: ZoomSandbox, route: str, status: int) -> None:
    sandbox.stats.statuses[f"{route} {status}"] += 1
    sandbox.stats.responses_429 += status == 429


def build_zoom_app(config: ZoomSandboxConfig, *, clock: Callable[[], float] = time.time) -> web.Application:
    """The Zoom sandbox as an aiohttp application; its state is `app[ZOOM_SANDBOX]`.

    Recordings are generated (or taken from `config.cache_dir`) when the application starts.
    Download URLs use `config.public_base_url`, else the address given to `ZoomSandbox.bind()`,
    else the Host header of each request.
    """
    sandbox = ZoomSandbox(config, clock=clock)
    app = web.Application(middlewares=[_count_and_inject])
    app[ZOOM_SANDBOX] = sandbox

    async def prepare(_: web.Application) -> None:
        await sandbox.prepare()

    async def webhook_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[WEBHOOK_SESSION] = session
            yield

    app.on_startup.append(prepare)
    app.cleanup_ctx.append(webhook_session)
    app.router.add_post("/oauth/token", token_handler)
    app.router.add_get("/v2/{tail:.*}", v2_handler)
    app.router.add_get("/rec/download/{file_id}", download_handler)
    app.router.add_get("/dl/{file_id}", cdn_download_handler)
    add_control_routes(app)
    return app


@asynccontextmanager
async def running_zoom_sandbox(
    config: ZoomSandboxConfig, *, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
) -> AsyncIterator[ZoomSandbox]:
    """Serve a Zoom sandbox on `host:port` (0 = a free port) for the duration of the block.

    The yielded sandbox is bound to its address: `sandbox.base_url` is e.g. "http://127.0.0.1:41234".
    """
    app = build_zoom_app(config, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        sandbox = app[ZOOM_SANDBOX]
        if config.public_base_url is None:
            sandbox.bind(f"http://{host}:{bound_port}")
        yield sandbox
    finally:
        await runner.cleanup()


__all__ = [
    "LEAD_IN_S",
    "ZOOM_SANDBOX",
    "DownloadRecord",
    "Fault",
    "MediaFile",
    "MeetingMedia",
    "MeetingSpec",
    "ParticipantSpec",
    "PhoneCallSpec",
    "SandboxStats",
    "UrlValidationResult",
    "ZoomSandbox",
    "ZoomSandboxConfig",
    "build_zoom_app",
    "demo_call_spec",
    "demo_meeting_spec",
    "encrypt_plain_token",
    "generate_meeting_media",
    "is_valid_zoom_signature",
    "long_meeting_spec",
    "meeting_path_id",
    "phone_recording_entry",
    "recording_completed_event",
    "running_zoom_sandbox",
    "send_recording_completed",
    "send_url_validation",
    "sign_zoom_webhook",
    "typical_meeting_spec",
    "url_validation_response",
]
