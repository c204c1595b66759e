"""SANDBOX imitation of the AssemblyAI v2 transcript API, for tests and ``make demo``. Never for production.

Follows AssemblyAI's public contract: ``authorization: <api key>``, ``POST /v2/upload`` for raw bytes,
``POST /v2/transcript`` that always accepts (jobs over the concurrency cap wait as "queued"), status
queued -> processing -> completed|error, and a webhook on completion carrying the caller's auth header, retried
without a 2xx up to 10 attempts and stopped by a 4xx (https://www.assemblyai.com/docs/deployment/webhooks-for-pre-recorded-audio);
``DELETE /v2/transcript/{id}`` removes a finished transcript's data (see :func:`delete_transcript`); an unknown
transcript id is 400, not 404 (see :func:`get_transcript`).
Utterances come from the real audio's speech segments. ``/_sandbox/*`` exists only in the sandbox.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from zoomsymbl_sandbox.provider_admin import add_admin_routes
from zoomsymbl_sandbox.provider_assemblyai_request import RequestError, parse_request
from zoomsymbl_sandbox.provider_assemblyai_state import (
    ASSEMBLYAI_STATE,
    UPLOAD_PREFIX,
    AssemblyAIConfig,
    AssemblyAIState,
)
from zoomsymbl_sandbox.provider_assemblyai_transcript import STATUS, transcript_json
from zoomsymbl_sandbox.provider_http import TransferError, json_error, stream_to_file
from zoomsymbl_sandbox.provider_jobs import Job

__all__ = ["ASSEMBLYAI_STATE", "AssemblyAIConfig", "AssemblyAIState", "build_assemblyai_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TRANSCRIPT_NOT_FOUND = "Transcript lookup error, transcript id not found"
"""AssemblyAI's answer, with 400, to a transcript id it does not know (GET and DELETE)."""


def _error(status: int, message: str) -> web.Response:
    return json_error(status, message, key="error")


@web.middleware
async def _errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /v2 call needs the API key; every error is JSON ``{"error"}``."""
    if request.path.startswith("/v2/"):
        given = request.headers.get("authorization", "")
        expected = request.app[ASSEMBLYAI_STATE].config.api_key
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "Authentication error, API token missing/invalid")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


async def upload(request: web.Request) -> web.Response:
    """``POST /v2/upload`` (https://www.assemblyai.com/docs/api-reference/files/upload): raw bytes in,
    ``{upload_url}`` out; more than 2.2 GB is refused (FAQ "Are there any limits on file size or file
    duration"), here with 413."""
    state = request.app[ASSEMBLYAI_STATE]
    upload_id, path = state.new_upload()
    try:
        await stream_to_file(request.content, path, state.config.max_upload_bytes)
    except TransferError as exc:
        return _error(exc.status, exc.message)
    state.uploads[upload_id] = path
    base = state.config.public_base_url or str(request.url.origin())
    return web.json_response({"upload_url": f"{base.rstrip('/')}{UPLOAD_PREFIX}{upload_id}"})


async def serve_upload(request: web.Request) -> web.StreamResponse:
    """The ``upload_url`` an upload answered (AssemblyAI's CDN URL; sandbox-only route)."""
    path = request.app[ASSEMBLYAI_STATE].uploads.get(request.match_info["upload_id"])
    if path is None:
        return _error(404, "Upload not found")
    return web.FileResponse(path)


def _admit(state: AssemblyAIState) -> web.Response | None:
    """Only injected faults and the optional rate limit refuse; the concurrency cap queues instead."""
    state.log.attempt()
    status, message = 0, ""
    if state.faults.take("reject_next"):
        status, message = state.faults.reject_status, "Injected sandbox fault"
    elif not state.limiter.allow():
        status, message = 429, "Too many requests"
    if not status:
        return None
    state.log.reject(status)
    return _error(status, message)


async def create_transcript(request: web.Request) -> web.Response:
    """``POST /v2/transcript`` (https://www.assemblyai.com/docs/api-reference/transcripts/submit): deprecated
    summary parameters, the singular ``speech_model``, a ``speech_models`` that is not a non-empty list of
    known model ids (https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model), a
    ``language_code`` the Set Language Manually page does not list
    (https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually) or one beside ``language_detection``
    (https://www.assemblyai.com/docs/pre-recorded-audio/language-detection: the detected language is answered as
    ``language_code``), unknown
    Speech Understanding tasks and IAB topics for non-English are refused with 400 (see
    :mod:`zoomsymbl_sandbox.provider_assemblyai_transcript`); jobs over the cap are queued, never refused."""
    state = request.app[ASSEMBLYAI_STATE]
    if (rejected := _admit(state)) is not None:
        return rejected
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        transcript = parse_request(body, account_default=state.config.default_speech_model)
    except (ValueError, UnicodeDecodeError) as exc:
        state.log.reject(400)
        return _error(400, exc.message if isinstance(exc, RequestError) else "request body must be JSON")
    fail = state.config.fail_marker in transcript.audio_url or state.faults.take("fail_next_jobs")
    job = Job(key=transcript.audio_url, request=transcript, audio_path=None, fail_requested=fail)
    state.board.submit(job)
    state.log.accept(transcript.audio_url)
    return web.json_response(transcript_json(job, None))


async def get_transcript(request: web.Request) -> web.Response:
    """``GET /v2/transcript/{id}`` (https://www.assemblyai.com/docs/api-reference/transcripts/get): status,
    utterances, ``speech_understanding.response`` and ``iab_categories_result`` once completed. An id AssemblyAI
    does not know is 400 ``{"error": "Transcript lookup error, transcript id not found"}``, not 404 (Troubleshoot
    Common Errors, "Transcript ID not found": https://www.assemblyai.com/docs/pre-recorded-audio/guides/common_errors_and_solutions)."""
    state = request.app[ASSEMBLYAI_STATE]
    job = state.board.jobs.get(request.match_info["transcript_id"])
    if job is None:
        return _error(400, TRANSCRIPT_NOT_FOUND)
    return web.json_response(transcript_json(job, state.webhook_status.get(job.id), deleted=job.id in state.deleted))


async def delete_transcript(request: web.Request) -> web.Response:
    """``DELETE /v2/transcript/{id}``: Delete transcript, https://www.assemblyai.com/docs/api-reference/transcripts/delete
    ("Remove the data from the transcript and mark it as deleted"; a ``/v2/upload`` file is deleted with it at
    once) and Delete Transcripts, https://www.assemblyai.com/docs/pre-recorded-audio/delete-transcripts .

    Answers the transcript object, id and status kept, ``text`` "Deleted by user." and ``audio_url``
    "http://deleted_by_user" (as Workato's AssemblyAI connector documents it,
    https://docs.workato.com/en/connectors/assemblyai/delete-record-action; the transcript list shows
    "deleted by user": https://www.assemblyai.com/docs/api-reference/listing-and-deleting), and so does every
    later GET or DELETE of it. An unknown id is 400 "Transcript lookup error, transcript id not found" as for GET
    (AssemblyAI's own spec generator, assemblyai-api-spec fern/apis/transcripts/main.py, documents exactly that
    answer for this endpoint: "Bad Request - Transcript not found"). A transcript still queued or processing is
    refused with 400 ``{"error"}``: the API reference lists 400 among the endpoint's answers but no page found
    states this rule or its wording, so the message here is ours (a client must treat any 400 as "not deleted").
    """
    state = request.app[ASSEMBLYAI_STATE]
    job = state.board.jobs.get(request.match_info["transcript_id"])
    if job is None:
        return _error(400, TRANSCRIPT_NOT_FOUND)
    if not job.finished:
        return _error(400, f"Transcript is still {STATUS[job.phase]}: it can be deleted once completed or failed")
    state.delete(job)
    return web.json_response(transcript_json(job, state.webhook_status.get(job.id), deleted=True))


def build_assemblyai_app(config: AssemblyAIConfig) -> web.Application:
    """The AssemblyAI sandbox as an aiohttp application."""
    config.storage_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[_errors_and_auth])
    app[ASSEMBLYAI_STATE] = AssemblyAIState(config)
    app.router.add_post("/v2/upload", upload)
    app.router.add_get(UPLOAD_PREFIX + "{upload_id}", serve_upload)
    app.router.add_post("/v2/transcript", create_transcript)
    app.router.add_get("/v2/transcript/{transcript_id}", get_transcript)
    app.router.add_delete("/v2/transcript/{transcript_id}", delete_transcript)
    add_admin_routes(app, ASSEMBLYAI_STATE, "assemblyai", _error)
    return app
