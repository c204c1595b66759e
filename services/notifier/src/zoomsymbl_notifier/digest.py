"""The reconciliation digest: one e-mail to a tenant's administrators per reconciled window.

Ingest's reconciliation publishes ``zoom.reconciliation-completed.v1`` with the UUIDs of the expected
meetings that were never archived. The digest lists those that are still missing when it is written
(a recording that arrived since replaced its ``recording_failed`` record and drops out), each with
its host, topic, start and the reason reconciliation found. It goes through the outbox under the key
(tenant, the window, generation 0, ``digest``): one digest per window however often the window is
reconciled or the event delivered. No administrators (``admin_emails``) or nothing missing: no e-mail.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.event_fields import MAX_DIGEST_MEETINGS
from zoomsymbl_common.events import ReconciliationCompleted
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import CONVERSATIONS, ConversationMetadata, MalformedRecord
from zoomsymbl_common.tenants import TenantConfig, Tenants

from zoomsymbl_notifier.mail import Envelope, compose, mail_domain, message_id, valid_address
from zoomsymbl_notifier.outbox import MailKey, Outbox
from zoomsymbl_notifier.outside import clean_line, outside_name, shown_address
from zoomsymbl_notifier.report import Report

log = logging.getLogger("zoomsymbl.notifier.digest")
GENERATION = 0  # a window has no generations; the outbox key needs one


@dataclass(frozen=True)
class MissingMeeting:
    """One line of the digest (outside text, cleaned of control characters and defanged when rendered)."""

    meeting_uuid: str
    topic: str
    host: str
    start_time: datetime | None
    reason: str

    @classmethod
    def of(cls, record: ConversationMetadata) -> MissingMeeting:
        """The line of a ``recording_failed`` record written by reconciliation."""
        return cls(record.meeting_uuid, record.topic, record.recorded_user.user, record.start_time, record.failure)


def digest_report(event: ReconciliationCompleted, missing: Sequence[MissingMeeting]) -> Report:
    """The digest's subject, text and HTML (every outside text escaped in the HTML). Pure."""
    window = f"{event.window_from.isoformat()} to {event.window_to.isoformat()}"
    subject = f"Zoom archive: {len(missing)} meeting(s) or call(s) not archived ({window})"
    intro = (
        f"Reconciliation of {window} (UTC): Zoom listed {event.listed} past meeting(s) and call(s), "
        f"{event.expected} expected in the archive, {event.archived} archived. These {len(missing)} are not:"
    )
    rows = [_row(m) for m in missing]
    text_lines = [intro, ""]
    for start, host, topic, uuid, reason in rows:
        text_lines += [f"- {start}  {host}  {topic}", f"  {uuid}: {reason}"]
    more = event.flagged + event.already_flagged - len(missing)
    footer = "zoomsymbl status --failed lists every meeting that was never archived."
    if more > 0:
        footer = f"{more} more are not listed here (or were archived since). " + footer
    text_lines += ["", footer]
    head = "".join(
        f"<th>{h}</th>" for h in ("Start (UTC)", "Host or phone user", "Topic", "Meeting UUID or call", "Why")
    )
    body_rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    body = (
        f"<p>{html.escape(intro)}</p><table><thead><tr>{head}</tr></thead><tbody>{body_rows}</tbody></table>"
        f"<p>{html.escape(footer)}</p>"
    )
    page = f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>'
    return Report(clean_line(subject), "\n".join(text_lines) + "\n", f"{page}<body>{body}</body></html>")


def _row(meeting: MissingMeeting) -> tuple[str, str, str, str, str]:
    start = meeting.start_time.strftime("%Y-%m-%d %H:%M") if meeting.start_time else "start unknown"
    return (
        start,
        shown_address(meeting.host) or "host unknown",
        outside_name(meeting.topic, 200) or "(no topic)",
        outside_name(meeting.meeting_uuid, 256),  # Zoom's UUIDs and phone keys hold no host dot: shown as they are
        outside_name(meeting.reason, 300),
    )


class Digests:
    """Turns reconciliation events into digest e-mails through the outbox."""

    def __init__(self, mongo: Mongo, tenants: Tenants, outbox: Outbox, mail_from: str) -> None:
        self._conversations: AsyncCollection[Document] = mongo.db[CONVERSATIONS]
        self._tenants = tenants
        self._outbox = outbox
        self._mail_from = mail_from

    async def on_reconciliation(self, event: ReconciliationCompleted) -> None:
        """E-mail the tenant's administrators the meetings of ``event`` that are still missing (once)."""
        tenant = self._tenants.get(event.tenant)
        if tenant is None:
            raise PoisonInputError(f"reconciliation of unknown tenant {event.tenant!r}", stage="lookup")
        if event.meeting_uuid != event.window_key(event.window_from, event.window_to) or (
            event.window_from > event.window_to
        ):
            raise PoisonInputError("reconciliation event's key does not name its window", stage="parse")
        key = MailKey(event.tenant, event.meeting_uuid, GENERATION, "digest")
        if await self._outbox.exists(key):  # a redelivery: only finish sending
            await self._outbox.deliver(key)
            return
        admins = _admins(tenant)
        ids = {"tenant": event.tenant, "window": event.meeting_uuid}
        if not admins:
            log.info("no valid admin_emails, no reconciliation digest", extra=ids)
            return
        missing = await self.still_missing(event)
        if not missing:
            log.info("nothing missing in the window, no reconciliation digest", extra=ids)
            return
        envelope = Envelope(sender=self._mail_from, to=admins)
        msg_id = message_id(key.tenant, key.meeting_uuid, key.generation, key.kind, mail_domain(self._mail_from))
        raw = compose(digest_report(event, missing), envelope, msg_id)
        outcome = await self._outbox.send(key, envelope, msg_id, raw)
        log.info("reconciliation digest", extra={**ids, "meetings": len(missing), "outcome": outcome})

    async def still_missing(self, event: ReconciliationCompleted) -> list[MissingMeeting]:
        """The meetings of ``event`` whose reconciliation record is still there, oldest first."""
        query = {
            "tenant": event.tenant,
            "meeting_uuid": {"$in": list(event.missing[:MAX_DIGEST_MEETINGS])},
            "recording_failed": True,
            "reconciled_at": {"$ne": None},
        }
        docs = await guarded(self._conversations.find(query).to_list(MAX_DIGEST_MEETINGS))
        found: list[MissingMeeting] = []
        for doc in docs:
            try:
                found.append(MissingMeeting.of(ConversationMetadata.from_document(doc)))
            except MalformedRecord:
                log.warning("unreadable reconciliation record left out of the digest", extra={"tenant": event.tenant})
        return sorted(found, key=lambda m: (m.start_time is None, m.start_time or datetime.min, m.meeting_uuid))


def _admins(tenant: TenantConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for a in (valid_address(x) for x in tenant.admin_emails) if a))
