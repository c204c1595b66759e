"""How every Kafka client of zoomsymbl authenticates and encrypts: one place, two shapes.

:func:`client_options` gives the keyword arguments of aiokafka's clients (producer, consumer,
admin); :func:`broker_security` gives the same as FastStream's ``security=``. Both come from the
``ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL`` family of :class:`~zoomsymbl_common.settings.InfraSettings`
(docs/kafka-security.md); with the default ``PLAINTEXT`` both are empty.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import TypedDict

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.settings import InfraSettings, env_name, file_setting_error


class KafkaSecurityRefused(KafkaUnavailable):
    """Kafka refused our TLS or SASL settings; the message names the variables to check, never a password."""


class KafkaClientOptions(TypedDict, total=False):
    """The security keyword arguments of ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``."""

    security_protocol: str
    ssl_context: ssl.SSLContext
    sasl_mechanism: str
    sasl_plain_username: str
    sasl_plain_password: str


def ssl_context(infra: InfraSettings) -> ssl.SSLContext | None:
    """The TLS context for the brokers (None for ``PLAINTEXT``); unreadable files raise :class:`ConfigError`.

    The broker's certificate is always verified (against ``ZOOMSYMBL_KAFKA_SSL_CA_FILE`` or the system
    CAs); only the host name check can be turned off, for brokers whose certificates name another host.
    """
    if infra.kafka_security_protocol == "PLAINTEXT":
        return None
    ca_file = infra.kafka_ssl_ca_file or None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise file_setting_error({"kafka_ssl_ca_file": infra.kafka_ssl_ca_file}, exc) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = infra.kafka_ssl_check_hostname
    if infra.kafka_ssl_cert_file:
        try:
            context.load_cert_chain(infra.kafka_ssl_cert_file, infra.kafka_ssl_key_file or None)
        except (OSError, ssl.SSLError) as exc:
            files = {"kafka_ssl_cert_file": infra.kafka_ssl_cert_file, "kafka_ssl_key_file": infra.kafka_ssl_key_file}
            raise file_setting_error(files, exc) from None
    return context


def client_options(infra: InfraSettings) -> KafkaClientOptions:
    """Keyword arguments of an aiokafka client: ``AIOKafkaConsumer(..., **client_options(infra))``."""
    protocol = infra.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    context = ssl_context(infra)
    assert context is not None  # every protocol but PLAINTEXT uses TLS
    options: KafkaClientOptions = {"security_protocol": protocol, "ssl_context": context}
    if protocol == "SASL_SSL":
        options["sasl_mechanism"] = infra.kafka_sasl_mechanism
        options["sasl_plain_username"] = infra.kafka_sasl_username
        options["sasl_plain_password"] = infra.kafka_sasl_password.get_secret_value()
    return options


def broker_security(infra: InfraSettings) -> BaseSecurity | None:
    """The same settings as FastStream's ``KafkaBroker(security=...)`` (None for ``PLAINTEXT``)."""
    protocol = infra.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(infra)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    scram = SASLScram512 if infra.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return scram(
        infra.kafka_sasl_username, infra.kafka_sasl_password.get_secret_value(), ssl_context=context, use_ssl=True
    )


async def check_connection(infra: InfraSettings, *, timeout: float = 5.0) -> None:
    """Open one connection, TLS handshake and SASL login included, to the first bootstrap server that answers.

    aiokafka's clients only say "Unable to bootstrap" whatever went wrong; this says why. Raises
    :class:`KafkaSecurityRefused` when the broker refuses the TLS or SASL settings (the message names
    the variables to check) and :class:`KafkaUnavailable` when no server answers within ``timeout``.
    """
    options = client_options(infra)
    servers = [s.strip() for s in infra.kafka_bootstrap.split(",") if s.strip()]
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(timeout):
                conn = await create_conn(
                    host or "localhost", int(port), request_timeout_ms=int(timeout * 1000), **options
                )
        except (OSError, TimeoutError, ValueError, KafkaConnectionError, SaslAuthenticationFailed) as exc:
            if (refusal := explain_refusal(infra, server, exc)) is not None:
                raise KafkaSecurityRefused(refusal) from None
            continue
        except UnsupportedSaslMechanismError:
            mechanism = env_name(InfraSettings, "kafka_sasl_mechanism")
            detail = f"{server} does not offer {mechanism}={infra.kafka_sasl_mechanism!r}"
            raise KafkaSecurityRefused(detail) from None
        conn.close()
        return
    raise KafkaUnavailable(f"no bootstrap server answered among {servers!r}")


def explain_refusal(infra: InfraSettings, server: str, exc: BaseException) -> str | None:
    """Why ``server`` refused a connection with these settings, naming the variables; None = just unreachable."""
    name = functools.partial(env_name, InfraSettings)
    protocol = infra.kafka_security_protocol
    cause = exc.__cause__
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"{server} refused the SASL login of {name('kafka_sasl_username')}={infra.kafka_sasl_username!r} with "
            f"{infra.kafka_sasl_mechanism} (check {name('kafka_sasl_password')} and {name('kafka_sasl_mechanism')})"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = infra.kafka_ssl_ca_file or "the system CAs"
        return (
            f"TLS: the certificate of {server} is not trusted ({exc.verify_message}); check "
            f"{name('kafka_ssl_ca_file')} (now {ca!r}) and {name('kafka_ssl_check_hostname')}"
        )
    if isinstance(cause, ssl.SSLError) or isinstance(exc, ssl.SSLError):
        reason = getattr(cause if isinstance(cause, ssl.SSLError) else exc, "reason", None) or "handshake failed"
        return (
            f"TLS: {server} refused the handshake ({reason}); it may want a client certificate ("
            f"{name('kafka_ssl_cert_file')}, {name('kafka_ssl_key_file')}) or another {name('kafka_security_protocol')}"
        )
    hung_up = isinstance(exc, ConnectionResetError) or isinstance(cause, asyncio.IncompleteReadError)
    if hung_up:
        return (
            f"{server} hung up on our {protocol} client: does its listener speak "
            f"{name('kafka_security_protocol')}={protocol!r}?"
        )
    return None
