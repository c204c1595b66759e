"""Outside text cannot add headers, split the header block or hide a link's host: rendered, composed, parsed back."""

from __future__ import annotations

import base64
import email
from email.message import EmailMessage
from email.policy import default

from pydantic import SecretStr
from zoomsymbl_common.providers.base import InsightItem, Insights
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.mail import Envelope, compose, envelope_for
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import failure_notice, meeting_report
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink

SENDER = "Zoomsymbl <bot@zoomsymbl.test>"
ENVELOPE = Envelope(SENDER, ("host@example.com",))
HEADERS = ["From", "To", "Subject", "Message-ID", "Date", "Auto-Submitted", "MIME-Version", "Content-Type"]


def _encoded_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


# A Zoom topic that is an RFC 2047 encoded word of "x", CR LF, and two headers.
FORGED_TOPIC = _encoded_word("x\r\nBcc: eve@evil.example\r\nReply-To: eve@evil.example")


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)


def _header_block(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_an_encoded_word_in_the_topic_adds_no_header_to_the_report_or_the_failure_notice() -> None:
    facts = MeetingFacts(topic=FORGED_TOPIC, host_email="host@example.com")
    for report in (meeting_report(Insights(), facts, 0, []), failure_notice(facts, 0, "boom")):
        raw = compose(report, ENVELOPE, "<id@zoomsymbl.test>")
        msg = _parse(raw)
        assert list(msg.keys()) == HEADERS, "no Bcc, no Reply-To"
        assert msg["Bcc"] is None and msg["Reply-To"] is None
        assert "eve@evil.example" not in msg["Subject"], "the topic is shown as written, not decoded"
        assert "?utf-8?b?" in msg["Subject"]
        assert not any(line.lower().startswith((b"bcc", b"reply-to")) for line in _header_block(raw))


def test_a_quoted_printable_encoded_word_in_the_topic_is_no_header_either() -> None:
    facts = MeetingFacts(topic="=?utf-8?q?Pay=0D=0AReply-To:_eve@evil.example?=")
    msg = _parse(compose(meeting_report(Insights(), facts, 0, []), ENVELOPE, "<id@zoomsymbl.test>"))
    assert msg["Reply-To"] is None and list(msg.keys()) == HEADERS


async def test_the_forged_topic_reaches_the_smtp_server_as_one_subject_and_no_reply_to(smtp: SmtpSink) -> None:
    raw = compose(meeting_report(Insights(), MeetingFacts(topic=FORGED_TOPIC), 0, []), ENVELOPE, "<t@zoomsymbl.test>")
    await SmtpTransport(make_settings(InfraSettings(), smtp.port)).send("bot@zoomsymbl.test", ENVELOPE.recipients, raw)
    [message] = smtp.messages
    assert message["Reply-To"] is None and message["Bcc"] is None
    assert message["Subject"].startswith("Meeting summary: ")
    assert smtp.recipients == [["host@example.com"]]


def test_long_extra_recipients_keep_the_header_block_whole() -> None:
    """Two addresses with a local part too long for a 78-character line (``valid_address`` takes up to 320
    characters) once made the email package write an empty line after the first: the header block ended there,
    and Subject, Message-ID and the MIME headers became body text."""
    long_ones = tuple(f"{c * 80}@example.com" for c in "abc")
    tenant = TenantConfig(id="acme", zoom_webhook_secret=SecretStr("whsec-acme"), extra_recipients=long_ones)
    envelope = envelope_for(SENDER, MeetingFacts(host_email="host@example.com"), tenant)
    assert envelope.cc == long_ones
    raw = compose(meeting_report(Insights(), MeetingFacts(topic="Sync"), 0, []), envelope, "<id@zoomsymbl.test>")
    names = [line.split(b":", 1)[0] for line in _header_block(raw) if not line.startswith(b" ")]
    assert names == [h.encode() for h in ("From", "To", "Cc", *HEADERS[2:])]
    msg = _parse(raw)
    assert msg["Subject"] == "Meeting summary: Sync"
    assert [a.addr_spec for a in msg["Cc"].addresses] == list(long_ones)
    assert [p.get_content_type() for p in msg.walk()][:4] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html"
    ]  # fmt: skip
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_a_summary_url_whose_host_is_not_what_it_reads_is_neither_link_nor_text() -> None:
    tricks = [
        "https://meetinginsights.symbl.ai@evil.example/login",  # the host is evil.example
        "https://meetinginsights.symbl.ai:x@evil.example/login",
        "https://meetinginsights.symbl.ai\\@evil.example/login",  # a browser reads \ as /
        "https://meetinginsights.symbl.\u0430i/login",  # Cyrillic a
    ]
    good = "https://meetinginsights.symbl.ai/meeting/#/eyJzZXNzaW9uSWQiOiIxIn0="
    report = meeting_report(Insights(action_items=(InsightItem("Ship it"),)), MeetingFacts(), 0, [*tricks, good])
    msg = _parse(compose(report, ENVELOPE, "<id@zoomsymbl.test>"))
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    assert "evil.example" not in plain.get_content() and "evil.example" not in html.get_content()
    assert "symbl.\u0430i" not in plain.get_content() and "symbl.\u0430i" not in html.get_content()
    assert [line for line in plain.get_content().splitlines() if "Summary page" in line] == [f"Summary page: {good}"]
    assert html.get_content().count('<a href="https://meetinginsights.symbl.ai/') == 1
