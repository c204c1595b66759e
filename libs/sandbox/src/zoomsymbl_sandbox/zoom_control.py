"""SANDBOX: the `/_sandbox/` control routes — faults, counters, tokens, meetings, webhook triggers.

They let a test or `make demo` drive a sandbox running in another process.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, get_args

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from zoomsymbl_sandbox.zoom_faults import Fault, SandboxStats
from zoomsymbl_sandbox.zoom_phone import PhoneCallSpec
from zoomsymbl_sandbox.zoom_specs import MeetingSpec
from zoomsymbl_sandbox.zoom_state import ZOOM_SANDBOX
from zoomsymbl_sandbox.zoom_tokens import TokenKind

WEBHOOK_SESSION = web.AppKey("zoom_webhook_session", aiohttp.ClientSession)


class _RecordingCompletedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_uuid: str
    target_url: str
    event_ts: int | None = None


class _PhoneRecordingCompletedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recording_id: str
    target_url: str
    event_ts: int | None = None


class _UrlValidationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_url: str
    plain_token: str | None = None


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None


def _invalid(exc: ValidationError) -> web.Response:
    details = exc.errors(include_url=False, include_context=False)
    return web.json_response({"error": "invalid", "details": details}, status=400)


async def add_faults(request: web.Request) -> web.Response:
    """POST /_sandbox/faults: one fault object, a list, or `{"faults": [...]}`; all or none are added."""
    body = await _json_body(request)
    items = body.get("faults", [body]) if isinstance(body, dict) else body
    try:
        faults = [Fault.model_validate(item) for item in items]
    except ValidationError as exc:
        return _invalid(exc)
    book = request.app[ZOOM_SANDBOX].faults
    for fault in faults:
        book.add(fault)
    return web.json_response({"pending": book.to_json()})


async def list_faults(request: web.Request) -> web.Response:
    """GET /_sandbox/faults: the faults not yet consumed."""
    return web.json_response({"pending": request.app[ZOOM_SANDBOX].faults.to_json()})


async def clear_faults(request: web.Request) -> web.Response:
    """DELETE /_sandbox/faults."""
    request.app[ZOOM_SANDBOX].faults.clear()
    return web.json_response({"pending": []})


async def get_stats(request: web.Request) -> web.Response:
    """GET /_sandbox/stats: requests per route, 429s, token issues, downloads and their ranges."""
    return web.json_response(request.app[ZOOM_SANDBOX].stats.to_json())


async def reset_stats(request: web.Request) -> web.Response:
    """DELETE /_sandbox/stats: start counting afresh."""
    request.app[ZOOM_SANDBOX].stats = SandboxStats()
    return web.json_response(SandboxStats().to_json())


async def expire_tokens(request: web.Request) -> web.Response:
    """POST /_sandbox/tokens/expire `{"kind": "access"|"download"|"all"}`: age tokens out at once."""
    kind = (await _json_body(request)).get("kind", "all")
    if kind not in get_args(TokenKind):
        return web.json_response({"error": f"unknown token kind {kind!r}"}, status=400)
    return web.json_response({"expired": request.app[ZOOM_SANDBOX].tokens.expire(kind)})


async def add_meeting(request: web.Request) -> web.Response:
    """POST /_sandbox/meetings: record one more meeting (a `MeetingSpec` as JSON)."""
    try:
        spec = MeetingSpec.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(exc)
    sandbox = request.app[ZOOM_SANDBOX]
    await sandbox.add_meeting(spec)
    return web.json_response(sandbox.meeting_object(spec.uuid, request), status=201)


async def list_meetings(request: web.Request) -> web.Response:
    """GET /_sandbox/meetings: every meeting object, no token needed."""
    sandbox = request.app[ZOOM_SANDBOX]
    return web.json_response({"meetings": [sandbox.meeting_object(u, request) for u in sandbox.meetings]})


async def trigger_recording_completed(request: web.Request) -> web.Response:
    """POST /_sandbox/webhooks/recording-completed: make the sandbox deliver the webhook now."""
    return await _trigger(request, transcript=False)


async def trigger_transcript_completed(request: web.Request) -> web.Response:
    """POST /_sandbox/webhooks/transcript-completed: deliver `recording.transcript_completed` now."""
    return await _trigger(request, transcript=True)


async def _trigger(request: web.Request, *, transcript: bool) -> web.Response:
    try:
        order = _RecordingCompletedRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(exc)
    sandbox = request.app[ZOOM_SANDBOX]
    meeting = sandbox.meetings.get(order.meeting_uuid)
    if meeting is None or (transcript and not meeting.spec.transcript):
        what = "no transcript of meeting" if transcript else "unknown meeting"
        return web.json_response({"error": f"{what} {order.meeting_uuid!r}"}, status=404)
    if sandbox.base_url is None:
        # Started without a known address (e.g. by web.run_app): the address this call came in on
        # is the one the receiver will download from.
        sandbox.bind(sandbox.base_url_for(request))
    send = sandbox.send_transcript_completed if transcript else sandbox.send_recording_completed
    status = await send(request.app[WEBHOOK_SESSION], order.target_url, order.meeting_uuid, event_ts=order.event_ts)
    return web.json_response({"status": status})


async def trigger_url_validation(request: web.Request) -> web.Response:
    """POST /_sandbox/webhooks/url-validation: run Zoom's endpoint check against `target_url`."""
    try:
        order = _UrlValidationRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(exc)
    sandbox = request.app[ZOOM_SANDBOX]
    result = await sandbox.send_url_validation(
        request.app[WEBHOOK_SESSION], order.target_url, plain_token=order.plain_token
    )
    return web.json_response(asdict(result))


async def add_phone_call(request: web.Request) -> web.Response:
    """POST /_sandbox/phone/calls: record one Zoom Phone call (a `PhoneCallSpec` as JSON)."""
    try:
        spec = PhoneCallSpec.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(exc)
    sandbox = request.app[ZOOM_SANDBOX]
    await sandbox.add_phone_call(spec)
    return web.json_response(sandbox.phone_recording(spec.recording_id, request), status=201)


async def trigger_phone_recording_completed(request: web.Request) -> web.Response:
    """POST /_sandbox/webhooks/phone-recording-completed: deliver the signed phone webhook now."""
    try:
        order = _PhoneRecordingCompletedRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        return _invalid(exc)
    sandbox = request.app[ZOOM_SANDBOX]
    if order.recording_id not in sandbox.phone_calls:
        return web.json_response({"error": f"unknown phone recording {order.recording_id!r}"}, status=404)
    if sandbox.base_url is None:
        sandbox.bind(sandbox.base_url_for(request))
    status = await sandbox.send_phone_recording_completed(
        request.app[WEBHOOK_SESSION], order.target_url, order.recording_id, event_ts=order.event_ts
    )
    return web.json_response({"status": status})


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox/` route on `app`."""
    app.router.add_post("/_sandbox/faults", add_faults)
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/stats", get_stats)
    app.router.add_delete("/_sandbox/stats", reset_stats)
    app.router.add_post("/_sandbox/tokens/expire", expire_tokens)
    app.router.add_post("/_sandbox/meetings", add_meeting)
    app.router.add_get("/_sandbox/meetings", list_meetings)
    app.router.add_post("/_sandbox/webhooks/recording-completed", trigger_recording_completed)
    app.router.add_post("/_sandbox/webhooks/transcript-completed", trigger_transcript_completed)
    app.router.add_post("/_sandbox/webhooks/url-validation", trigger_url_validation)
    app.router.add_post("/_sandbox/phone/calls", add_phone_call)
    app.router.add_post("/_sandbox/webhooks/phone-recording-completed", trigger_phone_recording_completed)
