"""Typed settings shared by every service.

Each service defines its own ``Settings`` with its own env prefix (``ZOOMSYMBL_<SERVICE>_``) and
embeds :class:`InfraSettings` (prefix ``ZOOMSYMBL_``) for the servers all services share.
:func:`load_settings` turns a validation failure into a :class:`ConfigError` naming the variables.
"""

from __future__ import annotations

import functools
import re
import ssl
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import register_secret, register_uri_password

S = TypeVar("S", bound=BaseSettings)
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET_CHARACTERS = re.compile(r"[a-z0-9.-]*")
_IP_ADDRESS_FORM = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


class InfraSettings(BaseSettings):
    """Connection settings for Kafka, MongoDB, S3 and telemetry (env prefix ``ZOOMSYMBL_``)."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers, comma-separated.")
    kafka_topic_prefix: str = Field("", description="Prefix prepended to every topic name (tests, shared clusters).")
    kafka_request_timeout_ms: int = Field(2000, ge=100, description="Publish/metadata timeout in milliseconds.")
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT",
        description="PLAINTEXT, SSL (TLS) or SASL_SSL (SCRAM over TLS); SASL_PLAINTEXT is refused.",
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field("SCRAM-SHA-512", description="SCRAM mechanism of SASL_SSL.")
    kafka_sasl_username: str = Field("", description="SCRAM user (SASL_SSL only).")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SCRAM password (SASL_SSL only).")
    kafka_ssl_ca_file: str = Field("", description="PEM file of the CAs trusted for the brokers; empty = system CAs.")
    kafka_ssl_cert_file: str = Field("", description="PEM client certificate (chain) for mutual TLS; empty = none.")
    kafka_ssl_key_file: str = Field("", description="PEM private key (unencrypted) of the client certificate.")
    kafka_ssl_check_hostname: bool = Field(True, description="Check that the broker's certificate names its host.")
    mongo_uri: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27117/"),
        description="MongoDB connection string (may hold credentials).",
    )
    mongo_database: str = Field("zoomsymbl", description="MongoDB database name.")
    mongo_timeout_ms: int = Field(2000, ge=100, description="Server selection and socket timeout in milliseconds.")
    mongo_ca_file: str = Field(
        "", description="PEM file of the CAs trusted for MongoDB over TLS (implies TLS); empty = system CAs."
    )
    s3_endpoint: str = Field("127.0.0.1:7070", description="S3 endpoint host:port (no scheme).")
    s3_access_key: SecretStr = Field(SecretStr("zoomsymbl"), description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr("zoomsymbl-local-secret"), description="S3 secret key.")
    s3_secure: bool = Field(False, description="Use HTTPS for S3.")
    s3_ca_file: str = Field("", description="PEM file of the CAs trusted for S3 over HTTPS; empty = system CAs.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_bucket: str = Field(
        "zoomsymbl",
        description="Bucket for raw tracks and mixed files (S3's bucket naming rules, checked at start-up).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    @field_validator("s3_bucket")
    @classmethod
    def _s3_bucket_name(cls, value: str) -> str:
        # Refused here, not at the first S3 call deep in a handler or an operator command.
        problem = bucket_name_problem(value)
        if problem:
            shown = value if len(value) <= 80 else value[:80] + "..."
            raise ConfigError(
                f"{env_name(cls, 's3_bucket')}={shown!r} is not an S3 bucket name: {problem}",
                variables=(env_name(cls, "s3_bucket"),),
            )
        return value

    @field_validator("kafka_security_protocol", mode="before")
    @classmethod
    def _known_protocol(cls, value: object) -> object:
        # Raised as ConfigError, not ValueError: pydantic would otherwise print the input back.
        text = value.strip().upper() if isinstance(value, str) else value
        if text == "SASL_PLAINTEXT":
            raise ConfigError(
                f"{env_name(cls, 'kafka_security_protocol')}='SASL_PLAINTEXT' is refused: it sends every event "
                "and the SCRAM exchange unencrypted; use SASL_SSL",
                variables=(env_name(cls, "kafka_security_protocol"),),
            )
        return text

    def model_post_init(self, context: Any, /) -> None:
        """Hand every password to the log redactor as soon as it is read, then check the TLS and Kafka security sets."""
        register_uri_password(self.mongo_uri.get_secret_value())
        register_secret(self.s3_secret_key.get_secret_value())
        register_secret(self.kafka_sasl_password.get_secret_value())
        self._check_ca_files()
        problems = kafka_security_problems(self)
        if problems:
            names = tuple(sorted({name for _, names in problems for name in names}))
            raise ConfigError("invalid Kafka security settings: " + "; ".join(m for m, _ in problems), variables=names)

    def _check_ca_files(self) -> None:
        """A CA file must load, and S3's needs HTTPS: checked at start-up, not at the first call."""
        if self.s3_ca_file and not self.s3_secure:
            ca, secure = env_name(type(self), "s3_ca_file"), env_name(type(self), "s3_secure")
            raise ConfigError(f"{ca} set but {secure}=false uses no TLS (set it to true)", variables=(ca, secure))
        for field in ("s3_ca_file", "mongo_ca_file"):
            path = getattr(self, field)
            if not path:
                continue
            try:
                ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise file_setting_error({field: path}, exc) from None


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an S3 bucket's (S3's naming rules for general purpose buckets), or None.

    Also refused: ``.-`` and ``-.``, which minio-py refuses before every request.
    """
    if not 3 <= len(name) <= 63:
        return f"it must be 3 to 63 characters long, not {len(name)}"
    if not _BUCKET_CHARACTERS.fullmatch(name):
        return "it may hold only lower-case letters, digits, '.' and '-'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or a digit"
    for pair in ("..", ".-", "-."):
        if pair in name:
            return f"it must not contain {pair!r}"
    if _IP_ADDRESS_FORM.fullmatch(name):
        return "it must not be formatted as an IP address"
    for prefix in BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"the prefix {prefix!r} is reserved"
    for suffix in BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"the suffix {suffix!r} is reserved"
    return None


def kafka_security_problems(infra: InfraSettings) -> list[tuple[str, tuple[str, ...]]]:
    """Incomplete or contradictory Kafka security settings: (message, variables) each; never a value of a secret."""
    name = functools.partial(env_name, type(infra))
    protocol = infra.kafka_security_protocol
    problems: list[tuple[str, tuple[str, ...]]] = []
    sasl: dict[str, str | SecretStr] = {
        "kafka_sasl_username": infra.kafka_sasl_username,
        "kafka_sasl_password": infra.kafka_sasl_password,
    }
    set_sasl = [name(field) for field, value in sasl.items() if _is_set(value)]
    if protocol == "SASL_SSL":
        missing = tuple(name(field) for field, value in sasl.items() if not _is_set(value))
        if missing:
            problems.append((f"{name('kafka_security_protocol')}=SASL_SSL needs {' and '.join(missing)}", missing))
    elif set_sasl:
        problems.append(
            (
                f"{' and '.join(set_sasl)} set but {name('kafka_security_protocol')}={protocol!r} does not use them "
                "(set it to SASL_SSL)",
                (*set_sasl, name("kafka_security_protocol")),
            )
        )
    tls = ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file")
    set_tls = [name(field) for field in tls if getattr(infra, field)]
    if protocol == "PLAINTEXT" and set_tls:
        problems.append(
            (
                f"{' and '.join(set_tls)} set but {name('kafka_security_protocol')}='PLAINTEXT' uses no TLS "
                "(set it to SSL or SASL_SSL)",
                (*set_tls, name("kafka_security_protocol")),
            )
        )
    if bool(infra.kafka_ssl_cert_file) != bool(infra.kafka_ssl_key_file):
        pair = (name("kafka_ssl_cert_file"), name("kafka_ssl_key_file"))
        problems.append((f"mutual TLS needs both {pair[0]} and {pair[1]}", pair))
    return problems


def file_setting_error(files: dict[str, str], exc: OSError) -> ConfigError:
    """The error of a file setting that cannot be used: the variables and paths, never the file's content."""
    # An ssl error's text says what is wrong with a file, never what it holds.
    names = tuple(env_name(InfraSettings, field) for field in files)
    shown = ", ".join(f"{env_name(InfraSettings, field)}={path!r}" for field, path in files.items())
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ConfigError(f"cannot use {shown}: {reason}", variables=names)


def _is_set(value: str | SecretStr) -> bool:
    return bool(value.get_secret_value() if isinstance(value, SecretStr) else value.strip())


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
