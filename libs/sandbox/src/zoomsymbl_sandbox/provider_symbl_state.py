"""SANDBOX Symbl.ai state: configuration, tokens, jobs/conversations and statistics."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiohttp
from aiohttp import web

from zoomsymbl_sandbox.provider_audio import AudioInfo, SilenceSettings, detect_speech
from zoomsymbl_sandbox.provider_http import WebhookSender
from zoomsymbl_sandbox.provider_insights import Message, attribute
from zoomsymbl_sandbox.provider_jobs import Job, JobBoard, JobTimings, Phase
from zoomsymbl_sandbox.provider_stats import Faults, RateLimiter, SubmitLog
from zoomsymbl_sandbox.provider_symbl_options import SymblOptions

SymblStatus = Literal["scheduled", "in_progress", "completed", "failed"]
STATUS: dict[Phase, SymblStatus] = {
    "waiting": "scheduled",
    "running": "in_progress",
    "done": "completed",
    "failed": "failed",
}


@dataclass(frozen=True)
class SymblConfig:
    """Settings of the Symbl sandbox; defaults follow Symbl's trial plan, tests shorten the timings."""

    storage_dir: Path
    app_id: str = "sandbox-app-id"
    app_secret: str = "sandbox-app-secret"  # noqa: S105 - a sandbox credential, public by design
    token_expires_in_s: int = 86400
    max_concurrent_jobs: int = 2
    rate_limit_per_s: float | None = None
    rate_burst: int = 1
    max_duration_s: float = 4 * 3600
    max_upload_bytes: int = 5 * 1024**3
    timings: JobTimings = field(default_factory=JobTimings)
    summary_not_ready_calls: int = 1
    # Symbl's docs show {"jobId", "status"}; one of its samples reads {"id", "status"}.
    callback_id_field: Literal["jobId", "id"] = "jobId"
    fail_marker: str = "[fail]"
    silence: SilenceSettings = field(default_factory=SilenceSettings)
    webhook_timeout_s: float = 5.0
    allow_non_loopback: bool = False
    public_base_url: str | None = None
    keep_audio: bool = False
    tool_timeout_s: float = 900.0


@dataclass(frozen=True)
class Submission:
    """An accepted process-audio request, after ffprobe has looked at the file."""

    options: SymblOptions
    info: AudioInfo
    conversation_id: str
    started_at: datetime


def new_conversation_id() -> str:
    # Symbl conversation ids are 16-digit numbers.
    return str(10**15 + uuid.uuid4().int % (9 * 10**15))


class SymblState:
    """Everything one Symbl sandbox instance knows; reachable in handlers as ``app[SYMBL_STATE]``."""

    def __init__(self, config: SymblConfig) -> None:
        self.config = config
        self.faults = Faults(summary_not_ready_calls=config.summary_not_ready_calls)
        self.log = SubmitLog()
        self.limiter = RateLimiter(config.rate_limit_per_s, config.rate_burst)
        self.sender = WebhookSender(self.faults, config.webhook_timeout_s, config.allow_non_loopback)
        self.board: JobBoard[Submission] = JobBoard(
            config.max_concurrent_jobs, config.timings, self._analyse, self._notify, queue_when_full=False
        )
        self.tokens: dict[str, float] = {}
        self.token_issues = 0
        self.conversations: dict[str, Job[Submission]] = {}
        self.summary_calls: Counter[str] = Counter()
        self.deleted: set[str] = set()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.config.token_expires_in_s
        self.token_issues += 1
        return token

    def token_valid(self, token: str) -> bool:
        expiry = self.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def http_session(self) -> aiohttp.ClientSession:
        if self.sender.session is None:
            raise RuntimeError("the Symbl sandbox app has not been started")
        return self.sender.session

    def new_audio_path(self) -> Path:
        return self.config.storage_dir / f"symbl-{uuid.uuid4().hex}.audio"

    def add(self, job: Job[Submission]) -> None:
        self.board.submit(job)
        self.conversations[job.request.conversation_id] = job

    async def _analyse(self, job: Job[Submission]) -> list[Message]:
        sub = job.request
        assert job.audio_path is not None
        try:
            segments = await detect_speech(
                job.audio_path,
                sub.info,
                self.config.silence,
                per_channel=sub.options.per_channel,
                timeout_s=self.config.tool_timeout_s,
            )
        finally:
            if not self.config.keep_audio:
                job.audio_path.unlink(missing_ok=True)
        speakers = sub.options.speakers if sub.options.per_channel else {}
        count = sub.options.diarization_count if sub.options.diarization else 1
        return attribute(sub.conversation_id, segments, speakers, count)

    async def _notify(self, job: Job[Submission]) -> None:
        url = job.request.options.webhook_url
        if url:
            payload: dict[str, object] = {self.config.callback_id_field: job.id, "status": STATUS[job.phase]}
            await self.sender.send(url, payload, {})

    def stats(self) -> dict[str, object]:
        statuses = Counter(STATUS[job.phase] for job in self.board.jobs.values())
        return {
            "max_concurrency": self.board.max_concurrency,
            "in_flight": self.board.in_flight,
            "cap": self.board.cap,
            "jobs_by_status": dict(statuses),
            "token_issues": self.token_issues,
            "deleted": len(self.deleted),
            "faults": self.faults.snapshot(),
            **self.log.snapshot(),
            **self.sender.snapshot(),
        }


def messages_of(job: Job[Submission]) -> list[Message]:
    result = job.result
    if not isinstance(result, list):
        return []
    return [m for m in result if isinstance(m, Message)]


def started_at_now() -> datetime:
    return datetime.now(UTC)


SYMBL_STATE = web.AppKey("symbl_state", SymblState)
