"""8BITMIME (RFC 6152): a body with 8-bit octets is declared where the relay offers it, and made 7-bit where it does
not. Pure.

:func:`~zoomsymbl_notifier.mail.compose` writes a text part whose lines are short and not all ASCII (``Zoë spoke.``,
a transcript in French or Japanese) as ``8bit``, the email package's choice: such a message must go out with
``BODY=8BITMIME`` on MAIL FROM to a relay whose EHLO offers 8BITMIME (RFC 6152 3), and to one without it only in
7-bit (:func:`seven_bit`: each such part quoted-printable or base64). The outbox keeps the message as composed; the
transport decides per relay (:func:`~zoomsymbl_notifier.smtputf8.handover`).
"""

from __future__ import annotations

import email
from email import base64mime, quoprimime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import SMTP
from io import BytesIO

BODY_8BITMIME = "BODY=8BITMIME"
"""The MAIL FROM parameter of a message whose body holds 8-bit octets (RFC 6152 2)."""
# Header fields are written back as they came (refold_source="none"): only the re-encoded parts change.
_AS_PARSED = SMTP.clone(refold_source="none")
_LINE = 76  # characters of a quoted-printable or base64 line (RFC 2045 6.7, 6.8)


def eight_bit_body(raw: bytes) -> bool:
    """The body of message ``raw`` (after its header) holds an octet over 127."""
    return not raw.partition(b"\r\n\r\n")[2].isascii()


def seven_bit(raw: bytes) -> bytes:
    """``raw`` with each part holding 8-bit octets re-encoded: a text part quoted-printable, or base64 when that is
    shorter (text in a non-Latin script: quoted-printable would triple it), any other part base64. Every header field
    but those parts' ``Content-Transfer-Encoding``, and every other part, as they were; ``raw`` itself when its body
    is 7-bit already."""
    if not eight_bit_body(raw):
        return raw
    message = email.message_from_bytes(raw, policy=_AS_PARSED)
    for part in message.walk():
        if not part.is_multipart():
            _re_encode(part)
    out = BytesIO()
    BytesGenerator(out, policy=_AS_PARSED).flatten(message)
    return out.getvalue()


def _re_encode(part: Message) -> None:
    payload = part.get_payload()
    if not isinstance(payload, str) or payload.isascii():  # 7-bit as it is (quoted-printable, base64 or ASCII)
        return
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)  # a leaf part's payload decodes to bytes
    encoded = base64mime.body_encode(data, _LINE)
    cte = "base64"
    if part.get_content_maintype() == "text":
        # latin-1 maps each octet to one character: quoprimime escapes those over 127 (=C3=AB), keeps line breaks.
        quoted = quoprimime.body_encode(data.decode("latin-1"), _LINE)
        if len(quoted) <= len(encoded):
            encoded, cte = quoted, "quoted-printable"
    part.set_payload(encoded)
    if "Content-Transfer-Encoding" in part:
        part.replace_header("Content-Transfer-Encoding", cte)
    else:
        part["Content-Transfer-Encoding"] = cte
