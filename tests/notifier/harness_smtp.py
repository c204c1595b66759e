"""A real SMTP server for the notifier tests: aiosmtpd on a free loopback port in the test's event loop.

A test can stop it ("SMTP down") and start it again on the same port, make it refuse messages, require
AUTH, or speak STARTTLS / implicit TLS.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps every accepted message, parsed, in memory (and as received, with its
    MAIL FROM parameters). With ``smtputf8`` its EHLO offers SMTPUTF8 (RFC 6531); without, it refuses any
    command that is not ASCII ("500 Error: strict ASCII mode"), as a relay without it may. Without ``eight_bit_mime``
    its EHLO does not offer 8BITMIME (RFC 6152): it refuses ``BODY=8BITMIME`` ("555 MAIL FROM parameters not
    recognized") and, without SMTPUTF8, a message with an octet over 127 ("500 Error: strict ASCII mode")."""

    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)
    smtputf8: bool = False
    eight_bit_mime: bool = True
    reject_code: int | None = None
    credentials: tuple[str, str] | None = None
    starttls: ssl.SSLContext | None = None
    implicit_tls: ssl.SSLContext | None = None
    _server: asyncio.AbstractServer | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.reject_code is not None:
            return f"{self.reject_code} 5.7.1 refused by the test"
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        self.messages.append(email.message_from_bytes(data, policy=default))
        self.recipients.append(list(envelope.rcpt_tos))
        self.raws.append(data)
        self.mail_options.append(list(envelope.mail_options))
        return "250 2.0.0 accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.credentials
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS; on loopback in a test that is intended.
            warnings.simplefilter("ignore")
            return SMTP(
                self,
                hostname="notifier-test-smtp",
                tls_context=self.starttls,
                require_starttls=self.starttls is not None,
                auth_required=self.credentials is not None,
                auth_require_tls=False,
                authenticator=self._authenticate,
                enable_SMTPUTF8=self.smtputf8,
                decode_data=not self.eight_bit_mime,  # aiosmtpd offers 8BITMIME unless it decodes the data
                loop=asyncio.get_running_loop(),
            )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host="127.0.0.1", port=self.port, ssl=self.implicit_tls)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def with_subject(self, needle: str) -> list[EmailMessage]:
        return [m for m in self.messages if needle in str(m["Subject"])]
