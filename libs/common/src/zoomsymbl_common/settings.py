"""Typed settings shared by every service.

Each service defines its own ``Settings`` with its own env prefix (``ZOOMSYMBL_<SERVICE>_``) and
embeds :class:`InfraSettings` (prefix ``ZOOMSYMBL_``) for the servers all services share.
:func:`load_settings` turns a validation failure into a :class:`ConfigError` naming the variables.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import register_secret, register_uri_password

S = TypeVar("S", bound=BaseSettings)


class InfraSettings(BaseSettings):
    """Connection settings for Kafka, MongoDB, S3 and telemetry (env prefix ``ZOOMSYMBL_``)."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers, comma-separated.")
    kafka_topic_prefix: str = Field("", description="Prefix prepended to every topic name (tests, shared clusters).")
    kafka_request_timeout_ms: int = Field(2000, ge=100, description="Publish/metadata timeout in milliseconds.")
    mongo_uri: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27117/"),
        description="MongoDB connection string (may hold credentials).",
    )
    mongo_database: str = Field("zoomsymbl", description="MongoDB database name.")
    mongo_timeout_ms: int = Field(2000, ge=100, description="Server selection and socket timeout in milliseconds.")
    s3_endpoint: str = Field("127.0.0.1:7070", description="S3 endpoint host:port (no scheme).")
    s3_access_key: SecretStr = Field(SecretStr("zoomsymbl"), description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr("zoomsymbl-local-secret"), description="S3 secret key.")
    s3_secure: bool = Field(False, description="Use HTTPS for S3.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_bucket: str = Field("zoomsymbl", description="Bucket for raw tracks and mixed files.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    def model_post_init(self, context: Any, /) -> None:
        """Hand the MongoDB password and the S3 secret key to the log redactor as soon as they are read."""
        register_uri_password(self.mongo_uri.get_secret_value())
        register_secret(self.s3_secret_key.get_secret_value())


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of ``settings_cls``."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def load_settings(settings_cls: type[S]) -> S:
    """Build ``settings_cls`` from the environment, or raise :class:`ConfigError` naming the variables."""
    try:
        return settings_cls()
    except ValidationError as exc:
        names: list[str] = []
        problems: list[str] = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            name = env_name(settings_cls, field)
            names.append(name)
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems), variables=tuple(names)) from None
