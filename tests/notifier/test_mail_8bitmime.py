"""A body with 8-bit octets (RFC 6152): declared ``BODY=8BITMIME`` where the relay offers 8BITMIME, made 7-bit where
it does not.

The email package writes a text part whose lines are short and not all ASCII (``Zoë spoke.``, a short French or
Japanese transcript) as ``Content-Transfer-Encoding: 8bit``. The transport handed it over as composed, with no BODY
parameter: to a relay offering 8BITMIME undeclared (RFC 6152 3 requires it), and to one without 8BITMIME as 8-bit
data, which such a relay may refuse for good (aiosmtpd: "500 Error: strict ASCII mode"): the e-mail ended
``rejected`` and the host never had the report.
"""

from __future__ import annotations

import email
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import default

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.eightbitmime import seven_bit
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import Report, meeting_report
from zoomsymbl_notifier.smtp import RecipientsRefused, SmtpTransport
from zoomsymbl_notifier.smtputf8 import downgraded, handover

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp_faults import FaultySink, faulty_outbox, stored_email

SENDER, HOST, ZOE = "bot@zoomsymbl.test", "host@example.com", "zoë@example.com"
MSG_ID = "<8bit@zoomsymbl.test>"
FACTS = MeetingFacts(topic="Réunion", speakers=(Speaker(1, "Zoë", 90.0), Speaker(2, "Jörg", 30.0)))
INSIGHTS = Insights(
    messages=(TranscriptMessage("Zoë", "Bonjour à tous.", 1.0, 2.0), TranscriptMessage("Jörg", "Grüß Gott.", 3.0, 4.0)),
    decisions=(InsightItem("On garde l'équipe."),),
)
REPORT = meeting_report(INSIGHTS, FACTS, 0, [])
RAW = compose(REPORT, Envelope(SENDER, (HOST,)), MSG_ID)
KEY = MailKey("acme", "m/8bit==", 0, "report")


def _head(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]


def _body(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[2]


def _parts(raw: bytes) -> list[tuple[str, str | bytes]]:
    """Each leaf part's type and content, decoded (what a reader sees)."""
    parsed = email.message_from_bytes(raw, policy=default)
    return [
        (part.get_content_type(), part.get_content())
        for part in parsed.walk()
        if isinstance(part, EmailMessage) and not part.is_multipart()
    ]


def _encodings(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=default)
    return [str(part.get("Content-Transfer-Encoding")) for part in parsed.walk() if not part.is_multipart()]


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport(make_settings(InfraSettings(), port))


@pytest.fixture
async def relay() -> AsyncIterator[FaultySink]:
    sink = FaultySink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def seven_bit_relay() -> AsyncIterator[FaultySink]:
    """A relay whose EHLO offers no 8BITMIME (nor SMTPUTF8): 8-bit data is refused ("500 strict ASCII mode")."""
    sink = FaultySink()
    sink.eight_bit_mime = False
    await sink.start()
    yield sink
    await sink.stop()


# ---------------------------------------------------------------- the message


def test_a_report_with_accented_names_is_composed_with_8_bit_parts() -> None:
    """The premise: the text and the transcript parts are 8bit (the HTML's long line makes it quoted-printable, the
    chart is base64); the header is ASCII."""
    assert _head(RAW).isascii() and not _body(RAW).isascii()
    assert _encodings(RAW) == ["8bit", "quoted-printable", "base64", "8bit"]


def test_a_relay_with_8bitmime_gets_the_message_as_composed_and_declared() -> None:
    assert handover((HOST,), RAW, smtputf8=False, eight_bit=True).options == ("BODY=8BITMIME",)
    assert handover((HOST,), RAW, smtputf8=False, eight_bit=True).raw == RAW
    plain = compose(Report("Sync", "plain\n", "<p>plain</p>", "[0:00:01] Ann: hi\n"), Envelope(SENDER, (HOST,)), MSG_ID)
    assert handover((HOST,), plain, smtputf8=False, eight_bit=True).options == (), "a 7-bit body: nothing to declare"


def test_a_relay_without_8bitmime_gets_every_part_7_bit_and_reads_the_same() -> None:
    plan = handover((HOST,), RAW, smtputf8=False, eight_bit=False)

    assert plan.options == () and plan.recipients == (HOST,)
    assert plan.raw.isascii(), "RFC 6152: no octet over 127 to a relay without 8BITMIME"
    assert _head(plan.raw) == _head(RAW), "the header as composed (the same Message-ID)"
    assert _encodings(plan.raw) == ["quoted-printable", "quoted-printable", "base64", "quoted-printable"]
    assert _parts(plan.raw) == _parts(RAW), "the text, the HTML, the chart and the transcript read the same"
    assert max(len(line) for line in plan.raw.split(b"\r\n")) <= 78


def test_a_body_in_another_script_is_made_7_bit_in_base64_at_a_third_more() -> None:
    """Quoted-printable would triple Japanese text (=E4=BA=88...): base64 takes it at 4/3."""
    said = tuple(TranscriptMessage("佐藤", "予算を承認しました。", float(i), float(i) + 1) for i in range(200))
    raw = compose(
        meeting_report(Insights(messages=said), MeetingFacts(topic="会議"), 0, []), Envelope(SENDER, (HOST,)), MSG_ID
    )
    assert "8bit" in _encodings(raw)

    plain = seven_bit(raw)

    assert plain.isascii() and _parts(plain) == _parts(raw)
    assert "8bit" not in _encodings(plain) and "base64" in _encodings(plain)
    assert len(plain) < len(raw) * 1.45
    assert seven_bit(plain) is plain, "7-bit already: as it is"


def test_a_relay_with_neither_smtputf8_nor_8bitmime_gets_an_ascii_header_and_a_7_bit_body() -> None:
    raw = compose(REPORT, Envelope(SENDER, (ZOE,), (HOST,)), MSG_ID)

    plan = handover((ZOE, HOST), raw, smtputf8=False, eight_bit=False)

    assert (plan.recipients, plan.refused, plan.options) == ((HOST,), (ZOE,), ())
    assert plan.raw.isascii() and _head(plan.raw) == _head(downgraded(raw))
    assert _parts(plan.raw) == _parts(raw)


def test_a_relay_with_smtputf8_but_not_8bitmime_gets_the_utf8_header_and_a_7_bit_body() -> None:
    """RFC 6531 asks 8BITMIME of a relay offering SMTPUTF8; one that breaks the rule still gets no 8-bit body."""
    raw = compose(REPORT, Envelope(SENDER, (ZOE,), (HOST,)), MSG_ID)

    plan = handover((ZOE, HOST), raw, smtputf8=True, eight_bit=False)

    assert (plan.recipients, plan.options) == ((ZOE, HOST), ("SMTPUTF8",))
    assert _head(plan.raw) == _head(raw) and _body(plan.raw).isascii()
    assert _parts(plan.raw) == _parts(raw)


# ---------------------------------------------------------------- the relay


async def test_a_relay_offering_8bitmime_is_told_the_body_is_8_bit(relay: FaultySink) -> None:
    await _transport(relay.port).send(SENDER, (HOST,), RAW)

    assert "BODY=8BITMIME" in relay.mail_options[0]
    assert relay.raws == [RAW]


async def test_a_relay_without_8bitmime_takes_the_report_in_7_bit(seven_bit_relay: FaultySink) -> None:
    """It refused the 8-bit data with a 500: ``MailRejected``, the e-mail given up."""
    await _transport(seven_bit_relay.port).send(SENDER, (HOST,), RAW)

    [raw] = seven_bit_relay.raws
    assert raw.isascii() and not any("BODY" in o for o in seven_bit_relay.mail_options[0])
    assert _parts(raw) == _parts(RAW)
    assert seven_bit_relay.messages[0]["Message-ID"] == MSG_ID


async def test_a_unicode_recipient_is_refused_and_the_others_get_it_7_bit(seven_bit_relay: FaultySink) -> None:
    raw = compose(REPORT, Envelope(SENDER, (ZOE,), (HOST,)), MSG_ID)

    with pytest.raises(RecipientsRefused) as caught:
        await _transport(seven_bit_relay.port).send(SENDER, (ZOE, HOST), raw)

    assert caught.value.accepted == (HOST,) and [r.address for r in caught.value.refusals] == [ZOE]
    [received] = seven_bit_relay.raws
    assert received.isascii() and _parts(received) == _parts(raw)


# ---------------------------------------------------------------- the outbox


@pytest.mark.integration
async def test_the_outbox_delivers_the_report_through_a_relay_without_8bitmime(
    mongo: Mongo, seven_bit_relay: FaultySink
) -> None:
    outbox = faulty_outbox(mongo, seven_bit_relay)

    assert await outbox.send(KEY, Envelope(SENDER, (HOST,)), MSG_ID, RAW) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["refused"] == [] and "last_error" not in doc
    assert seven_bit_relay.recipients == [[HOST]] and _parts(seven_bit_relay.raws[0]) == _parts(RAW)
