"""MIME composition and delivery over a real SMTP server (plain, STARTTLS, implicit TLS, AUTH)."""

from __future__ import annotations

import email
import logging
import ssl
import subprocess
import uuid
from email.policy import default
from pathlib import Path

import pytest
from pydantic import SecretStr
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.mail import Envelope, compose, envelope_for, mail_domain, message_id, valid_address
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.report import Report, meeting_report
from zoomsymbl_notifier.smtp import MailRejected, SmtpTransport, SmtpUnavailable

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink, free_port

REPORT = Report("Meeting summary: Sync", "plain body\n", "<p>html body</p>", "[0:00:01] Ann: hi\n")
ENVELOPE = Envelope("Zoomsymbl <bot@zoomsymbl.test>", ("host@example.com",), ("archive@example.com",))


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=default)


def test_message_has_text_html_and_the_transcript_attached() -> None:
    msg = _parse(compose(REPORT, ENVELOPE, "<id-1@zoomsymbl.test>"))
    assert msg.get_content_type() == "multipart/mixed"
    assert [part.get_content_type() for part in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain"
    ], "no chart, no image part"  # fmt: skip
    assert msg["Message-ID"] == "<id-1@zoomsymbl.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert (msg["To"], msg["Cc"]) == ("host@example.com", "archive@example.com")
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and plain.get_content().splitlines() == ["plain body"]
    assert html is not None and "<p>html body</p>" in html.get_content()
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["transcript.txt"]
    assert attachments[0].get_content().splitlines() == ["[0:00:01] Ann: hi"]


def test_the_report_links_the_page_in_both_parts_and_shows_the_chart_inline_in_the_html() -> None:
    link = "https://zoomsymbl.example.com/m/abc.def"
    facts = MeetingFacts(topic="Sync", speakers=(Speaker(1, "Ann", 90.0), Speaker(2, "Ben", 30.0)))
    report = meeting_report(Insights(), facts, 0, [], link)
    assert report.chart is not None
    msg = _parse(compose(report, ENVELOPE, "<id-2@zoomsymbl.test>"))
    assert [part.get_content_type() for part in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png",
        "text/plain",
    ]  # fmt: skip
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and f"See and hear the meeting: {link}" in plain.get_content()
    assert html is not None and f'<a href="{link}">See and hear the meeting</a>' in html.get_content()
    [image] = [part for part in msg.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{report.chart.cid}>"
    assert f'src="cid:{report.chart.cid}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == report.chart.png
    assert [a.get_filename() for a in msg.iter_attachments()] == ["transcript.txt"], "the chart is no attachment"


def test_non_ascii_subject_and_names_survive_the_trip() -> None:
    report = Report("Meeting summary: Zoë's Überblick ✓", "Grüße\n", "<p>Grüße</p>")
    msg = _parse(compose(report, ENVELOPE, "<x@y>"))
    assert msg["Subject"] == "Meeting summary: Zoë's Überblick ✓"
    assert list(msg.iter_attachments()) == []


def test_message_id_is_deterministic_per_meeting_generation_and_kind() -> None:
    first = message_id("acme", "m/1==", 0, "report", "zoomsymbl.test")
    assert first == message_id("acme", "m/1==", 0, "report", "zoomsymbl.test")
    assert first.startswith("<") and first.endswith("@zoomsymbl.test>")
    others = {
        message_id("acme", "m/1==", 1, "report", "zoomsymbl.test"),
        message_id("acme", "m/1==", 0, "failure", "zoomsymbl.test"),
        message_id("other", "m/1==", 0, "report", "zoomsymbl.test"),
    }
    assert first not in others and len(others) == 3


def test_addresses_that_could_inject_headers_or_recipients_are_refused() -> None:
    assert valid_address("host@example.com") == "host@example.com"
    for bad in ("", "no-at-sign", "a@b.com\r\nBcc: x@y.com", "a@b.com, c@d.com", "<a@b.com>", "Name <a@b.com>"):
        assert valid_address(bad) is None, bad


UNPARSABLE = ("x@y.com@evil.com", "a@@b.com", "@b.com", "a@", "a.@b.com", "a@b c.com")


def test_an_address_the_email_package_cannot_parse_is_none_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    typo = f"x@y.com@{uuid.uuid4().hex}.com"  # its own: addresses are logged once per process
    with caplog.at_level(logging.WARNING, logger="zoomsymbl.notifier.mail"):
        for _ in range(3):
            for bad in (*UNPARSABLE, typo):
                assert valid_address(bad) is None, bad
    logged = [r.__dict__.get("address") for r in caplog.records if r.getMessage() == "invalid e-mail address left out"]
    assert logged.count(typo) == 1


def test_an_internationalised_domain_is_idna_encoded() -> None:
    """A Unicode domain travels as its ``xn--`` form (any relay takes it, SMTPUTF8 or not), or not at all; a Unicode
    local part is kept (``tests/notifier/test_mail_smtputf8.py``)."""
    assert valid_address("joe@exämple.com") == "joe@xn--exmple-cua.com"
    assert valid_address(" joe@EXÄMPLE.com ") == "joe@xn--exmple-cua.com"
    assert valid_address("ann@☃.net") == "ann@xn--n3h.net"
    assert valid_address("joe@xn--exmple-cua.com") == "joe@xn--exmple-cua.com"
    assert valid_address("jöe@exämple.com") == "jöe@xn--exmple-cua.com"
    refused = (
        "joe@straße.de",  # IDNA 2003 would send it to strasse.de, another domain
        "joe@ｅｘäｍｐｌｅ.com",  # full-width letters: IDNA would map them to other ones
        f"joe@{'ä' * 64}.com",  # a label IDNA refuses (too long)
        "joe@exämple..com",  # an empty label
    )
    for bad in refused:
        assert valid_address(bad) is None, bad


def test_an_address_with_hidden_characters_is_refused_not_altered() -> None:
    """The email package reads ``a@b.com`` U+2028 ``x`` as ``a@b.comx``; IDNA drops a soft hyphen: neither may pass."""
    hidden = (
        "a@b.com\u2028x",  # line separator
        "a@b.com\u2029x",  # paragraph separator
        "a@b.com\u0085x",  # next line
        "a@exa\u00admple.com",  # soft hyphen (IDNA would read example.com)
        "a@ex\u200bämple.com",  # zero-width space
        "a@b.c\u202eom",  # right-to-left override
        "a@b.com\x0b",  # vertical tab, at the end
        "a@b.com\t",
        "a\x1b@b.com",
        "a@b.com\u00a0",  # no-break space
    )
    for bad in hidden:
        assert valid_address(bad) is None, repr(bad)


def test_one_typo_among_extra_recipients_costs_only_that_address() -> None:
    tenant = TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr("whsec-acme"),
        extra_recipients=("x@y.com@evil.com", "archive@example.com"),
    )
    envelope = envelope_for("Zoomsymbl <bot@zoomsymbl.test>", MeetingFacts(host_email="host@example.com"), tenant)
    assert (envelope.to, envelope.cc) == (("host@example.com",), ("archive@example.com",))
    without_host = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="a@b.com@c.com"), tenant)
    assert (without_host.to, without_host.cc) == (("archive@example.com",), ())


def test_a_host_outside_the_tenants_recipient_domains_gets_nothing() -> None:
    """A forged event's host address (issue 18, item 5): only the tenant's own domains are mailed."""
    tenant = TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr("whsec-acme"),
        extra_recipients=("archive@example.com",),
        recipient_domains=("example.com", "@Corp.example"),
    )
    inside = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="host@corp.example"), tenant)
    assert inside.to == ("host@corp.example",)
    forged = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="thief@evil.test"), tenant)
    assert (forged.to, forged.cc) == (("archive@example.com",), ())
    lookalike = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="x@notexample.com"), tenant)
    assert lookalike.to == ("archive@example.com",)


@pytest.mark.parametrize("listed", ["exämple.de", "xn--exmple-cua.de", "@EXÄMPLE.de"])
def test_an_internationalised_host_domain_matches_its_listing_in_either_form(listed: str) -> None:
    """The host's address arrives IDNA-encoded (valid_address); the tenant may list its domain in Unicode."""
    tenant = TenantConfig(id="acme", zoom_webhook_secret=SecretStr("whsec-acme"), recipient_domains=(listed,))
    inside = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="host@exämple.de"), tenant)
    assert inside.to == ("host@xn--exmple-cua.de",)
    outside = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email="host@example.de"), tenant)
    assert outside.to == ()


def test_envelope_sender_drops_the_display_name() -> None:
    assert ENVELOPE.envelope_sender == "bot@zoomsymbl.test"
    assert mail_domain("Zoomsymbl <bot@zoomsymbl.test>") == "zoomsymbl.test"
    assert mail_domain("nonsense") == "zoomsymbl.invalid"


def _transport(port: int, **overrides: object) -> SmtpTransport:
    return SmtpTransport(make_settings(InfraSettings(), port, **overrides))


async def _send(transport: SmtpTransport) -> None:
    await transport.send("bot@zoomsymbl.test", ENVELOPE.recipients, compose(REPORT, ENVELOPE, "<t@zoomsymbl.test>"))


async def test_a_message_reaches_the_server_with_every_recipient(smtp: SmtpSink) -> None:
    await _send(_transport(smtp.port))
    assert [m["Message-ID"] for m in smtp.messages] == ["<t@zoomsymbl.test>"]
    assert smtp.recipients == [["host@example.com", "archive@example.com"]]


async def test_server_down_is_retryable() -> None:
    with pytest.raises(SmtpUnavailable):
        await _send(_transport(free_port()))


@pytest.mark.parametrize(("code", "error"), [(550, MailRejected), (554, MailRejected), (451, SmtpUnavailable)])
async def test_permanent_refusal_stops_and_temporary_refusal_retries(
    smtp: SmtpSink, code: int, error: type[Exception]
) -> None:
    smtp.reject_code = code
    with pytest.raises(error):
        await _send(_transport(smtp.port))


async def test_auth_with_the_configured_credentials() -> None:
    sink = SmtpSink(credentials=("mailer", "s3cret-password"))
    await sink.start()
    try:
        with pytest.raises(SmtpUnavailable):
            await _send(_transport(sink.port))  # the server requires AUTH
        with pytest.raises(SmtpUnavailable):
            await _send(_transport(sink.port, smtp_username="mailer", smtp_password=SecretStr("wrong-password")))
        await _send(_transport(sink.port, smtp_username="mailer", smtp_password=SecretStr("s3cret-password")))
    finally:
        await sink.stop()
    assert len(sink.messages) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_modes_verify_the_server_certificate(certificate: tuple[Path, Path], security: str) -> None:
    context = _server_context(certificate)
    sink = SmtpSink(starttls=context) if security == "starttls" else SmtpSink(implicit_tls=context)
    await sink.start()
    try:
        with pytest.raises(SmtpUnavailable):
            await _send(_transport(sink.port, smtp_security=security))  # not signed by a trusted CA
        await _send(_transport(sink.port, smtp_security=security, smtp_ca_file=str(certificate[0])))
    finally:
        await sink.stop()
    assert len(sink.messages) == 1


async def test_an_idn_host_and_recipient_are_sent_with_their_xn_domains(smtp: SmtpSink) -> None:
    """``joe@exämple.com`` (a Zoom host, a tenant's extra recipient) once made smtplib raise UnicodeEncodeError."""
    tenant = TenantConfig(
        id="acme", zoom_webhook_secret=SecretStr("whsec-acme"), extra_recipients=("archiv@bücher.example",)
    )
    envelope = envelope_for("Zoomsymbl <bot@zoomsymbl.test>", MeetingFacts(host_email="joe@exämple.com"), tenant)
    assert (envelope.to, envelope.cc) == (("joe@xn--exmple-cua.com",), ("archiv@xn--bcher-kva.example",))

    await _transport(smtp.port).send(envelope.envelope_sender, envelope.recipients, compose(REPORT, envelope, "<i@z>"))

    assert smtp.recipients == [["joe@xn--exmple-cua.com", "archiv@xn--bcher-kva.example"]]
    [msg] = smtp.messages
    assert (msg["To"], msg["Cc"]) == ("joe@xn--exmple-cua.com", "archiv@xn--bcher-kva.example")


@pytest.mark.parametrize(
    "recipient",
    ["joe@exämple.com", "jöe@exämple.com", "a@b.com\r\nRCPT TO:<thief@evil.test>"],
    ids=["unicode-domain", "unicode-local-part-at-a-unicode-domain", "line-break"],
)
async def test_an_address_smtplib_cannot_send_is_rejected_for_good(smtp: SmtpSink, recipient: str) -> None:
    """An address stored before it was checked (an outbox e-mail of an older release): smtplib raises
    UnicodeEncodeError or ValueError for it, which must be a refusal, never an unclassified error."""
    raw = compose(REPORT, ENVELOPE, "<u@zoomsymbl.test>")
    with pytest.raises(MailRejected) as refused:
        await _transport(smtp.port).send("bot@zoomsymbl.test", ("archive@example.com", recipient), raw)
    assert "not plain ASCII SMTP" in refused.value.detail
    assert recipient not in str(refused.value) and "thief" not in str(refused.value), "the address is not quoted"
    with pytest.raises(MailRejected):
        await _transport(smtp.port).send("bøt@zoomsymbl.test", ("archive@example.com",), raw)
    assert smtp.messages == [], "nothing delivered, not even to the recipients that could be sent"


async def test_an_encoding_error_of_smtplib_itself_is_a_refusal_too(
    smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the transport's own checks (as if they missed a case), smtplib's UnicodeEncodeError is still a refusal."""
    monkeypatch.setattr("zoomsymbl_notifier.smtp._sendable", lambda address: True)
    monkeypatch.setattr("zoomsymbl_notifier.smtputf8.needs_smtputf8", lambda address: False)
    with pytest.raises(MailRejected, match="not plain ASCII SMTP"):
        await _transport(smtp.port).send("bot@zoomsymbl.test", ("joe@exämple.com",), b"Subject: x\r\n\r\nx\r\n")
    assert smtp.messages == []


async def test_credentials_smtplib_cannot_encode_are_retried_like_refused_ones() -> None:
    """A password with a non-ASCII character is a setting an operator fixes: every e-mail waits, none is lost."""
    sink = SmtpSink(credentials=("mailer", "pässword"))
    await sink.start()
    try:
        with pytest.raises(SmtpUnavailable, match="credentials not sendable"):
            await _send(_transport(sink.port, smtp_username="mailer", smtp_password=SecretStr("pässword")))
    finally:
        await sink.stop()
    assert sink.messages == []
