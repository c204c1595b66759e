"""No secret leaves the notifier in what it stores, logs or mails: an SMTP reply quoting the meeting page's
link, a failure reason carrying a presigned URL. Real SMTP server and MongoDB."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from zoomsymbl_common import logs
from zoomsymbl_common.logs import JsonFormatter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.mail import Envelope as MailEnvelope
from zoomsymbl_notifier.mail import compose
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.report import Report, failure_notice
from zoomsymbl_notifier.smtp import MailRejected, SmtpTransport, SmtpUnavailable

from tests.notifier.conftest import Notifier
from tests.notifier.harness import PAGE_KEY, make_settings, make_tenant
from tests.notifier.harness_smtp import SmtpSink

pytestmark = pytest.mark.integration

ENVELOPE = MailEnvelope("bot@zoomsymbl.test", ("host@example.com",))
MSG_ID = "<hygiene@zoomsymbl.test>"
SIGNED = "https://s3.example/mixed/k.flac?X-Amz-Credential=AKIA&X-Amz-Signature=abc0123456789def"


class QuotingSink(SmtpSink):
    """An SMTP server whose refusal quotes the message's link, as content filters do."""

    quoted: str = ""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        return f"{self.reject_code} 5.7.1 message refused: {self.quoted} is listed as suspicious"


@pytest.fixture
async def quoting_smtp() -> AsyncIterator[QuotingSink]:
    sink = QuotingSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture(params=["token registered", "after a restart"])
def page_token(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A meeting page's token; "after a restart" the redactor no longer knows it."""
    token = make_page_token(PAGE_KEY, "acme", f"m-hygiene-{request.param}")
    if request.param == "after a restart":
        monkeypatch.setattr(logs, "_ephemeral", {})
        monkeypatch.setattr(logs, "_expiries", [])
        monkeypatch.setattr(logs, "_by_prefix", {})
        assert token in logs.redact(token), "the redactor must not know the token in this case"
    return token


def _log_lines(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(JsonFormatter().format(record) for record in caplog.records)


@pytest.mark.parametrize("quoted", ["link", "link without its scheme"])
@pytest.mark.parametrize(("code", "outcome"), [(554, "rejected"), (451, "retry_later")])
async def test_an_smtp_reply_quoting_the_page_link_leaves_no_token_behind(
    mongo: Mongo,
    quoting_smtp: QuotingSink,
    page_token: str,
    caplog: pytest.LogCaptureFixture,
    code: int,
    outcome: str,
    quoted: str,
) -> None:
    link = page_url("https://pages.example.com", page_token)
    quoting_smtp.reject_code = code
    quoting_smtp.quoted = link if quoted == "link" else link.removeprefix("https://")
    transport = SmtpTransport(make_settings(InfraSettings(), quoting_smtp.port))
    raw = compose(Report("Meeting summary: Sync", f"Summary page: {link}\n", "<p>html</p>"), ENVELOPE, MSG_ID)
    outbox = Outbox(mongo, transport, Backoff(base=0.1, ceiling=0.2, lease=60))
    key = MailKey("acme", "m/hygiene==", 0, "report")

    with pytest.raises((MailRejected, SmtpUnavailable)) as caught:
        await transport.send(ENVELOPE.sender, ENVELOPE.recipients, raw)
    with caplog.at_level(logging.INFO, logger="zoomsymbl.notifier"):
        assert await outbox.send(key, ENVELOPE, MSG_ID, raw) == outcome

    doc = await mongo.db[EMAILS].find_one(key.query())
    assert doc is not None
    stored, logged = doc["last_error"], _log_lines(caplog)
    for where, text in (("exception", str(caught.value)), ("emails.last_error", stored), ("log line", logged)):
        assert page_token not in text and page_token[:16] not in text, where
    assert f"{code}" in stored and "pages.example.com" in stored, "the reason stays readable"
    assert "e-mail" in logged


def test_a_failure_notice_does_not_mail_a_presigned_url() -> None:
    facts = MeetingFacts(topic="Sync", host_email="host@example.com", speakers=())
    notice = failure_notice(facts, 0, f"gave up after 5 attempts: GET {SIGNED} timed out")
    for part in (notice.text, notice.html):
        assert "X-Amz-Signature" not in part and "abc0123456789def" not in part
    # Cut to its host, and defanged (the reason may quote outside text): no link in the e-mail.
    assert "Reason: gave up after 5 attempts: GET https[:]//s3[.]example/… timed out" in notice.text


async def test_a_meeting_failed_by_a_given_up_message_mails_and_logs_no_presigned_url(
    notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    await notifier.submitter.meeting("m-signed")
    job = await notifier.submitter.submit("m-signed", webhook_url="http://127.0.0.1:9/unused")
    reason = f"gave up after 5 attempts: RetryableError: GET {SIGNED} failed"

    with caplog.at_level(logging.INFO, logger="zoomsymbl.notifier"):
        await notifier.pipeline.fail_meeting(job, make_tenant(notifier.symbl.url), "retry", reason)

    [message] = notifier.smtp.messages
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "X-Amz-Signature" not in text and "https[:]//s3[.]example/…" in text
    assert "X-Amz-Signature" not in _log_lines(caplog)
    assert "X-Amz-Signature" not in (await notifier.meeting("m-signed"))["failure_reason"]
