"""Settings of the notifier (env prefix ``ZOOMSYMBL_NOTIFIER_``)."""

from __future__ import annotations

import smtplib
from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.page_tokens import NO_PREVIOUS_KEY
from zoomsymbl_common.service import ServiceSettings
from zoomsymbl_common.signed_tokens import checked_key

from zoomsymbl_notifier.links import NO_LINKS, checked_base_url

SmtpSecurity = Literal["none", "starttls", "tls"]
GIVE_UP_AFTER_SECONDS = 5 * 24 * 3600.0
"""How long an e-mail, and each recipient of it, is retried: RFC 5321 4.5.4.1 asks "at least 4-5 days"."""


def _plain_smtp(address: str) -> bool:
    """``address`` goes into ``MAIL FROM`` as written (smtplib rewrites what it does not read as one address)."""
    return address.isascii() and smtplib.quoteaddr(address) == f"<{address}>"


class Settings(ServiceSettings):
    """Everything the notifier reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = Field(8083, ge=1, le=65535, description="Port of the webhooks, /healthz, /readyz, /metrics.")
    shutdown_timeout_seconds: float = Field(25.0, gt=0, description="Grace period for in-flight work on SIGTERM.")

    callback_secret: SecretStr = Field(description="HMAC key of the per-job callback tokens (same as the submitter).")
    assemblyai_auth_header_name: str = Field(
        "x-zoomsymbl-callback", min_length=1, description="Header AssemblyAI sends the per-job token in."
    )
    max_body_bytes: int = Field(16 * 1024, ge=256, description="Largest callback body accepted.")
    callback_deadline_seconds: float = Field(
        0.9, gt=0, le=5, description="A callback not durably in Kafka within this many seconds is answered 503."
    )
    provider_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one provider API call.")

    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    smtp_security: SmtpSecurity = Field("none", description="none, starttls (upgrade) or tls (implicit TLS).")
    smtp_username: str = Field("", description="SMTP AUTH user; empty = no AUTH.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP AUTH password.")
    smtp_ca_file: str = Field("", description="PEM file of CAs trusted for the SMTP server; empty = system CAs.")
    smtp_timeout_seconds: float = Field(20.0, gt=0, description="Timeout of one SMTP conversation step.")
    mail_from: str = Field("zoomsymbl@localhost", min_length=3, description="From address of every e-mail.")

    page_key: SecretStr = Field(
        SecretStr(""),
        description="HMAC key of the meeting-page links (same as the web service's); empty = e-mails without a link.",
    )
    page_key_previous: SecretStr = Field(
        SecretStr(""),
        description="The page key before the current one, while it is being replaced: expired links signed with it "
        "may still ask for a new one (/links/renew); empty = none. Links are signed with PAGE_KEY only.",
    )
    page_base_url: str = Field(
        "",
        validate_default=True,
        description="Where the web service answers (https://zoomsymbl.example.com); required with PAGE_KEY.",
    )

    # Bounded above: infinity or 1e15 passed and then overflowed the date arithmetic of every send (OverflowError).
    mail_retry_base_seconds: float = Field(
        5.0, gt=0, le=86_400, description="First delay before re-sending a failed e-mail."
    )
    mail_retry_max_seconds: float = Field(300.0, gt=0, le=86_400, description="Longest delay between e-mail attempts.")
    mail_lease_seconds: float = Field(
        120.0, gt=0, le=86_400, description="A send claimed longer ago than this is retried."
    )
    mail_give_up_after_seconds: float = Field(
        GIVE_UP_AFTER_SECONDS,
        gt=0,
        le=31_536_000,
        description="An e-mail (or a recipient) still failing for now this long after it was recorded is given up.",
    )

    sweeper_interval_seconds: float = Field(60.0, gt=0, description="How often the sweeper runs.")
    sweeper_stale_after_seconds: float = Field(
        900.0, gt=0, description="A job without news for this long is polled at the provider."
    )
    sweeper_batch_size: int = Field(100, ge=1, description="Most jobs polled per sweep.")
    stalled_after_seconds: float = Field(
        86_400.0,
        ge=0,
        le=31_536_000,
        description="A meeting at a stage before completed without an update this long is counted stalled "
        "(zoomsymbl_notifier_meetings_stalled, the ZoomsymblMeetingsStalled alert); 0 = not counted.",
    )
    give_ups_before_failing: int = Field(
        3,
        ge=1,
        le=10,
        description="Rounds of exhausted retries of one job (each sweep re-reports it with a fresh budget) before "
        "its meeting fails with a notice; outages of our own servers do not count.",
    )

    job_give_up_after_seconds: float = Field(
        172_800.0,
        ge=0,
        le=31_536_000,  # a year: more is no deadline (and infinity overflowed the date arithmetic: use 0)
        description="A provider job with no final status this long after its submission is failed (its meeting then "
        "takes Zoom's transcript or fails with a notice); 0 = wait for ever.",
    )

    summary_retry_attempts: int = Field(6, ge=1, description="Tries of a summary that is still being prepared.")
    summary_retry_delay_seconds: float = Field(2.0, ge=0, description="First wait between tries (doubles, <= 30 s).")

    kafka_session_timeout_ms: int = Field(
        10_000, ge=6_000, description="Consumer session timeout: how soon a dead replica's partitions move on."
    )
    concurrent_jobs: int = Field(
        6,
        ge=1,
        le=64,
        description="Job statuses handled at once: one consumer per partition of provider.job-status.v1, up to this "
        "many (each meeting's statuses stay in order; more than the topic's partitions idle).",
    )
    retry_max_attempts: int = Field(6, ge=1, description="Attempts of a retryable failure before dead-lettering.")
    retry_base_delay_seconds: float = Field(0.5, gt=0, description="First backoff delay of the consumer.")
    retry_max_delay_seconds: float = Field(30.0, gt=0, description="Largest backoff delay of the consumer.")

    @field_validator("callback_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value)

    @field_validator("mail_from")
    @classmethod
    def _plain_sender(cls, value: str) -> str:
        # Every e-mail goes out from it, through any relay: one without SMTPUTF8 (RFC 6531) takes no other
        # MAIL FROM (and a recipient's Unicode local part is refused there, the sender's would stop them all).
        address = parseaddr(value)[1]
        if "\r" in value or "\n" in value or "@" not in address or not _plain_smtp(address):
            raise ValueError(
                "must be an e-mail address, after a display name if any, in plain ASCII "
                "(a relay without SMTPUTF8 must take it; a Unicode domain in its xn-- form)"
            )
        return value

    @field_validator("page_key")
    @classmethod
    def _page_key_long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value, empty=NO_LINKS)

    @field_validator("page_key_previous")
    @classmethod
    def _previous_page_key_long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value, empty=NO_PREVIOUS_KEY)

    @field_validator("page_base_url")
    @classmethod
    def _page_base_url(cls, value: str, info: ValidationInfo) -> str:
        return checked_base_url(value, info.data.get("page_key"))
