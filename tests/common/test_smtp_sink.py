"""scripts/smtp_sink.py as a real process: messages sent with smtplib come back as .eml files."""

from __future__ import annotations

import email
import email.policy
import os
import smtplib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.eventually import eventually_sync

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smtp_sink.py"

Sink = Callable[..., int]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"smtp_sink exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    eventually_sync(listening, timeout=timeout, what=f"smtp_sink to listen on {port}")


@pytest.fixture
def start_sink(tmp_path: Path) -> Iterator[Sink]:
    """Start smtp_sink on a free port with extra environment; returns the port. Stopped with SIGTERM."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> int:
        port = free_port()
        cmd = [sys.executable, str(SCRIPT), "--port", str(port), "--maildir", str(tmp_path / "maildir")]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ZS_SMTP_")}
        proc = subprocess.Popen(cmd, env={**clean, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        wait_listening(port, proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
        assert proc.returncode == 0, stderr.decode()  # SIGTERM is a clean stop


def stored(maildir: Path) -> list[Path]:
    return sorted(maildir.glob("*.eml"))


def a_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Zoomsymbl <noreply@zoomsymbl.test>"
    msg["To"] = "Elisa Lindqvist <elisa@example.com>"
    msg["Subject"] = "Insights for “Weekly sync” — ready"
    msg.set_content("Summary: we agreed on the plan.\nAction items: 2\n")
    return msg


def test_a_message_is_stored_with_its_envelope(start_sink: Sink, tmp_path: Path) -> None:
    port = start_sink()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250
        assert smtp.has_extn("auth")
        smtp.login("anyone", "anything")  # accepted when ZS_SMTP_AUTH_REQUIRED is unset
        smtp.send_message(a_message(), from_addr="bounces@zoomsymbl.test", to_addrs=["elisa@example.com", "cc@x.test"])

    (path,) = stored(tmp_path / "maildir")
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["X-Envelope-From"] == "bounces@zoomsymbl.test"
    assert parsed["X-Envelope-To"] == "elisa@example.com, cc@x.test"
    assert parsed["To"] == "Elisa Lindqvist <elisa@example.com>"
    assert parsed["Subject"] == "Insights for “Weekly sync” — ready"
    body = parsed.get_body()
    assert body is not None
    assert "we agreed on the plan" in body.get_content()
    assert list((tmp_path / "maildir" / "tmp").iterdir()) == []  # nothing half-written left behind


def test_each_message_gets_its_own_file(start_sink: Sink, tmp_path: Path) -> None:
    port = start_sink()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for _ in range(3):
            smtp.send_message(a_message())
    assert len(stored(tmp_path / "maildir")) == 3


def test_required_auth_refuses_anonymous_and_wrong_credentials(start_sink: Sink, tmp_path: Path) -> None:
    port = start_sink(ZS_SMTP_AUTH_REQUIRED="1", ZS_SMTP_USER="mailer", ZS_SMTP_PASSWORD="s3cret")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp, pytest.raises(smtplib.SMTPSenderRefused):
        smtp.send_message(a_message())
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp, pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login("mailer", "wrong")
    assert stored(tmp_path / "maildir") == []
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.login("mailer", "s3cret")
        smtp.send_message(a_message())
    assert len(stored(tmp_path / "maildir")) == 1
