"""A recipient whose local part is not ASCII (``zoë@example.com``, RFC 6531): sent with SMTPUTF8 where the relay
offers it; refused for that e-mail, on the record with a reason, where it does not, while the others get the message.

Such an address (a Zoom host's, an extra recipient's, an admin's) was left out of the envelope, logged and nothing
more: the host of the meeting never had the report, though Gmail, Microsoft 365 and Postfix take SMTPUTF8.
"""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from email.header import decode_header, make_header
from email.headerregistry import Group
from email.policy import default

import pytest
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.mail import Envelope, compose, envelope_for, valid_address
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.smtp import RecipientsRefused, SmtpTransport
from zoomsymbl_notifier.smtputf8 import NO_SMTPUTF8, Handover, downgraded, handover

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp_faults import FaultySink, faulty_outbox, stored_email

ZOE, ARCHIVE = "zoë@example.com", "archive@example.com"
ENVELOPE = Envelope("Zoomsymbl <bot@zoomsymbl.test>", (ZOE,), (ARCHIVE,))
REPORT = Report("Meeting summary: Réunion", "Zoë spoke.\n", "<p>Zoë spoke.</p>")
MSG_ID = "<utf8@zoomsymbl.test>"
RAW = compose(REPORT, ENVELOPE, MSG_ID)
KEY = MailKey("acme", "m/utf8==", 0, "report")


def _head(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport(make_settings(InfraSettings(), port))


@pytest.fixture
async def utf8_relay() -> AsyncIterator[FaultySink]:
    sink = FaultySink()
    sink.smtputf8 = True
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def ascii_relay() -> AsyncIterator[FaultySink]:
    sink = FaultySink()
    await sink.start()
    yield sink
    await sink.stop()


# ---------------------------------------------------------------- the address


def test_a_unicode_local_part_is_kept_in_nfc_at_its_xn_domain() -> None:
    assert valid_address(ZOE) == ZOE
    assert valid_address(" zoe\u0308@example.com ") == ZOE, "the same letters however typed: NFC (RFC 6532 3.1)"
    assert valid_address("用户@例子.广告") == "用户@xn--fsqu00a.xn--4rr70v"
    assert valid_address("δοκιμή@παράδειγμα.δοκιμή") == "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"
    assert valid_address("jörg.müller+zoom@exämple.de") == "jörg.müller+zoom@xn--exmple-cua.de"


@pytest.mark.parametrize(
    "address",
    [
        "zo\u200bë@example.com",  # zero-width space
        "zo\u202eë@example.com",  # right-to-left override
        "zo\u2066ë\u2069@example.com",  # an isolate
        "zo\u200eë@example.com",  # left-to-right mark
        "zo\u00adë@example.com",  # soft hyphen
        "zo\ufe0fë@example.com",  # a variation selector
        "zo\u034fë@example.com",  # combining grapheme joiner
        "\u3164zoë@example.com",  # Hangul filler
        "zoë\u00a0@example.com",  # no-break space
        "zo\u2028ë@example.com",  # line separator
        "ｊoë@example.com",  # a full-width letter: a look-alike of ASCII
        "boss＠example.com@evil.example",  # a full-width at sign
        "ﬁlë@example.com",  # a ligature
        "\u0308zoe@example.com",  # a mark with nothing to go on
        "zoë.\u0301x@example.com",  # ... after a dot
        "zoë.@example.com",  # an empty atom
        "zoë@@example.com",
        "zoë@straße.de",  # a domain IDNA would change
    ],
)
def test_a_unicode_local_part_with_a_character_not_as_it_reads_is_refused(address: str) -> None:
    assert valid_address(address) is None


def test_the_host_and_an_extra_recipient_with_unicode_local_parts_are_both_in_the_envelope() -> None:
    """Both were left out (``invalid e-mail address left out``): the report went to nobody, or to the archive only."""
    tenant = TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr("whsec-acme"),
        extra_recipients=("zoe\u0308@example.com", "zoë-archiv@bücher.example"),
    )
    envelope = envelope_for("bot@zoomsymbl.test", MeetingFacts(host_email=ZOE), tenant)
    assert (envelope.to, envelope.cc) == ((ZOE,), ("zoë-archiv@xn--bcher-kva.example",)), "the host once, in NFC"


# ---------------------------------------------------------------- the message


def test_the_message_writes_the_address_in_utf8_and_its_downgrade_in_ascii() -> None:
    assert b"\r\nTo: zo\xc3\xab@example.com\r\n" in _head(RAW), "RFC 6532, not an encoded word in an address"
    wide = [line for line in _head(RAW).split(b"\r\n") if not line.isascii()]
    assert wide == [b"To: zo\xc3\xab@example.com"], "the other fields stay ASCII (RFC 2047: the subject)"

    plain = downgraded(RAW)
    assert _head(plain).isascii()
    assert plain.partition(b"\r\n\r\n")[2] == RAW.partition(b"\r\n\r\n")[2], "the body as it was"
    parsed = email.message_from_bytes(plain, policy=default)
    [group] = parsed["To"].groups
    assert isinstance(group, Group) and (group.display_name, group.addresses) == (ZOE, ())
    assert [a.addr_spec for a in parsed["Cc"].addresses] == [ARCHIVE]
    assert (parsed["Subject"], parsed["Message-ID"]) == (REPORT.subject, MSG_ID)

    ascii_only = compose(REPORT, Envelope("bot@zoomsymbl.test", (ARCHIVE,)), MSG_ID)
    assert downgraded(ascii_only) is ascii_only


def test_a_long_unicode_address_downgrades_to_encoded_words_within_their_bound() -> None:
    """RFC 2047 2: an encoded word is at most 75 characters; adjacent ones read as one (6.2)."""
    long = f"{'ö' * 60}@example.com"
    plain = _head(downgraded(compose(REPORT, Envelope("bot@zoomsymbl.test", (long, ARCHIVE)), MSG_ID)))
    assert plain.isascii() and max(len(line) for line in plain.split(b"\r\n")) <= 78
    to = re.search(rb"\r\nTo: (.*?)\r\n(?![ \t])", plain, re.S)
    assert to is not None
    first, second = to.group(1).decode().replace("\r\n", "").split(",")
    assert first.endswith(":;") and second.strip() == ARCHIVE
    assert str(make_header(decode_header(first.removesuffix(":;")))) == long
    assert all(len(word) <= 75 for word in re.findall(r"=\?[^ ]*?\?=", first))


def test_a_utf8_field_other_than_to_or_cc_is_downgraded_too() -> None:
    """``compose`` writes no such field; one in a message from elsewhere is RFC 2047 encoded, not sent in UTF-8."""
    raw = "Subject: Réunion\r\nTo: zoë@example.com\r\n\r\nbody\r\n".encode()
    plain = downgraded(raw)
    assert _head(plain).isascii() and plain.endswith(b"\r\n\r\nbody\r\n")
    assert email.message_from_bytes(plain, policy=default)["Subject"] == "Réunion"


def test_the_handover_sends_everything_as_composed_only_where_smtputf8_is_offered() -> None:
    # The body ("Zoë spoke.") is 8-bit: declared BODY=8BITMIME to these relays (test_mail_8bitmime.py: and without).
    ascii_raw = compose(REPORT, Envelope("bot@zoomsymbl.test", (ARCHIVE,)), MSG_ID)
    recipients = ENVELOPE.recipients
    eight_bit = ("BODY=8BITMIME",)
    assert handover((ARCHIVE,), ascii_raw, smtputf8=False, eight_bit=True) == Handover((ARCHIVE,), ascii_raw, eight_bit)
    assert handover((ARCHIVE,), ascii_raw, smtputf8=True, eight_bit=True) == Handover((ARCHIVE,), ascii_raw, eight_bit)
    assert handover(recipients, RAW, smtputf8=True, eight_bit=True) == Handover(
        recipients, RAW, ("SMTPUTF8", "BODY=8BITMIME")
    )
    assert handover(recipients, RAW, smtputf8=True, eight_bit=False).options == ("SMTPUTF8",)
    assert handover(recipients, RAW, smtputf8=False, eight_bit=True) == Handover(
        (ARCHIVE,), downgraded(RAW), eight_bit, (ZOE,)
    )
    # Zoë settled in an earlier attempt: the archive alone, the header still UTF-8.
    assert handover((ARCHIVE,), RAW, smtputf8=True, eight_bit=True).options == ("SMTPUTF8", "BODY=8BITMIME")
    assert handover((ARCHIVE,), RAW, smtputf8=False, eight_bit=True) == Handover((ARCHIVE,), downgraded(RAW), eight_bit)


# ---------------------------------------------------------------- the relay


async def test_a_relay_offering_smtputf8_gets_the_address_and_the_message_as_composed(utf8_relay: FaultySink) -> None:
    await _transport(utf8_relay.port).send("bot@zoomsymbl.test", ENVELOPE.recipients, RAW)

    assert utf8_relay.recipients == [[ZOE, ARCHIVE]]
    assert {"SMTPUTF8", "BODY=8BITMIME"} <= set(utf8_relay.mail_options[0])
    assert utf8_relay.raws == [RAW]


async def test_an_ascii_e_mail_goes_out_as_before_whatever_the_relay(utf8_relay: FaultySink) -> None:
    raw = compose(REPORT, Envelope("bot@zoomsymbl.test", (ARCHIVE,)), MSG_ID)
    await _transport(utf8_relay.port).send("bot@zoomsymbl.test", (ARCHIVE,), raw)
    assert not any("SMTPUTF8" in o for o in utf8_relay.mail_options[0]) and utf8_relay.raws == [raw]


async def test_a_relay_without_smtputf8_refuses_the_address_here_and_the_others_get_an_ascii_header(
    ascii_relay: FaultySink,
) -> None:
    with pytest.raises(RecipientsRefused) as caught:
        await _transport(ascii_relay.port).send("bot@zoomsymbl.test", ENVELOPE.recipients, RAW)

    [refusal] = caught.value.refusals
    assert (refusal.address, refusal.code, refusal.detail, refusal.final) == (ZOE, 0, NO_SMTPUTF8, True)
    assert caught.value.accepted == (ARCHIVE,)
    assert ascii_relay.recipients == [[ARCHIVE]] and not any("SMTPUTF8" in o for o in ascii_relay.mail_options[0])
    [raw] = ascii_relay.raws
    assert _head(raw).isascii() and raw == downgraded(RAW)


async def test_only_unicode_recipients_and_no_smtputf8_sends_nothing(ascii_relay: FaultySink) -> None:
    with pytest.raises(RecipientsRefused) as caught:
        await _transport(ascii_relay.port).send("bot@zoomsymbl.test", (ZOE,), RAW)
    assert [r.address for r in caught.value.refusals] == [ZOE] and caught.value.accepted == ()
    assert ascii_relay.mail_commands == 0 and ascii_relay.messages == []


# ---------------------------------------------------------------- the outbox


@pytest.mark.integration
async def test_the_outbox_records_the_address_refused_for_want_of_smtputf8_and_the_archive_has_it(
    mongo: Mongo, ascii_relay: FaultySink
) -> None:
    outbox = faulty_outbox(mongo, ascii_relay)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["delivered_to"] == [ARCHIVE]
    [refused] = doc["refused"]
    assert (refused["address"], refused["code"], refused["reason"]) == (ZOE, 0, NO_SMTPUTF8)
    assert "SMTPUTF8" in doc["last_error"] and "@" not in doc["last_error"], "the reason names no address"
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"
    assert ascii_relay.recipients == [[ARCHIVE]]


@pytest.mark.integration
async def test_the_outbox_sends_to_the_unicode_address_through_a_relay_offering_smtputf8(
    mongo: Mongo, utf8_relay: FaultySink
) -> None:
    outbox = faulty_outbox(mongo, utf8_relay)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["refused"] == [] and "last_error" not in doc
    assert utf8_relay.recipients == [[ZOE, ARCHIVE]]
