"""Symbl.ai async audio API: app token, submit (bytes or URL), job status, conversation insights.

The contract is Symbl's published documentation (its API hosts have reportedly not resolved since
2026-08; the pages are the contract, see :mod:`zoomsymbl_common.providers.symbl_options` for the
submit rules and what each page says):

- Authentication, https://docs.symbl.ai/docs/developer-tools/authentication/ :
  ``POST /oauth2/token:generate`` -> ``{accessToken, expiresIn}`` (24 h).
- POST Audio, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio/ and POST Audio URL,
  https://docs.symbl.ai/docs/async-api/overview/audio/post-audio-url/ : 201 ``{conversationId, jobId}``;
  ``enableSummary=true`` always (Get summary using Async API,
  https://docs.symbl.ai/docs/get-summary-using-async-api); a raw upload carries ``Content-Type`` only
  when it is one of the four accepted values, else none; at most two channels (FAQ,
  https://docs.symbl.ai/docs/faq/).
- Job API, https://docs.symbl.ai/docs/async-api/overview/jobs-api/ : ``GET /v1/job/{jobId}``.
- Conversation API, https://docs.symbl.ai/docs/conversation-api/introduction/ : messages, topics,
  questions, action-items, follow-ups and summary (GET Summary,
  https://docs.symbl.ai/docs/conversation-api/summary/ : 404 while it is being generated).
- Delete a conversation, https://docs.symbl.ai/docs/delete-a-conversation : ``DELETE
  /v1/conversations/{conversationId}`` purges the conversation and all its data (``zoomsymbl forget``).

The app token is cached per client (:mod:`zoomsymbl_common.providers.symbl_token`); a 401 on a call made
with a token invalidates exactly that token and the call is repeated once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import JobStatus, Provider
from zoomsymbl_common.providers.base import (
    Insights,
    JobState,
    ProviderLimits,
    SubmitRequest,
    SubmittedJob,
    encodable,
)
from zoomsymbl_common.providers.http import (
    NotAName,
    close_stream,
    direct_request,
    path_segment,
    read_json,
    transport_errors,
)
from zoomsymbl_common.providers.symbl_insights import parse_items, parse_messages, parse_summary
from zoomsymbl_common.providers.symbl_options import UPLOAD_CONTENT_TYPE, as_query, check_channels, symbl_options
from zoomsymbl_common.providers.symbl_summary_page import summary_page_url
from zoomsymbl_common.providers.symbl_token import SymblToken

# FAQ: files of 4 hours or less. No size limit is documented; 5 GiB is a cautious bound on both paths.
SYMBL_LIMITS = ProviderLimits(
    max_file_seconds=4 * 3600, max_upload_bytes=5 * 1024**3, max_url_bytes=5 * 1024**3, caps_concurrency_with_429=True
)
# The files' media types (as stored in S3); what a raw upload to Symbl may carry is UPLOAD_CONTENT_TYPE.
CONTENT_TYPES = {"flac": "audio/flac", "wav": "audio/wav", "opus": "audio/ogg", "m4a": "audio/mp4"}
_STATUSES: dict[str, JobStatus] = {
    "scheduled": "scheduled",
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
}
_SHORT = aiohttp.ClientTimeout(total=60, sock_connect=10)


class SymblProvider:
    """:class:`~zoomsymbl_common.providers.base.SpeechProvider` for Symbl.ai."""

    name: Provider = "symbl"
    limits: ProviderLimits = SYMBL_LIMITS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: str,
        app_secret: SecretStr,
        api_base: str = "https://api.symbl.ai",
        submit_timeout: float = 900.0,
        summary_attempts: int = 8,
        summary_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base = api_base.rstrip("/")
        self.token = SymblToken(session, self._base, app_id, app_secret, clock)
        self._submit_timeout = aiohttp.ClientTimeout(total=submit_timeout, sock_connect=10)
        self._summary_attempts = summary_attempts
        self._summary_delay = summary_delay
        self._sleep = sleep
        # Symbl's pages are https; a local stand-in reached over plain http (the sandbox) links to its own host.
        self._page_schemes = ("https",) if self._base.startswith("https://") else ("https", "http")
        self._page_hosts = tuple(h for h in (urlsplit(self._base).hostname,) if h)

    async def submit(self, request: SubmitRequest) -> SubmittedJob:
        """Start a job from ``request.audio_url`` when given, else from the audio stream.

        Both carry ``enableSummary=true``; a file of more than two channels is refused before any
        byte is sent (:class:`PoisonInputError`), since Symbl documents mono and dual-channel files only.
        """
        check_channels(request)
        options = symbl_options(request)
        if request.audio_url is not None:
            body = {**options, "url": request.audio_url.get_secret_value()}
            data = await self._call("POST", "/v1/process/audio/url", "submit", json_body=body)
        elif request.audio is not None:
            data = await self._call("POST", "/v1/process/audio", "submit", stream=request, params=as_query(options))
        else:
            raise PoisonInputError("submit request has neither audio nor audio_url", stage="submit")
        job_id, conversation_id = data.get("jobId"), data.get("conversationId")
        if not isinstance(job_id, str) or not isinstance(conversation_id, str) or not job_id or not conversation_id:
            # Resubmitting could start a second job; better to fail this meeting loudly.
            raise PoisonInputError("symbl accepted the audio but answered without jobId/conversationId", stage="submit")
        if encodable(job_id + conversation_id) != job_id + conversation_id:
            # A lone surrogate (valid JSON, no UTF-8 holds it) cannot be stored, and a replaced id names no job.
            raise PoisonInputError("symbl accepted the audio but answered an id no UTF-8 holds", stage="submit")
        return SubmittedJob(job_id=job_id, conversation_id=conversation_id)

    async def job_status(self, job_id: str) -> JobState:
        """Status from ``GET /v1/job/{jobId}``; a job Symbl does not know is reported failed."""
        try:
            data = await self._call(
                "GET", f"/v1/job/{path_segment('symbl', job_id, 'status')}", "job status", stage="status"
            )
        except PoisonInputError as exc:
            if "HTTP 404" in exc.reason or isinstance(exc, NotAName):
                return JobState("failed", reason=f"symbl does not know job {job_id!r}")
            raise
        status = _STATUSES.get(str(data.get("status")), "in_progress")
        return JobState(status, reason=None if status != "failed" else str(data.get("message") or "failed at symbl"))

    async def fetch_insights(self, job: SubmittedJob) -> Insights:
        """Messages, topics, questions, action items, follow-ups, summary and the summary page URL."""
        base = f"/v1/conversations/{path_segment('symbl', job.conversation_id, 'insights')}"
        messages = await self._call("GET", f"{base}/messages", "messages", stage="insights")
        topics = await self._call("GET", f"{base}/topics", "topics", stage="insights")
        questions = await self._call("GET", f"{base}/questions", "questions", stage="insights")
        actions = await self._call("GET", f"{base}/action-items", "action items", stage="insights")
        follow_ups = await self._call("GET", f"{base}/follow-ups", "follow-ups", stage="insights")
        summary = await self._summary(base)
        return Insights(
            messages=parse_messages(messages.get("messages")),
            topics=parse_items(topics.get("topics")),
            questions=parse_items(questions.get("questions")),
            action_items=parse_items(actions.get("actionItems")),
            follow_ups=parse_items(follow_ups.get("followUps")),
            summary=parse_summary(summary.get("summary")) if summary is not None else (),
            summary_url=await self._summary_url(base),
            extra={} if summary is not None else {"summary": "not ready"},
        )

    async def delete_conversation(self, conversation_id: str) -> bool:
        """``DELETE /v1/conversations/{conversationId}``: deletes the conversation and everything derived from it
        (Delete a conversation, https://docs.symbl.ai/docs/delete-a-conversation).

        False when Symbl does not know the id (404: deleted already, or never its own); another refusal raises
        :class:`PoisonInputError`, an outage :class:`RetryableError`.
        """
        try:
            path = f"/v1/conversations/{path_segment('symbl', conversation_id, 'forget')}"
            await self._call("DELETE", path, "delete conversation", stage="forget")
        except PoisonInputError as exc:
            if "HTTP 404" in exc.reason or isinstance(exc, NotAName):
                return False
            raise
        return True

    async def _summary(self, base: str) -> dict[str, Any] | None:
        """The summary, asking again while Symbl answers 404 ("being generated"); None if it never is."""
        delay = self._summary_delay
        for attempt in range(1, self._summary_attempts + 1):
            try:
                return await self._call("GET", f"{base}/summary", "summary", stage="insights")
            except PoisonInputError as exc:
                if "HTTP 404" not in exc.reason or attempt == self._summary_attempts:
                    if "HTTP 404" in exc.reason:
                        return None
                    raise
            await self._sleep(delay)
            delay = min(delay * 2, 30.0)
        return None

    async def _summary_url(self, base: str) -> str | None:
        body = {"name": "verbose-text-summary"}
        try:
            data = await self._call("POST", f"{base}/experiences", "experiences", stage="insights", json_body=body)
        except PoisonInputError:
            return None
        return summary_page_url(data.get("url"), self._page_schemes, self._page_hosts)

    async def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        stage: str = "submit",
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        stream: SubmitRequest | None = None,
    ) -> dict[str, Any]:
        """One authenticated call; a 401 refreshes the token once and repeats the call."""
        for attempt in (1, 2):
            token = await self.token.get()
            kwargs = self._request_kwargs(token, json_body, params, stream)
            try:
                async with (
                    transport_errors("symbl", action),
                    direct_request(self._session, method, f"{self._base}{path}", **kwargs) as resp,
                ):
                    if resp.status != 401 or attempt == 2:
                        return await read_json("symbl", action, resp, stage)
                    self.token.invalidate(token)
            finally:
                await close_stream(kwargs.get("data"))
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_kwargs(
        self,
        token: str,
        json_body: dict[str, Any] | None,
        params: dict[str, str] | None,
        stream: SubmitRequest | None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "x-api-key": token}
        kwargs: dict[str, Any] = {"headers": headers, "params": params, "timeout": _SHORT}
        if json_body is not None:
            kwargs["json"] = json_body
        if stream is not None and stream.audio is not None:
            media = UPLOAD_CONTENT_TYPE[stream.audio_format]
            if media is not None:
                headers["Content-Type"] = media
            else:
                # No header at all (aiohttp would add application/octet-stream): Symbl detects the format.
                kwargs["skip_auto_headers"] = ("Content-Type",)
            if stream.size_bytes > 0:
                headers["Content-Length"] = str(stream.size_bytes)
            # A fresh stream per attempt: the body of a rejected attempt may be half-sent.
            kwargs["data"] = stream.audio()
            kwargs["timeout"] = self._submit_timeout
        return kwargs


__all__ = ["SYMBL_LIMITS", "SymblProvider", "as_query", "symbl_options"]
