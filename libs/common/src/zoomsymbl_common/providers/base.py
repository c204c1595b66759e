"""The provider interface shared by the submitter (submit) and the notifier (status, insights).

A provider is chosen per tenant by configuration (``TenantConfig.provider``); the real hosts are
the defaults and a sandbox is reached only by configuring its base URL.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, overload

from pydantic import SecretStr

from zoomsymbl_common.events import ChannelAssignment, JobStatus, Provider
from zoomsymbl_common.logs import scrub

log = logging.getLogger("zoomsymbl.providers")
AudioOpener = Callable[[], AsyncIterator[bytes]]
"""Opens a fresh stream of the audio bytes (may be called again for a retry)."""
AudioPath = Literal["upload", "url"]
"""How the audio reaches the provider: its bytes in a request (``upload``), or a URL it fetches (``url``)."""
MAX_MESSAGES = 50_000
"""Most transcript messages kept: one every 0.72 s of a 10-hour meeting (the longest file a provider takes);
a measured synthetic 10-hour meeting at 180 words a minute has 7,200 utterances of 15 words."""
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024
"""Most UTF-8 bytes of a transcript's text, names and e-mails (plus ~64 a message for the rest of a stored row).

The transcript is stored with the rest of the insights in one MongoDB document (16 MiB at most). That
synthetic 10-hour meeting is ~1 MB as stored rows (before compression, which shrinks real speech ~5x); 4 MiB
is four times it, and leaves the rest of the document room for every item section full (~11 MB even if
each of their characters took 4 bytes), since text that resists compression is what a hostile answer sends."""
MAX_NAME = 200
"""Most characters of a speaker's name."""
_ROW_BYTES = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ProviderLimits:
    """What one provider account accepts; the size limit depends on the path the audio takes."""

    max_file_seconds: float
    """Longest file, on either path."""
    max_upload_bytes: int
    """Largest file sent as request bytes (AssemblyAI ``/v2/upload``, Symbl ``POST /v1/process/audio``)."""
    max_url_bytes: int
    """Largest file the provider fetches from an ``audio_url``."""
    caps_concurrency_with_429: bool
    """True when jobs over the account's cap are refused with 429 (else the provider queues them)."""

    def max_bytes(self, path: AudioPath) -> int:
        """The size limit of ``path``."""
        return self.max_url_bytes if path == "url" else self.max_upload_bytes


@dataclass(frozen=True)
class SubmitRequest:
    """Everything a provider needs to start one transcription job."""

    name: str
    language: str
    audio_format: Literal["flac", "wav", "opus", "m4a"]
    channels: int
    channel_map: tuple[ChannelAssignment, ...]
    diarization: bool
    webhook_url: SecretStr
    size_bytes: int
    duration_seconds: float
    audio: AudioOpener | None = None
    audio_url: SecretStr | None = None
    webhook_auth_header: tuple[str, SecretStr] | None = None
    # Where the audio is in our own object storage (a self-hosted provider reads it there).
    object_bucket: str = ""
    object_key: str = ""
    # Zoom's own transcript of the meeting (WebVTT), for the ``zoom`` source; None when Zoom has none (yet).
    transcript: AudioOpener | None = None


@dataclass(frozen=True)
class SubmittedJob:
    """The provider's handles on an accepted job."""

    job_id: str
    conversation_id: str


@dataclass(frozen=True)
class JobState:
    """A job's status as the provider's job API reports it.

    ``reason`` is provider text: it is scrubbed on the way in (registered secrets redacted, URLs cut to
    their host, so a presigned URL the provider echoes — "unable to access file at https://…" — never
    reaches MongoDB, a log line, an e-mail or ``zoomsymbl status``).
    """

    status: JobStatus
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.reason is not None:
            object.__setattr__(self, "reason", encodable(scrub(self.reason, 1000)))


@dataclass(frozen=True)
class TranscriptMessage:
    """One utterance, attributed to a speaker."""

    speaker: str
    text: str
    start_seconds: float
    end_seconds: float
    email: str | None = None
    channel: int | None = None


@dataclass(frozen=True)
class InsightItem:
    """A topic, question, action item, follow-up or decision.

    ``speaker`` is who said it and ``assignee`` who owns it (a participant's name); ``start_seconds`` is
    where in the meeting it was said; ``quote`` the words it rests on, when the source gives them.
    """

    text: str
    assignee: str | None = None
    due: str | None = None
    score: float | None = None
    speaker: str | None = None
    start_seconds: float | None = None
    quote: str | None = None
    assignee_email: str | None = None


@dataclass(frozen=True)
class SummaryTopic:
    """One topic of a summary by topic: its headline, its text and the stretch of the meeting it covers."""

    headline: str
    text: str
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclass(frozen=True)
class Insights:
    """What a completed job produced.

    ``summary`` holds plain summary lines (Symbl); ``summary_topics`` a summary by topic with times
    (AssemblyAI's Speech Understanding). ``unavailable`` names the sections that could not be produced
    and why (``{"questions": "insights engine answered HTTP 503"}``), so a report can say so.
    """

    messages: tuple[TranscriptMessage, ...] = ()
    topics: tuple[InsightItem, ...] = ()
    questions: tuple[InsightItem, ...] = ()
    action_items: tuple[InsightItem, ...] = ()
    follow_ups: tuple[InsightItem, ...] = ()
    summary: tuple[str, ...] = ()
    summary_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    decisions: tuple[InsightItem, ...] = ()
    summary_topics: tuple[SummaryTopic, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)


class SpeechProvider(Protocol):
    """Submit, poll and fetch results; raise RateLimitedError/RetryableError/PoisonInputError."""

    name: Provider
    limits: ProviderLimits

    async def submit(self, request: SubmitRequest) -> SubmittedJob:
        """Start a job; 429 → RateLimitedError, 5xx/timeout → RetryableError, 4xx → PoisonInputError."""
        ...

    async def job_status(self, job_id: str) -> JobState:
        """The job's current status from the provider's job API."""
        ...

    async def fetch_insights(self, job: SubmittedJob) -> Insights:
        """Transcript, topics, questions, action items, follow-ups and summary of a completed job."""
        ...


@overload
def encodable(text: str) -> str: ...


@overload
def encodable(text: None) -> None: ...


def encodable(text: str | None) -> str | None:
    """``text`` with every lone UTF-16 surrogate (U+D800–U+DFFF) replaced by U+FFFD, the replacement character.

    Python's JSON parser accepts an escaped lone surrogate (``"a\\ud800b"``) and hands it on as a code point no
    UTF-8 holds: stored as it came, it made BSON (and any UTF-8 encoder) raise, every retry of the store ran the
    insights engine again, and the meeting failed instead of getting its report. Every text a provider's answer
    yields passes here once, in the parser that reads it (transcripts in :func:`bound_transcript`). A text
    without one is returned as it is.
    """
    return _SURROGATE.sub("\ufffd", text) if text else text


def finite_number(value: object) -> float | None:
    """A finite float of a JSON number (JSON's ints are unbounded, and Python's parser accepts NaN/Infinity)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _bytes(text: str | None) -> int:
    return len(text.encode("utf-8", errors="replace")) if text else 0


def bound_transcript(messages: Iterable[TranscriptMessage]) -> tuple[TranscriptMessage, ...]:
    """The first ``messages`` within :data:`MAX_MESSAGES` and :data:`MAX_TRANSCRIPT_BYTES`, speaker names cut
    to :data:`MAX_NAME`, lone surrogates replaced (:func:`encodable`); the message that crosses the byte budget
    keeps the text that fits, and the rest go.

    Every transcript path (Symbl, AssemblyAI, the self-hosted transcriber, Zoom's transcript) ends here, so a
    hostile or merely enormous transcript is bounded the same way whatever its source.
    """
    kept: list[TranscriptMessage] = []
    left = MAX_TRANSCRIPT_BYTES
    for message in messages:
        if len(kept) == MAX_MESSAGES or left <= 0:
            log.warning("transcript cut to its bounds", extra={"messages_kept": len(kept)})
            break
        speaker, email = encodable(message.speaker[:MAX_NAME]), encodable(message.email)
        left -= _ROW_BYTES + _bytes(speaker) + _bytes(email)
        text = encodable(message.text)
        if _bytes(text) > left:
            text = text.encode("utf-8", errors="replace")[: max(left, 0)].decode("utf-8", errors="ignore")
        left -= _bytes(text)
        changed = speaker != message.speaker or text != message.text or email != message.email
        kept.append(dataclasses.replace(message, speaker=speaker, text=text, email=email) if changed else message)
    return tuple(kept)
