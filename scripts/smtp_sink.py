"""A real SMTP server for local development and tests that stores every message it receives.

Each accepted message becomes one ``<maildir>/<time>-<uuid>.eml`` file: the raw message bytes as the
client sent them, preceded by ``X-Envelope-From`` and ``X-Envelope-To`` headers (the SMTP envelope,
which can differ from the ``From``/``To`` headers). The file is written under ``<maildir>/tmp/`` and
then renamed, so a reader that globs ``<maildir>/*.eml`` never sees a partial message.

Environment (command-line flags win):
  ZS_SMTP_HOST           listen address (default 127.0.0.1)
  ZS_SMTP_PORT           listen port (default 2525)
  ZS_SMTP_MAILDIR        where messages go (default .cache/data/smtp/maildir under the repository)
  ZS_SMTP_AUTH_REQUIRED  when set to 1/true/yes, MAIL FROM is refused until the client authenticates.
  ZS_SMTP_USER, ZS_SMTP_PASSWORD
                         when both are set, AUTH accepts only these credentials; otherwise AUTH
                         (PLAIN or LOGIN) accepts any credentials.

No TLS: AUTH is offered over plain TCP, which is acceptable only because the server binds to loopback.

Run: ``python scripts/smtp_sink.py [--host H] [--port P] [--maildir DIR]``; stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAILDIR = ROOT / ".cache" / "data" / "smtp" / "maildir"
TRUTHY = frozenset({"1", "true", "yes", "on"})

log = logging.getLogger("smtp_sink")


def envelope_headers(mail_from: str | None, rcpt_tos: Sequence[str]) -> bytes:
    """The envelope as header lines to prepend to the raw message."""
    sender = mail_from or "<>"
    return f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n".encode()


def write_message(maildir: Path, data: bytes) -> Path:
    """Write one message atomically (tmp file, fsync, rename) and return its final path."""
    tmp_dir = maildir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
    tmp_path = tmp_dir / (name + ".tmp")
    with tmp_path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    final = maildir / name
    os.replace(tmp_path, final)
    return final


class MaildirHandler:
    """aiosmtpd handler: every DATA becomes one .eml file in ``maildir``."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        body = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        data = envelope_headers(envelope.mail_from, envelope.rcpt_tos) + body
        path = await asyncio.to_thread(write_message, self.maildir, data)
        log.info("stored message from %r to %r as %s", envelope.mail_from, envelope.rcpt_tos, path.name)
        return "250 2.0.0 Message accepted for delivery"


class Authenticator:
    """Accepts any credentials, or exactly ``user``/``password`` when both are configured."""

    def __init__(self, user: str | None, password: str | None) -> None:
        self.expected = (user.encode(), password.encode()) if user and password else None

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.expected is None or (auth_data.login, auth_data.password) == self.expected:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


def build_smtp(maildir: Path, env: Mapping[str, str]) -> SMTP:
    """One SMTP protocol instance (one per connection)."""
    auth_required = env.get("ZS_SMTP_AUTH_REQUIRED", "").strip().lower() in TRUTHY
    with warnings.catch_warnings():
        # aiosmtpd warns when AUTH is required without TLS; on loopback that is the intended setup.
        warnings.simplefilter("ignore")
        return SMTP(
            MaildirHandler(maildir),
            enable_SMTPUTF8=True,
            hostname="zoomsymbl-smtp-sink",
            auth_required=auth_required,
            auth_require_tls=False,
            authenticator=Authenticator(env.get("ZS_SMTP_USER"), env.get("ZS_SMTP_PASSWORD")),
            loop=asyncio.get_running_loop(),
        )


async def serve(host: str, port: int, maildir: Path, env: Mapping[str, str]) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: build_smtp(maildir, env), host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.warning("smtp sink listening on %s:%d, maildir %s", host, port, maildir)
    async with server:
        await stop.wait()
    log.warning("smtp sink stopped")


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SMTP server that stores messages as .eml files")
    parser.add_argument("--host", default=env.get("ZS_SMTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("ZS_SMTP_PORT", "2525")))
    parser.add_argument("--maildir", type=Path, default=Path(env.get("ZS_SMTP_MAILDIR", DEFAULT_MAILDIR)))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    env = dict(os.environ)
    args = parse_args(argv, env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
    maildir = args.maildir.resolve()
    maildir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, maildir, env))


if __name__ == "__main__":
    main()
