"""SANDBOX: what the Zoom sandbox serves — meetings, participants and server settings.

Times are whole seconds because Zoom's `recording_start`/`recording_end` carry second precision;
fractional offsets could not be represented in the payload anyway.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DownloadRedirect = Literal["none", "local", "offsite"]


def user_id(email: str) -> str:
    """The stable Zoom-style user id (22 url-safe characters) the sandbox gives the user with ``email``."""
    digest = hashlib.sha256(email.lower().encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def utc_seconds(value: datetime) -> datetime:
    """``value`` in UTC to the second (Zoom's times have no fraction); a naive time is refused."""
    if value.tzinfo is None:
        raise ValueError("start_time must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0)


def an_hour_ago() -> datetime:
    # An hour ago keeps a freshly started sandbox inside Zoom's default "last day" listing window.
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


class ParticipantSpec(BaseModel):
    """One participant: when they joined, how long they stayed, and what they say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    email: str | None = None
    start_offset_s: int = Field(default=0, ge=0, description="join time, seconds after the meeting start")
    duration_s: int = Field(default=10, ge=1, description="seconds the participant's track lasts")
    speech: str = Field(default="", description="spoken with espeak-ng 0.5 s into the participant's track")


class MeetingSpec(BaseModel):
    """One recorded meeting instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uuid: str = Field(min_length=1)
    meeting_id: int = Field(default=84_712_345_678, ge=1)
    topic: str = "Sandbox meeting"
    host_email: str = "host@example.com"
    start_time: datetime = Field(default_factory=an_hour_ago)
    timezone: str = "Europe/Paris"
    participants: tuple[ParticipantSpec, ...] = Field(min_length=1)
    separate_audio: bool = Field(default=True, description="Zoom's 'separate audio file per participant'")
    include_video: bool = Field(default=True, description="also record a small shared-screen MP4")
    synthetic_speech: bool = Field(
        default=False, description="gated noise instead of espeak-ng: fast for hours-long meetings"
    )
    transcript: bool = Field(default=False, description="Zoom's audio transcription: a TRANSCRIPT file (WebVTT)")
    captions: bool = Field(default=False, description="with transcript: a closed-caption (CC) file too")
    stretches: tuple[tuple[int, int], ...] = Field(
        default=(),
        description="a cloud recording stopped and started again: (start, end) seconds on the meeting clock of each"
        " stretch, in order; Zoom makes an audio_only M4A (cut from the meeting's audio) and the TRANSCRIPT and CC"
        " files (times from the stretch's own start) per stretch, each with the stretch's recording_start and"
        " recording_end. None: one recording of the whole meeting",
    )

    @field_validator("start_time")
    @classmethod
    def _utc_seconds(cls, value: datetime) -> datetime:
        return utc_seconds(value)

    @property
    def host_id(self) -> str:
        """A stable Zoom-style user id (22 url-safe characters) derived from the host e-mail."""
        return user_id(self.host_email)

    @property
    def total_duration_s(self) -> int:
        """Seconds from the meeting start until the last participant left."""
        return max(p.start_offset_s + p.duration_s for p in self.participants)


class PastMeetingSpec(BaseModel):
    """One past meeting instance as the dashboard reports it (no media: it may never have been recorded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uuid: str = Field(min_length=1)
    meeting_id: int = Field(default=84_712_345_678, ge=1)
    topic: str = "Sandbox meeting"
    host_email: str = "host@example.com"
    start_time: datetime
    duration_s: int = Field(default=1800, ge=1)
    has_recording: bool = False
    participants: tuple[str, ...] = Field(default=(), description="participants' e-mails")

    @field_validator("start_time")
    @classmethod
    def _utc_seconds(cls, value: datetime) -> datetime:
        return utc_seconds(value)


class PastCallSpec(BaseModel):
    """One past Zoom Phone call as the call history reports it (no media: it may never have been recorded).

    ``recorded`` True and no ``PhoneCallSpec`` of it: recorded at Zoom, never delivered (webhook lost).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    direction: Literal["inbound", "outbound", "internal"] = "inbound"
    owner_email: str = Field("host@example.com", description="the Zoom Phone user of the call (the recorded one)")
    owner_name: str = "Jill Chill"
    owner_extension: int = 1026
    other_number: str = "+12092592844"
    other_name: str = "Jack Chill"
    start_time: datetime
    duration_s: int = Field(default=120, ge=0)
    recorded: bool = False

    @field_validator("start_time")
    @classmethod
    def _utc_seconds(cls, value: datetime) -> datetime:
        return utc_seconds(value)


class ZoomSandboxConfig(BaseModel):
    """Settings of one Zoom sandbox server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    meetings: tuple[MeetingSpec, ...] = ()
    cache_dir: Path = Path(".cache/zoom-sandbox")
    account_id: str = "sandbox-account-id"
    client_id: str = "sandbox-client-id"
    # Well-known sandbox credentials, not secrets: the sandbox must never face real clients.
    client_secret: str = "sandbox-client-secret"  # noqa: S105
    webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    owner_email: str = Field(default="host@example.com", description="the user `me` stands for")
    public_base_url: str | None = Field(
        default=None, description="base of download URLs; default: bound at start, else the Host header"
    )
    access_token_ttl_s: int = Field(default=3600, ge=1)
    app_active: bool = Field(
        default=True,
        description="False: the Server-to-Server OAuth app is deactivated, no token is issued (zoom_oauth.py)",
    )
    download_token_ttl_s: int = Field(default=86_400, ge=1)
    download_redirect: DownloadRedirect = "none"
    offsite_base_url: str = "http://evil.example.invalid"
    scope: str = "cloud_recording:read:list_user_recordings:admin cloud_recording:read:recording:admin"
    inactive_users: tuple[str, ...] = Field(default=(), description="hosts listed with status inactive")
    page_token_ttl_s: int = Field(default=900, ge=1, description="a next_page_token's life (Zoom: 15 minutes)")
    per_second_limits: dict[str, int] = Field(
        default_factory=dict, description="requests a second per rate-limit category (zoom_limits.py); none: off"
    )
    daily_limits: dict[str, int] = Field(
        default_factory=dict, description="requests a UTC day per category (Heavy also counts Resource-intensive)"
    )
    past_meetings: tuple[PastMeetingSpec, ...] = Field(
        default=(), description="past meetings the dashboard reports besides the recorded ones (zoom_dashboard.py)"
    )
    past_calls: tuple[PastCallSpec, ...] = Field(
        default=(), description="past calls the call history lists besides the recorded ones (zoom_call_history.py)"
    )
    chunk_size: int = Field(default=64 * 1024, ge=1)
    chunk_delay_s: float = Field(
        default=0.0, ge=0, description="pause between download chunks, so concurrency becomes observable"
    )


def typical_meeting_spec(
    uuid: str = "4444AAAiAAAAAiAiAiiAii==",
    *,
    start_time: datetime | None = None,
    separate_audio: bool = True,
    host_email: str = "host@example.com",
) -> MeetingSpec:
    """A 16-second, three-participant meeting in which each participant speaks once, in turn.

    Speech (meeting time): Elisa ~0.5-4.7 s, Jean-Luc ~6.5-10 s, Zoë ~11.5-13.8 s.
    """
    participants = (
        ParticipantSpec(
            name="Elisa L",
            email="elisa@example.com",
            start_offset_s=0,
            duration_s=16,
            speech="Hello everyone, thanks for joining. Let's review the launch plan.",
        ),
        ParticipantSpec(
            name="Jean-Luc Pérez",
            email="jean-luc@example.com",
            start_offset_s=6,
            duration_s=10,
            speech="Thanks Elisa. The build is ready and the tests are green.",
        ),
        ParticipantSpec(
            name="Zoë 🎧 Ng", start_offset_s=11, duration_s=5, speech="Great, I will send the notes tomorrow."
        ),
    )
    return MeetingSpec(
        uuid=uuid,
        topic="Launch plan sync",
        host_email=host_email,
        start_time=start_time or an_hour_ago(),
        participants=participants,
        separate_audio=separate_audio,
    )


DEMO_SPEECH = (
    ("Elisa L", "elisa@example.com", 0, "Hello everyone, thanks for joining. Can we ship the release on Friday?"),
    (
        "Jean-Luc Pérez",
        "jean-luc@example.com",
        8,
        "We decided to ship on Friday. The build is ready and the tests are green.",
    ),
    ("Zoë 🎧 Ng", "", 16, "Great. I will send the release notes tomorrow."),
)


def demo_meeting_spec(
    uuid: str, *, host_email: str = "host@example.com", topic: str = "Release planning"
) -> MeetingSpec:
    """A 24-second, three-participant meeting whose words hold a question, a decision, an action item and a
    follow-up (what ``make demo`` shows and the provider e2e test asserts); Zoë has no e-mail at Zoom."""
    participants = tuple(
        ParticipantSpec(name=name, email=mail or None, start_offset_s=start, duration_s=24 - start, speech=speech)
        for name, mail, start, speech in DEMO_SPEECH
    )
    return MeetingSpec(
        uuid=uuid,
        topic=topic,
        host_email=host_email,
        start_time=an_hour_ago(),
        participants=participants,
    )


def long_meeting_spec(
    uuid: str, *, hours: float, participants: int = 3, start_time: datetime | None = None
) -> MeetingSpec:
    """A benchmark-length meeting with synthetic speech; every participant stays the whole time."""
    duration = max(1, round(hours * 3600))
    people = tuple(
        ParticipantSpec(name=f"Speaker {i + 1}", email=f"speaker{i + 1}@example.com", duration_s=duration)
        for i in range(participants)
    )
    return MeetingSpec(
        uuid=uuid,
        topic=f"Benchmark meeting ({hours:g} h)",
        start_time=start_time or an_hour_ago(),
        participants=people,
        include_video=False,
        synthetic_speech=True,
    )
