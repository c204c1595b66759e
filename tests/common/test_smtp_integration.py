"""An e-mail sent over SMTP to the local server is read back from its maildir."""

from __future__ import annotations

import asyncio
import email
import smtplib
import uuid
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from tests.conftest import maildir
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration


def _send(message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", 2525, timeout=10) as smtp:
        smtp.send_message(message)


async def test_email_sent_over_smtp_is_read_back() -> None:
    marker = uuid.uuid4().hex
    message = EmailMessage()
    message["From"] = "zoomsymbl@example.test"
    message["To"] = "host@example.test"
    message["Subject"] = f"Insights: Zoë's sync {marker}"
    message["Message-ID"] = f"<{marker}@zoomsymbl.test>"
    message.set_content("Summary: all good.")
    await asyncio.to_thread(_send, message)

    async def delivered() -> list[Path]:
        return [p for p in Path(maildir()).glob("*.eml") if marker in p.read_text(errors="replace")]

    found = await eventually(delivered, timeout=10, what=f"the e-mail {marker} in the maildir")
    assert len(found) == 1
    parsed = email.message_from_bytes(found[0].read_bytes(), policy=default)
    assert parsed["Subject"] == f"Insights: Zoë's sync {marker}"
    assert parsed["Message-ID"] == f"<{marker}@zoomsymbl.test>"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "all good" in body.get_content()
