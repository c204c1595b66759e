"""The e-mail of a fresh meeting-page link (``zoomsymbl link --send``): at most one a day per meeting, through the
outbox, to whom the report goes.

Its outbox key is the meeting's generation and the kind ``link-<YYYY-MM-DD>`` (UTC): running the command again the
same day sends nothing more (the outbox answers ``already_sent``, or the first send's state), and an e-mail SMTP
could not take now stays in the outbox for the notifier's sweeper, as a report would. The recipients follow the
report's rules (:func:`~zoomsymbl_notifier.mail.envelope_for`: the host in To, within ``recipient_domains``, the
tenant's extra recipients in Cc). The link is a secret: it goes into the message (and the outbox's copy of it, as a
report's link does), never into a log line.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import Meeting
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.endings import Backoff
from zoomsymbl_notifier.mail import compose, envelope_for, mail_domain, message_id
from zoomsymbl_notifier.meetings import MeetingFacts, Meetings
from zoomsymbl_notifier.outbox import MailKey, Outbox
from zoomsymbl_notifier.report import Report, clean_line, html_page, outside_name, when_line
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.smtp import SmtpTransport

KIND_PREFIX = "link-"
NO_RECIPIENT = "no_recipient"
QUEUED = ("retry_later", "busy")
"""Outcomes that leave the e-mail in the outbox, for the notifier's sweeper to send (or another sender to finish)."""
ON_ITS_WAY = ("sent", "already_sent", *QUEUED)


def link_kind(day: datetime) -> str:
    """The outbox kind of the link e-mails of ``day`` (UTC): one per meeting and day."""
    return f"{KIND_PREFIX}{day.astimezone(UTC):%Y-%m-%d}"


RENEWAL_NOTE = (
    "Someone opened an expired link to this meeting's page and asked for a new one; it comes to you, not to them."
)
"""The line the e-mail of a link asked for on an expired link's page (:mod:`~zoomsymbl_notifier.renewals`) adds."""


def link_notice(facts: MeetingFacts, link: str, expires_at: datetime, note: str | None = None) -> Report:
    """The e-mail: which meeting, its new link, until when it opens the page, and that it is a key to the meeting;
    ``note`` (ours, never outside text) says why it was sent."""
    topic = outside_name(facts.topic, 512) or "your Zoom meeting"
    when = when_line(facts)
    lines = [
        f"Here is a new link to the page of {topic}, where you can see who spoke when and hear any moment.",
        *([when] if when else []),
        *([note] if note else []),
        f"It opens the page until {expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC. Links sent before may no longer"
        " open it.",
        "Whoever has this link can see and hear the meeting: share it only with those who may.",
    ]
    text = "\n".join([lines[0], "", link, "", *lines[1:]]) + "\n"
    paragraphs = [f"<p>{html.escape(line)}</p>" for line in lines]
    paragraphs.insert(1, f'<p><a href="{html.escape(link, quote=True)}">Open the meeting page</a></p>')
    subject = clean_line(f"Meeting page: {clean_line(facts.topic) or 'your Zoom meeting'}")
    return Report(subject, text, html_page(topic, "".join(paragraphs)))


class LinkMailer:
    """E-mails meetings' fresh links through the notifier's outbox, SMTP server and sender (``--send``)."""

    def __init__(self, mongo: Mongo, settings: Settings, today: datetime, note: str | None = None) -> None:
        backoff = Backoff.of(settings)
        self.note = note
        self.outbox = Outbox(mongo, SmtpTransport(settings), backoff)
        self.meetings = Meetings(mongo)
        self.mail_from = settings.mail_from
        self.kind = link_kind(today)

    async def send(self, tenant: TenantConfig, meeting: Meeting, link: str, expires_at: datetime) -> str:
        """Record and send the link's e-mail: the outbox's outcome, or :data:`NO_RECIPIENT` when the report's rules
        leave the meeting nobody to mail."""
        facts = await self.meetings.facts(meeting.tenant, meeting.meeting_uuid)
        envelope = envelope_for(self.mail_from, facts, tenant)
        if not envelope.recipients:
            return NO_RECIPIENT
        key = MailKey(meeting.tenant, meeting.meeting_uuid, meeting.generation, self.kind)
        msg_id = message_id(key.tenant, key.meeting_uuid, key.generation, key.kind, mail_domain(self.mail_from))
        raw = compose(link_notice(facts, link, expires_at, self.note), envelope, msg_id)
        return await self.outbox.send(key, envelope, msg_id, raw)


def mail_notes(outcomes: Sequence[str | None]) -> tuple[str | None, bool]:
    """The stderr line about ``--send``'s outcomes (None: nothing to say), and whether a link was not e-mailed."""
    queued = sum(1 for outcome in outcomes if outcome in QUEUED)
    failed = sorted({outcome for outcome in outcomes if outcome is not None and outcome not in ON_ITS_WAY})
    parts = [f"{queued} e-mail(s) left in the outbox: the notifier's sweeper sends them"] if queued else []
    if failed:
        count = sum(1 for outcome in outcomes if outcome in failed)
        parts.append(f"{count} link(s) not e-mailed ({', '.join(failed)}): see zoomsymbl status --meeting")
    return "; ".join(parts) or None, bool(failed)
