"""AssemblyAI v2 transcript API: submit (presigned URL or streamed upload), status, transcript insights.

AssemblyAI queues jobs above an account's concurrency instead of refusing them, so its in-flight
cap is ours to keep (the limiter) rather than a 429 to survive. The webhook is authenticated by a
header of our choice whose value is the per-job callback token.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import aiohttp

from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.events import JobStatus, Provider
from zoomsymbl_common.logs import register_secret, scrub
from zoomsymbl_common.providers import assemblyai_understanding as understanding_reader
from zoomsymbl_common.providers.assemblyai_request import transcript_body
from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS, MAX_TEXT
from zoomsymbl_common.providers.base import (
    InsightItem,
    Insights,
    JobState,
    ProviderLimits,
    SubmitRequest,
    SubmittedJob,
    TranscriptMessage,
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
from zoomsymbl_common.providers.symbl_insights import MAX_MESSAGES, bound_transcript, finite_number
from zoomsymbl_common.tenants import DEFAULT_ASSEMBLYAI_SPEECH_MODELS

# How long an upload URL is worth redacting: it is usable with our API key only, for the job's life.
UPLOAD_URL_TTL = timedelta(days=2)

# FAQ "Are there any limits on file size or file duration…": /v2/transcript takes 5 GB and 10 h, /v2/upload
# 2.2 GB (read as decimal units: the smaller reading, so a file planned within it is accepted either way).
ASSEMBLYAI_LIMITS = ProviderLimits(
    max_file_seconds=10 * 3600,
    max_upload_bytes=2_200_000_000,
    max_url_bytes=5_000_000_000,
    caps_concurrency_with_429=False,
)
_STATUSES: dict[str, JobStatus] = {
    "queued": "scheduled",
    "processing": "in_progress",
    "completed": "completed",
    "error": "failed",
}
_SHORT = aiohttp.ClientTimeout(total=60, sock_connect=10)
# A finished transcript the status check just fetched is what the insights read next, within
# milliseconds: kept (a few, briefly, used once) so one completion costs one GET of the whole
# transcript, not two (issue 21: the notifier's completions wait on these calls).
_FINISHED_KEPT = 8
_FINISHED_TTL_SECONDS = 60.0
_FINISHED = ("completed", "error")


def _seconds(value: object) -> float:
    number = finite_number(value)
    return number / 1000.0 if number is not None else 0.0


def parse_utterances(raw: object) -> tuple[TranscriptMessage, ...]:
    """Utterances → messages; with multichannel the speaker is the channel ("Channel 2").

    Bounded as every transcript is (:func:`~zoomsymbl_common.providers.symbl_insights.bound_transcript`).
    """
    if not isinstance(raw, list):
        return ()
    messages = []
    # AssemblyAI answers in time order: the count bound is taken before the work, and the time sort keeps it.
    for entry in [e for e in raw if isinstance(e, dict) and isinstance(e.get("text"), str)][:MAX_MESSAGES]:
        channel = _channel(entry.get("channel"))
        label = entry.get("speaker")
        speaker = f"Channel {channel}" if channel is not None else f"Speaker {label or 'A'}"
        start, end = _seconds(entry.get("start")), _seconds(entry.get("end"))
        messages.append(TranscriptMessage(speaker, entry["text"], start, max(start, end), channel=channel))
    return bound_transcript(sorted(messages, key=lambda m: m.start_seconds))


def _channel(value: object) -> int | None:
    # A channel is a small number ("1", "2"). isdigit() alone let "²" through to int(), which refuses it.
    return int(value) if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 6 else None


def parse_topics(raw: object) -> tuple[InsightItem, ...]:
    """``iab_categories_result.summary`` ({"A>B>C": relevance}) → topics, most relevant first (at most MAX_ITEMS)."""
    summary = raw.get("summary") if isinstance(raw, dict) else None
    if not isinstance(summary, dict):
        return ()
    scored = ((str(label), finite_number(score)) for label, score in summary.items())
    ranked = sorted(((label, score) for label, score in scored if score is not None), key=lambda item: -item[1])
    return tuple(
        InsightItem(text=encodable(label.split(">")[-1][:MAX_TEXT]), score=score) for label, score in ranked[:MAX_ITEMS]
    )


class AssemblyAIProvider:
    """:class:`~zoomsymbl_common.providers.base.SpeechProvider` for AssemblyAI."""

    name: Provider = "assemblyai"
    limits: ProviderLimits = ASSEMBLYAI_LIMITS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        api_base: str = "https://api.assemblyai.com",
        submit_timeout: float = 900.0,
        speech_models: tuple[str, ...] = DEFAULT_ASSEMBLYAI_SPEECH_MODELS,
    ) -> None:
        self._session = session
        self._base = api_base.rstrip("/")
        self._speech_models = speech_models
        self._headers = {"authorization": api_key}
        self._submit_timeout = aiohttp.ClientTimeout(total=submit_timeout, sock_connect=10)
        self._finished: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def submit(self, request: SubmitRequest) -> SubmittedJob:
        """Create a transcript from ``request.audio_url``, or upload the stream first (``/v2/upload``)."""
        if request.audio_url is not None:
            audio_url = request.audio_url.get_secret_value()
        elif request.audio is not None:
            audio_url = await self._upload(request)
        else:
            raise PoisonInputError("submit request has neither audio nor audio_url", stage="submit")
        body = transcript_body(request, audio_url, self._speech_models)
        async with (
            transport_errors("assemblyai", "transcript"),
            direct_request(
                self._session, "POST", f"{self._base}/v2/transcript", json=body, headers=self._headers, timeout=_SHORT
            ) as resp,
        ):
            data = await read_json("assemblyai", "transcript", resp)
        transcript_id = data.get("id")
        if not isinstance(transcript_id, str) or not transcript_id:
            raise PoisonInputError("assemblyai accepted the transcript but answered without an id", stage="submit")
        if encodable(transcript_id) != transcript_id:
            # A lone surrogate (valid JSON, no UTF-8 holds it) cannot be stored, and a replaced id names no job.
            raise PoisonInputError(
                "assemblyai accepted the transcript but answered an id no UTF-8 holds", stage="submit"
            )
        return SubmittedJob(job_id=transcript_id, conversation_id=transcript_id)

    async def job_status(self, job_id: str) -> JobState:
        """Status from ``GET /v2/transcript/{id}``; a transcript AssemblyAI does not know is failed."""
        try:
            data = await self._transcript(job_id, keep=True)
        except PoisonInputError as exc:
            if _unknown_transcript(exc) or isinstance(exc, NotAName):
                return JobState("failed", reason=f"assemblyai does not know transcript {job_id!r}")
            raise
        status = _STATUSES.get(str(data.get("status")), "in_progress")
        reason = str(data.get("error") or "failed at assemblyai") if status == "failed" else None
        return JobState(status, reason=reason)

    async def fetch_insights(self, job: SubmittedJob) -> Insights:
        """Per-channel (or per-speaker) utterances, summary by topic, action items and topics of a transcript."""
        data = self._kept(job.job_id) or await self._transcript(job.job_id)
        status = data.get("status")
        if status == "error":
            raise PoisonInputError(
                f"assemblyai transcript failed: {scrub(str(data.get('error')), 500)!r}", stage="insights"
            )
        if status != "completed":
            raise RetryableError(f"assemblyai transcript {job.job_id!r} is {status!r}, not completed")
        understanding = data.get("speech_understanding")
        summary, summary_missing = understanding_reader.summary_topics(understanding)
        actions, actions_missing = understanding_reader.action_items(understanding)
        headlines = tuple(InsightItem(text=t.headline, start_seconds=t.start_seconds) for t in summary if t.headline)
        missing = {"summary": summary_missing, "action_items": actions_missing}
        return Insights(
            messages=parse_utterances(data.get("utterances")),
            topics=parse_topics(data.get("iab_categories_result")) + headlines,
            summary_topics=summary,
            action_items=actions,
            unavailable={k: v for k, v in missing.items() if v},
        )

    async def delete_transcript(self, transcript_id: str) -> bool:
        """``DELETE /v2/transcript/{id}``: AssemblyAI removes the transcript's data (and its ``/v2/upload`` file)
        and answers the transcript marked deleted (https://www.assemblyai.com/docs/api-reference/transcripts/delete).

        False when AssemblyAI does not know the id (:func:`_unknown_transcript`: deleted and gone, or never its own);
        a refusal (a transcript still processing) raises :class:`PoisonInputError`, an outage :class:`RetryableError`.
        """
        try:
            url = f"{self._base}/v2/transcript/{path_segment('assemblyai', transcript_id, 'forget')}"
            async with (
                transport_errors("assemblyai", "delete transcript"),
                direct_request(self._session, "DELETE", url, headers=self._headers, timeout=_SHORT) as resp,
            ):
                await read_json("assemblyai", "delete transcript", resp, stage="forget")
        except PoisonInputError as exc:
            if _unknown_transcript(exc) or isinstance(exc, NotAName):
                return False
            raise
        return True

    async def _transcript(self, transcript_id: str, *, keep: bool = False) -> dict[str, Any]:
        async with (
            transport_errors("assemblyai", "get transcript"),
            direct_request(
                self._session,
                "GET",
                f"{self._base}/v2/transcript/{path_segment('assemblyai', transcript_id, 'status')}",
                headers=self._headers,
                timeout=_SHORT,
            ) as resp,
        ):
            data = await read_json("assemblyai", "get transcript", resp, stage="status")
        if keep and data.get("status") in _FINISHED:  # final: it will not change; next come the insights
            self._finished[transcript_id] = (time.monotonic(), data)
            self._finished.move_to_end(transcript_id)
            while len(self._finished) > _FINISHED_KEPT:  # the oldest go; a stale one is refused by _kept
                self._finished.popitem(last=False)
        return data

    def _kept(self, transcript_id: str) -> dict[str, Any] | None:
        """The finished transcript fetched moments ago (once: it is forgotten as it is handed out)."""
        kept = self._finished.pop(transcript_id, None)
        if kept is None or kept[0] < time.monotonic() - _FINISHED_TTL_SECONDS:
            return None
        return kept[1]

    async def _upload(self, request: SubmitRequest) -> str:
        assert request.audio is not None
        headers = {**self._headers, "Content-Type": "application/octet-stream"}
        if request.size_bytes > 0:
            headers["Content-Length"] = str(request.size_bytes)
        stream = request.audio()
        try:
            async with (
                transport_errors("assemblyai", "upload"),
                direct_request(
                    self._session,
                    "POST",
                    f"{self._base}/v2/upload",
                    data=stream,
                    headers=headers,
                    timeout=self._submit_timeout,
                ) as resp,
            ):
                data = await read_json("assemblyai", "upload", resp)
        finally:
            await close_stream(stream)
        url = data.get("upload_url")
        if not isinstance(url, str) or not url:
            raise RetryableError("assemblyai upload answered without upload_url")
        register_secret(url, ttl=UPLOAD_URL_TTL)
        return url


def _unknown_transcript(exc: PoisonInputError) -> bool:
    """True when AssemblyAI's refusal says it does not know the transcript id: the documented 400
    ``{"error": "Transcript lookup error, transcript id not found"}``
    (https://www.assemblyai.com/docs/pre-recorded-audio/guides/common_errors_and_solutions, "Transcript ID not found"),
    or a 404 (its API reference's generic answer)."""
    return "HTTP 404" in exc.reason or ("HTTP 400" in exc.reason and "transcript id not found" in exc.reason.lower())
