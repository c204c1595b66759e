"""SMTPUTF8 (RFC 6531): what needs it, and what a relay without it gets instead; and how a message is handed to a
relay (:func:`handover`), 8BITMIME included. Pure.

An address with a Unicode local part (``zoë@example.com``; its domain is always the ``xn--`` form, which every relay
takes) needs it, and so does a message whose header holds one in UTF-8 (RFC 6532: :func:`~zoomsymbl_notifier.mail.
compose` writes To and Cc so). A relay whose EHLO offers SMTPUTF8 gets the addresses and the message as composed,
``SMTPUTF8`` and ``BODY=8BITMIME`` on MAIL FROM (as smtplib's ``send_message`` sends them). One without it must get
neither (RFC 6531 3.2): those recipients are refused for that e-mail (:data:`NO_SMTPUTF8`), each on its own, and the
others get the message :func:`downgraded`. The sender is always plain ASCII (the notifier's settings refuse any
other): a relay without SMTPUTF8 must take every e-mail from it. Whatever the header, a body with 8-bit octets goes
out with ``BODY=8BITMIME`` where the relay offers 8BITMIME, and 7-bit where it does not
(:mod:`zoomsymbl_notifier.eightbitmime`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from email.header import Header
from email.policy import SMTP

from zoomsymbl_notifier.eightbitmime import BODY_8BITMIME, eight_bit_body, seven_bit

ADDRESS_FIELDS = frozenset({"to", "cc"})
"""The header fields, lower case, where :func:`~zoomsymbl_notifier.mail.compose` writes recipients' addresses."""
NO_SMTPUTF8 = "not sent: the relay does not offer SMTPUTF8 (RFC 6531), which a non-ASCII local part needs"
"""Why a recipient with a Unicode local part was refused (it names no address: it is stored and shown)."""
_WORDS_LINE = 76  # characters of a line of RFC 2047 encoded words (2: each word at most 75)
_FIELD_BREAK = re.compile(rb"\r\n(?![ \t])")  # between two header fields (a folded field goes on with a space or tab)
_FOLD = re.compile(r"\r\n(?=[ \t])")


@dataclass(frozen=True)
class Handover:
    """What one SMTP session sends: to whom, which bytes, with which MAIL FROM parameters; and the recipients it
    cannot send to (``refused``: a Unicode local part, and a relay without SMTPUTF8)."""

    recipients: tuple[str, ...]
    raw: bytes
    options: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def handover(recipients: tuple[str, ...], raw: bytes, *, smtputf8: bool, eight_bit: bool) -> Handover:
    """How to hand ``raw`` for ``recipients`` to a relay whose EHLO offers SMTPUTF8 (``smtputf8``) and 8BITMIME
    (``eight_bit``, which RFC 6531 requires of a relay offering SMTPUTF8) or not."""
    plan = _addressed(recipients, raw, smtputf8=smtputf8, eight_bit=eight_bit)
    if not eight_bit_body(plan.raw) or BODY_8BITMIME in plan.options:
        return plan
    if eight_bit:  # RFC 6152 3: an 8-bit body is declared
        return dataclasses.replace(plan, options=(*plan.options, BODY_8BITMIME))
    return dataclasses.replace(plan, raw=seven_bit(plan.raw))  # a relay without 8BITMIME takes 7-bit only


def _addressed(recipients: tuple[str, ...], raw: bytes, *, smtputf8: bool, eight_bit: bool) -> Handover:
    wide = tuple(r for r in recipients if needs_smtputf8(r))
    if not wide and not utf8_header(raw):
        return Handover(recipients, raw)
    if smtputf8:
        return Handover(recipients, raw, ("SMTPUTF8", BODY_8BITMIME) if eight_bit else ("SMTPUTF8",))
    return Handover(tuple(r for r in recipients if r not in wide), downgraded(raw), (), wide)


def needs_smtputf8(address: str) -> bool:
    """``address`` (as :func:`~zoomsymbl_notifier.mail.valid_address` gives it, its domain ASCII) has a Unicode
    local part: only SMTPUTF8 carries it."""
    return not address.isascii()


def utf8_header(raw: bytes) -> bool:
    """The header of message ``raw`` holds UTF-8 (an address with a Unicode local part): only SMTPUTF8 carries it."""
    return not raw.partition(b"\r\n\r\n")[0].isascii()


def downgraded(raw: bytes) -> bytes:
    """``raw`` with an ASCII header for a relay without SMTPUTF8; ``raw`` itself when its header is ASCII.

    Each To or Cc address with a Unicode local part becomes an empty group named by the address in RFC 2047 encoded
    words (as RFC 6857 3.1.10 downgrades one: ``=?utf-8?q?zo=C3=AB=40example=2Ecom?=:;``): readers show it as
    written, and it is no address any more (no reply goes to it). The body is left as it is. Only those fields hold
    UTF-8 in a message :func:`~zoomsymbl_notifier.mail.compose` wrote; any other such field is written back RFC 2047
    encoded by the email package.
    """
    if not utf8_header(raw):
        return raw
    head, blank, body = raw.partition(b"\r\n\r\n")
    fields = []
    for field in _FIELD_BREAK.split(head):
        if field.isascii():
            fields.append(field + b"\r\n")
            continue
        name, _, value = field.decode("utf-8", "replace").partition(":")
        name, value = name.strip(), _FOLD.sub("", value).strip()
        if name.lower() in ADDRESS_FIELDS:
            fields.append(_ascii_addresses(name, value))
        else:
            fields.append(SMTP.fold_binary(name, SMTP.header_factory(name, value)))
    return b"".join(fields) + blank[2:] + body


def _ascii_addresses(name: str, value: str) -> bytes:
    """``Name: a, b``, each address with a Unicode local part as an empty group of its own name, one address a
    line (the email package would fold adjacent encoded words into one, across the commas between them)."""
    items = []
    for address in (a.strip() for a in value.split(",")):
        if address.isascii():
            items.append(address)
        else:
            items.append(Header(address, "utf-8", _WORDS_LINE, name).encode(linesep="\r\n") + ":;")
    return (name + ": " + ",\r\n ".join(items) + "\r\n").encode("ascii")
