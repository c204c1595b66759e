"""Settings of the web service (env prefix ``ZOOMSYMBL_WEB_``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.page_tokens import NO_PREVIOUS_KEY
from zoomsymbl_common.service import ServiceSettings
from zoomsymbl_common.signed_tokens import checked_key


class Settings(ServiceSettings):
    """Everything the web service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_WEB_", extra="ignore", frozen=True)

    http_port: int = Field(8085, ge=1, le=65535, description="Port of the meeting page, /healthz, /readyz, /metrics.")
    shutdown_timeout_seconds: float = Field(10.0, gt=0, description="Grace period for requests in flight on SIGTERM.")

    page_key: SecretStr = Field(description="HMAC key of the page tokens (the notifier's page key, same Secret).")
    page_key_previous: SecretStr = Field(
        SecretStr(""),
        description="The page key before the current one, while it is being replaced: links signed with it still open "
        "their pages; empty = none.",
    )
    audio_url_seconds: int = Field(
        900, ge=60, le=43_200, description="Lifetime of the presigned audio URL a page hands out, in seconds."
    )
    audio_public_url: str = Field(
        "",
        description="Base URL browsers reach S3 at (https://s3.example.com): the page hands out presigned audio URLs "
        "for it; empty = the page streams the audio itself (/m/{token}/audio, range requests).",
    )
    link_renewal_origin: str = Field(
        "",
        description="Origin of the notifier's /links/renew (https://zoomsymbl.example.com), where the page of an "
        "expired link posts its request for a new one; empty = the page's own origin (the chart's ingress routes "
        "/links/ to the notifier).",
    )
    max_messages: int = Field(50_000, ge=1, description="Most transcript lines a page shows (the downloads hold all).")
    page_cache_size: int = Field(
        8, ge=0, le=256, description="Completed meetings whose page data stays in memory (0 = none; ~10 MB for 4 h)."
    )

    @field_validator("page_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value)

    @field_validator("page_key_previous")
    @classmethod
    def _empty_or_long_enough(cls, value: SecretStr) -> SecretStr:
        return checked_key(value, empty=NO_PREVIOUS_KEY)

    @field_validator("audio_public_url", "link_renewal_origin")
    @classmethod
    def _http_origin(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ValueError("must be an http(s) origin such as https://s3.example.com")
        if "@" in parts.netloc:  # it goes into pages' CSP headers: a user:password would be published
            raise ValueError("must not hold credentials (user:password@): it is published in the pages' headers")
        return f"{parts.scheme}://{parts.netloc}"
