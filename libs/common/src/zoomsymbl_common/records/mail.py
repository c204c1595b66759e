"""The notifier's outbox: ``emails`` (one per meeting, generation and kind) and ``email_claims``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from zoomsymbl_common.records.base import Document, Key, MeetingUuid, Reason, Record, Tenant

MailKindName = Annotated[str, Field(min_length=1, max_length=64)]
EmailStatus = Literal["pending", "sending", "sent", "rejected", "skipped"]
Address = Annotated[str, Field(max_length=320)]


class RecipientRefusal(Record):
    """A recipient the SMTP server refused for good (a 5xx to ``RCPT TO``, or a 4xx past the give-up time)."""

    address: Address
    code: int
    reason: Reason


class Email(Record):
    """The intent to send one e-mail, recorded before it is sent; the unique index ``email_unique`` keys it."""

    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(ge=0)
    kind: MailKindName
    message_id: Annotated[str, Field(max_length=1000)]
    sender: Address
    recipients: list[Address] = Field(max_length=1000)
    raw: bytes | None = None
    status: EmailStatus
    attempts: int = Field(0, ge=0)
    next_attempt_at: datetime
    created_at: datetime
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: Reason | None = None
    delivered_to: list[Address] = Field(default_factory=list, max_length=1000)
    """Recipients the server took the message for while refusing others: never sent to again."""
    refused: list[RecipientRefusal] = Field(default_factory=list, max_length=1000)
    """Recipients refused for good, with the server's reply: never sent to again."""
    unconfirmed: int = Field(0, ge=0)
    """Attempts that sent the whole message and got no reply to it (RFC 5321 6.1: it may have arrived)."""

    def key(self) -> Document:
        """The unique-index fields of this e-mail."""
        return email_key(self.tenant, self.meeting_uuid, self.generation, self.kind)


def email_key(tenant: str, meeting_uuid: str, generation: int, kind: str) -> Document:
    """The filter of one e-mail (the fields of the unique index ``email_unique``)."""
    return {"tenant": tenant, "meeting_uuid": meeting_uuid, "generation": generation, "kind": kind}


class EmailClaim(Record):
    """The claim of one send attempt (``_id`` = e-mail key + attempt number); the insert's winner sends."""

    id: Key = Field(alias="_id")
    claimed_at: datetime
