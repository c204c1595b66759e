"""SANDBOX imitation of the Symbl.ai async audio API, for tests and ``make demo``. Never for production.

Follows Symbl's public contract as its documentation (docs.symbl.ai) published it: app token,
process-audio by bytes or URL (201 with ``conversationId``/``jobId``), refusing what Symbl refuses
(a ``Content-Type`` other than the four accepted ones, more than two channels, a declared format
the file does not have), job status scheduled -> in_progress -> completed|failed with unsigned
webhooks, 429 above the concurrent-job cap, and conversation insights derived from the real audio
(a summary only for jobs submitted with ``enableSummary=true``). Each route names the page it
imitates. ``/_sandbox/faults`` and ``/_sandbox/stats`` exist only here, for fault injection and assertions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from zoomsymbl_sandbox.provider_admin import add_admin_routes
from zoomsymbl_sandbox.provider_audio import AudioError, probe_audio
from zoomsymbl_sandbox.provider_http import (
    TransferError,
    discard,
    fetch_to_file,
    json_error,
    stream_to_file,
)
from zoomsymbl_sandbox.provider_jobs import Job
from zoomsymbl_sandbox.provider_symbl_conversations import add_conversation_routes
from zoomsymbl_sandbox.provider_symbl_options import (
    OptionsError,
    SymblOptions,
    check_against_audio,
    check_declared,
    declared_format,
    parse_options,
)
from zoomsymbl_sandbox.provider_symbl_state import (
    STATUS,
    SYMBL_STATE,
    Submission,
    SymblConfig,
    SymblState,
    new_conversation_id,
    started_at_now,
)

__all__ = ["SYMBL_STATE", "SymblConfig", "SymblState", "build_symbl_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer(request: web.Request) -> str:
    token = request.headers.get("x-api-key", "")
    auth = request.headers.get("Authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


@web.middleware
async def _errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Symbl answers every error as JSON ``{"message"}``; every /v1 call needs a live token."""
    if request.path.startswith("/v1/"):
        token = _bearer(request)
        if not token or not request.app[SYMBL_STATE].token_valid(token):
            return json_error(401, "Token validation failed: missing, invalid or expired access token")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason)


async def _json_body(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise OptionsError("request body must be JSON") from None
    if not isinstance(body, dict):
        raise OptionsError("request body must be a JSON object")
    return body


async def generate_token(request: web.Request) -> web.Response:
    """``POST /oauth2/token:generate``: Authentication, https://docs.symbl.ai/docs/developer-tools/authentication/"""
    state = request.app[SYMBL_STATE]
    try:
        body = await _json_body(request)
    except OptionsError as exc:
        return json_error(400, exc.message)
    config = state.config
    valid = (body.get("type"), body.get("appId"), body.get("appSecret")) == (
        "application",
        config.app_id,
        config.app_secret,
    )
    if not valid:
        return json_error(401, "Invalid appId/appSecret or type")
    return web.json_response({"accessToken": state.issue_token(), "expiresIn": config.token_expires_in_s})


def _admit(state: SymblState) -> web.Response | None:
    """The cheap checks done before reading a body: injected fault, rate limit, concurrency cap."""
    state.log.attempt()
    status, message = 0, ""
    if state.faults.take("reject_next"):
        status, message = state.faults.reject_status, "Injected sandbox fault"
    elif not state.limiter.allow() or not state.board.has_free_slot():
        status, message = 429, "Too many requests"
    return _reject(state, status, message) if status else None


def _reject(state: SymblState, status: int, message: str) -> web.Response:
    state.log.reject(status)
    return json_error(status, message)


async def _accept(state: SymblState, options: SymblOptions, path: Path, declared: str | None = None) -> web.Response:
    """Probe the stored file, validate it against the options (and the declared format), start the job."""
    try:
        info = await probe_audio(path, state.config.tool_timeout_s)
        check_declared(declared, info)
        check_against_audio(options, info, state.config.max_duration_s)
    except (AudioError, OptionsError) as exc:
        discard(path)
        return _reject(state, 400, exc.message)
    # Re-checked after the awaits above: concurrent uploads may have taken the free slots meanwhile.
    if not state.board.has_free_slot():
        discard(path)
        return _reject(state, 429, "Too many requests")
    submission = Submission(options, info, new_conversation_id(), started_at_now())
    name = options.name or submission.conversation_id
    fail = state.config.fail_marker in name or state.faults.take("fail_next_jobs")
    job = Job(key=name, request=submission, audio_path=path, fail_requested=fail)
    state.add(job)
    state.log.accept(name)
    return web.json_response({"conversationId": submission.conversation_id, "jobId": job.id}, status=201)


async def process_audio(request: web.Request) -> web.Response:
    """``POST /v1/process/audio``: POST Audio, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio/

    The recording is the body, options are in the query string. ``Content-Type`` is optional; when
    present only audio/wav, audio/mpeg, audio/mp3 and audio/wave are accepted (else 400, the code
    Symbl's response-code page gives for an invalid request) and the file must be of that format.
    """
    state = request.app[SYMBL_STATE]
    if (rejected := _admit(state)) is not None:
        return rejected
    path = state.new_audio_path()
    try:
        # request.content_type would report application/octet-stream for a missing header.
        declared = declared_format(request.headers.get("Content-Type"))
        options = parse_options(request.query)
        await stream_to_file(request.content, path, state.config.max_upload_bytes)
    except OptionsError as exc:
        return _reject(state, 400, exc.message)
    except TransferError as exc:
        return _reject(state, exc.status, exc.message)
    return await _accept(state, options, path, declared)


async def process_audio_url(request: web.Request) -> web.Response:
    """``POST /v1/process/audio/url``: POST Audio URL, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio-url/

    Symbl downloads the file itself (here: loopback URLs only); options are in the JSON body.
    """
    state = request.app[SYMBL_STATE]
    if (rejected := _admit(state)) is not None:
        return rejected
    path = state.new_audio_path()
    try:
        body = await _json_body(request)
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise OptionsError("url is required")
        options = parse_options(body)
        await fetch_to_file(
            state.http_session(), url, path, state.config.max_upload_bytes, state.config.allow_non_loopback
        )
    except OptionsError as exc:
        return _reject(state, 400, exc.message)
    except TransferError as exc:
        return _reject(state, exc.status, exc.message)
    return await _accept(state, options, path)


async def job_status(request: web.Request) -> web.Response:
    """``GET /v1/job/{jobId}``: Job API, https://docs.symbl.ai/docs/async-api/overview/jobs-api/"""
    job = request.app[SYMBL_STATE].board.jobs.get(request.match_info["job_id"])
    if job is None:
        return json_error(404, f"Job {request.match_info['job_id']!r} not found")
    return web.json_response({"id": job.id, "status": STATUS[job.phase]})


def build_symbl_app(config: SymblConfig) -> web.Application:
    """The Symbl sandbox as an aiohttp application; run it with ``web.run_app`` or a test server."""
    config.storage_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[_errors_and_auth])
    app[SYMBL_STATE] = SymblState(config)
    app.router.add_post("/oauth2/token:generate", generate_token)
    app.router.add_post("/v1/process/audio", process_audio)
    app.router.add_post("/v1/process/audio/url", process_audio_url)
    app.router.add_get("/v1/job/{job_id}", job_status)
    add_conversation_routes(app)
    add_admin_routes(app, SYMBL_STATE, "symbl", json_error)
    return app
