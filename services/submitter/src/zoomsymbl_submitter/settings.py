"""Settings of the submitter (env prefix ``ZOOMSYMBL_SUBMITTER_``); tenants come from ``load_tenants``.

``callback_secret`` must equal the notifier's ``ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET``: the notifier
checks the per-job tokens this service puts into the providers' webhook URLs and headers.
"""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.service import ServiceSettings
from zoomsymbl_common.signed_tokens import checked_key


class Settings(ServiceSettings):
    """Everything the submitter reads from its environment, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_SUBMITTER_", extra="ignore", frozen=True)

    http_port: int = Field(8082, ge=1, le=65535, description="Port of /healthz, /readyz and /metrics.")
    shutdown_timeout_seconds: float = Field(40.0, gt=0, description="Grace period for the message in hand.")

    notifier_public_url: AnyHttpUrl = Field(description="Public base URL of the notifier (provider webhooks).")
    callback_secret: SecretStr = Field(
        description="HMAC key of the per-job callback tokens; = ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET."
    )
    assemblyai_auth_header_name: str = Field(
        "x-zoomsymbl-callback", min_length=1, description="Header AssemblyAI echoes the per-job token in."
    )
    public_s3_endpoint: AnyHttpUrl | None = Field(
        None, description="S3 URL reachable by the provider (e.g. https://s3.example.com): submit presigned URLs."
    )
    presign_expiry_seconds: int = Field(6 * 3600, ge=300, le=7 * 24 * 3600, description="Presigned URL lifetime.")

    rate_per_second: float = Field(1.0, gt=0, description="Submissions per second per provider account.")
    burst: int = Field(2, ge=1, description="Submissions allowed at once after a quiet spell (bucket size).")
    max_in_flight: int = Field(2, ge=1, description="Jobs in flight per provider account (Symbl trial: 2).")
    whisper_max_in_flight: int = Field(
        2, ge=1, description="Jobs in flight at the self-hosted transcriber (its replicas × concurrency)."
    )
    lease_seconds: float = Field(900.0, gt=0, description="Silence after which a slot's job is checked.")
    acquire_timeout_seconds: float = Field(30.0, gt=0, description="One wait for a slot before re-checking.")
    limiter_poll_max_seconds: float = Field(1.0, gt=0, description="Longest sleep between polls for a slot.")
    reclaim_interval_seconds: float = Field(60.0, ge=0, description="How often expired slots are checked; 0 = off.")
    leftovers_interval_seconds: float = Field(
        300.0,
        ge=0,
        description="How often objects kept for unfinished jobs of earlier generations are judged again; 0 = off.",
    )

    zoom_transcript_wait_seconds: float = Field(
        172_800.0,
        ge=0,
        le=31_536_000,
        description="A zoom-source meeting Zoom sent no transcript of this long after its mix is failed with a "
        "notice; 0 = wait for ever.",
    )
    transcript_wait_check_seconds: float = Field(
        600.0, ge=0, description="How often meetings waiting for Zoom's transcript are checked; 0 = off."
    )

    max_attempts: int = Field(5, ge=1, description="Attempts on 5xx/timeouts before dead-lettering.")
    retry_base_delay_seconds: float = Field(0.5, gt=0, description="First backoff delay.")
    retry_max_delay_seconds: float = Field(30.0, gt=0, description="Longest backoff delay.")
    max_rate_limit_wait_seconds: float = Field(300.0, gt=0, description="Longest single wait after a 429.")
    submit_timeout_seconds: float = Field(900.0, gt=0, description="Longest one submission (upload) may take.")
    claim_grace_seconds: float = Field(
        60.0,
        gt=0,
        description="Lease of a submission's claim, renewed while its owner lives (a dead owner's is free after it).",
    )
    publish_timeout_seconds: float = Field(10.0, gt=0, description="Longest wait for Kafka's acknowledgement.")
    max_poll_interval_ms: int = Field(
        3_600_000,
        ge=60_000,
        description=(
            "Kafka's max poll interval: a meeting still at work after 90 % of it (a wait for a slot, a long split)"
            " is given back to Kafka and polled again by the same consumer while its work goes on."
        ),
    )

    max_part_seconds: float | None = Field(None, gt=0, description="Split files longer than this (default: provider).")
    split_margin_seconds: float = Field(120.0, ge=0, description="Parts stay this far below the limit.")
    split_search_seconds: float = Field(300.0, gt=0, description="Look for a silence this far around a cut.")
    work_dir: str | None = Field(None, description="Scratch directory for splitting (default: system temp).")
    ffmpeg_timeout_seconds: float = Field(
        1800.0,
        gt=0,
        description=(
            "Longest one ffmpeg run may take; a run that decodes and encodes again (an Opus or FLAC part, the mono"
            " mix) gets 4 x its measured CPU when that is longer."
        ),
    )

    @field_validator("callback_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value)

    @field_validator("notifier_public_url", "public_s3_endpoint")
    @classmethod
    def _no_query(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.query or value.fragment):
            raise ValueError("must be a base URL without query or fragment")
        return value

    def notifier_base(self) -> str:
        """The notifier URL without a trailing slash."""
        return str(self.notifier_public_url).rstrip("/")
