"""``zoomsymbl link``: a fresh meeting-page link, for one meeting or for every meeting reported since a day.

The link in a report e-mail opens the page for the tenant's ``page_link_days``; after that, or when the e-mail is
lost, or once the page key was replaced (which voids every link sent), the page answers "ask the meeting's host for a
new one". This is how the host's administrator makes one: signed with the notifier's ``PAGE_KEY`` for ``PAGE_BASE_URL``
(run it in the notifier image, where both are set), valid for ``--days`` (the tenant's ``page_link_days`` by
default). With ``--reported-since`` it lists, newest first, every meeting whose report was e-mailed (stage
``notified``) and updated since then, each with its link and the addresses its report went to, to send them again.
With ``--send`` each link is e-mailed to whom the meeting's report goes (:mod:`~zoomsymbl_notifier.link_mail`: through
the outbox, at most once a day per meeting; SMTP and the sender are the notifier's settings).

The links are printed on stdout (and e-mailed with ``--send``), never logged (each token is registered with the
redactor as it is made). A forgotten meeting (``zoomsymbl forget``) gets none, nor a meeting of a tenant no longer
configured (the web service refuses its links). Meeting ids, topics and addresses come from outside and are shown
printable.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.mongo import Document, Mongo, guarded, make_mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, UsageError, positive_int, utc_time
from zoomsymbl_common.ops.forget import is_forgotten
from zoomsymbl_common.ops.output import moment_text, printable
from zoomsymbl_common.ops.status import parse_records
from zoomsymbl_common.records import EMAILS, MEETINGS, TOMBSTONES, Meeting, email_key
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.signed_tokens import checked_key
from zoomsymbl_common.tenants import Tenants, load_tenants

from zoomsymbl_notifier.link_mail import LinkMailer, mail_notes
from zoomsymbl_notifier.links import NO_LINKS, PageLinkSettings, checked_base_url, meeting_page_link
from zoomsymbl_notifier.settings import Settings

EXAMPLES = (
    "zoomsymbl link --meeting 'aBcD1234+xyz==' --tenant acme",
    "zoomsymbl link --meeting 'aBcD1234+xyz==' --days 7 --json",
    "zoomsymbl link --reported-since 2026-11-01 --tenant acme --json   # after the page key was replaced",
    "zoomsymbl link --reported-since 2026-11-01 --tenant acme --send   # and e-mail each link to its recipients",
)
PAGE_KEY_VARIABLE = "ZOOMSYMBL_NOTIFIER_PAGE_KEY"
READY = ("completed", "notified")
"""The stages whose page shows the meeting; before them it says "not ready yet", a failed one why it failed."""
NOT_READY = "not_ready"
"""``--send``'s outcome for a meeting whose page shows no report yet (or a failure): not e-mailed."""


class LinkSettings(BaseSettings):
    """The notifier's page key and page address, checked as the notifier checks them."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_NOTIFIER_", extra="ignore", frozen=True)

    page_key: SecretStr = Field(SecretStr(""), description="HMAC key of the meeting-page links.")
    page_base_url: str = Field("", validate_default=True, description="Where the web service answers.")

    @field_validator("page_key")
    @classmethod
    def _page_key(cls, value: SecretStr) -> SecretStr:
        return checked_key(value, empty=NO_LINKS)

    @field_validator("page_base_url")
    @classmethod
    def _page_base_url(cls, value: str, info: ValidationInfo) -> str:
        return checked_base_url(value, info.data.get("page_key"))


@dataclass(frozen=True)
class PageLink:
    """One meeting's fresh link and where its report went."""

    meeting: Meeting
    link: str
    expires_at: datetime
    recipients: list[str]
    mailed: str | None = None
    """With ``--send``: the outbox's outcome (``sent``, ``already_sent``, ``retry_later``, ...), ``no_recipient`` or
    ``not_ready``."""

    def as_json(self) -> dict[str, object]:
        """The ``--json`` item."""
        return {
            "tenant": self.meeting.tenant,
            "meeting_uuid": self.meeting.meeting_uuid,
            "stage": self.meeting.stage,
            "topic": self.meeting.topic,
            "recipients": self.recipients,
            "link": self.link,
            "expires_at": self.expires_at,
            **({"mailed": self.mailed} if self.mailed is not None else {}),
        }

    def text(self) -> str:
        """Two lines: the meeting, then its link."""
        meeting = self.meeting
        to = ", ".join(printable(address) for address in self.recipients) or "-"
        head = f"{printable(meeting.tenant)}  {printable(meeting.meeting_uuid)}  {meeting.stage or '-'}"
        mailed = f"\n  e-mailed: {self.mailed}" if self.mailed is not None else ""
        return f"{head}  {printable(meeting.topic) or '-'}  to {to}\n  {self.link}{mailed}"


def arguments(parser: argparse.ArgumentParser) -> None:
    """One meeting, or the meetings reported since a time."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--meeting", help="the meeting's (or call's) UUID, as `zoomsymbl status` lists it")
    which.add_argument(
        "--reported-since", type=utc_time, help="every meeting reported and updated since this ISO time (UTC default)"
    )
    parser.add_argument("--tenant", help="the meeting's tenant (needed when two tenants have the UUID)")
    parser.add_argument("--days", type=_days, help="days the link opens the page (default: page_link_days)")
    parser.add_argument("--limit", type=positive_int, default=1000, help="most meetings listed (default: 1000)")
    parser.add_argument(
        "--send", action="store_true", help="e-mail each link to whom the report goes (at most once a day a meeting)"
    )


def _days(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 365:
        raise argparse.ArgumentTypeError(f"must be 1 to 365 (as page_link_days), got {value!r}")
    return value


class Linker:
    """Makes the links of meetings found in MongoDB."""

    def __init__(
        self,
        mongo: Mongo,
        settings: PageLinkSettings,
        tenants: Tenants,
        days: int | None,
        now: float,
        mailer: LinkMailer | None = None,
    ) -> None:
        self.mongo = mongo
        self.settings = settings
        self.tenants = tenants
        self.days = days
        self.now = now
        self.mailer = mailer

    async def forgotten(self, tenant: str | None, meeting_uuid: str) -> bool:
        """True when ``zoomsymbl forget`` began erasing the meeting (its tombstone; of any tenant when None)."""
        if tenant is not None:
            return await is_forgotten(self.mongo, tenant, meeting_uuid)
        any_tenant = {"meeting_uuid": meeting_uuid}
        return await guarded(self.mongo.db[TOMBSTONES].find_one(any_tenant, {"_id": 1})) is not None

    async def link(self, meeting: Meeting) -> PageLink | str:
        """The meeting's link, or why it gets none."""
        tenant = self.tenants.get(meeting.tenant)
        if tenant is None:
            return f"tenant {printable(meeting.tenant)!r} is not configured here (the web service refuses its links)"
        if await self.forgotten(meeting.tenant, meeting.meeting_uuid):
            return "the meeting was forgotten (zoomsymbl forget): its page is gone"
        link = meeting_page_link(self.settings, tenant, meeting.meeting_uuid, self.now, days=self.days)
        if link is None:  # the settings were checked for a key and an address before any meeting was read
            raise ConfigError(f"no page key: {PAGE_KEY_VARIABLE} is empty", variables=(PAGE_KEY_VARIABLE,))
        days = tenant.page_link_days if self.days is None else self.days
        expires = datetime.fromtimestamp(int(self.now + timedelta(days=days).total_seconds()), UTC)
        made = PageLink(meeting, link, expires, await self.recipients(meeting))
        if self.mailer is None:
            return made
        if meeting.stage not in READY:  # its page has no report to show; the host heard of it as it stands
            return replace(made, mailed=NOT_READY)
        return replace(made, mailed=await self.mailer.send(tenant, meeting, link, expires))

    async def recipients(self, meeting: Meeting) -> list[str]:
        """Where the meeting's report went (its e-mail of the meeting's generation), else its host's address."""
        key = email_key(meeting.tenant, meeting.meeting_uuid, meeting.generation, "report")
        mail = await guarded(self.mongo.db[EMAILS].find_one(key, {"recipients": 1}))
        found = mail.get("recipients") if mail else None
        if isinstance(found, list) and all(isinstance(address, str) for address in found):
            return found[:1000]
        return [meeting.host_email] if meeting.host_email else []


def _meetings(documents: list[Document]) -> tuple[list[Meeting], int]:
    """The documents that have the meeting shape, and how many do not."""
    malformed: list[str] = []
    return parse_records(Meeting, documents, malformed), len(malformed)


async def one_meeting(linker: Linker, meeting_uuid: str, tenant: str | None) -> Result:
    """The link of one meeting, or why there is none."""
    query: Document = {"meeting_uuid": meeting_uuid, **({"tenant": tenant} if tenant else {})}
    found, malformed = _meetings(await guarded(linker.mongo.db[MEETINGS].find(query).limit(2).to_list(None)))
    named = f"meeting {printable(meeting_uuid)!r}" + (f" of tenant {printable(tenant)!r}" if tenant else "")
    if not found:
        why = "is not in the archive"
        if malformed:
            why = "is stored in a document without the meeting shape (see zoomsymbl status --meeting)"
        elif await linker.forgotten(tenant, meeting_uuid):
            why = "was forgotten (zoomsymbl forget): its page is gone"
        return Result(data={"items": []}, text="", code=EXIT_FAILED, message=f"{named} {why}")
    if len(found) > 1:
        tenants = ", ".join(sorted(printable(meeting.tenant) for meeting in found))
        raise UsageError(f"{named} is in more than one tenant ({tenants}): add --tenant")
    made = await linker.link(found[0])
    if isinstance(made, str):
        return Result(data={"items": []}, text="", code=EXIT_FAILED, message=f"{named}: {made}")
    stage = found[0].stage
    note = None if stage in READY else f"its page says the meeting is not ready yet (stage {stage or 'queued'})"
    if stage == "failed":
        note = "the meeting failed: its page says where and why"
    text = made.text() + f"\nvalid until {moment_text(made.expires_at)}"
    mailing, failed = mail_notes([made.mailed])
    message = "; ".join(part for part in (note, mailing) if part) or None
    return Result(data={"items": [made.as_json()]}, text=text, code=EXIT_FAILED if failed else 0, message=message)


async def reported_since(linker: Linker, since: datetime, tenant: str | None, limit: int) -> Result:
    """The links of the meetings reported and updated since ``since``, newest first (at most ``limit``)."""
    query: Document = {"updated_at": {"$gte": since}, "stage": "notified", **({"tenant": tenant} if tenant else {})}
    cursor = linker.mongo.db[MEETINGS].find(query).sort("updated_at", -1).limit(limit + 1)
    meetings, malformed = _meetings(await guarded(cursor.to_list(None)))
    cut_short = len(meetings) + malformed > limit
    items, skipped = [], []
    for meeting in meetings[:limit]:
        made = await linker.link(meeting)
        if isinstance(made, str):
            skipped.append({"tenant": meeting.tenant, "meeting_uuid": meeting.meeting_uuid, "reason": made})
        else:
            items.append(made)
    notes = [f"{len(skipped)} meeting(s) get no link"] if skipped else []
    notes += [f"{malformed} document(s) do not have the meeting shape"] if malformed else []
    notes += [f"more than {limit} meetings: the oldest are not listed (raise --limit)"] if cut_short else []
    mailing, failed = mail_notes([item.mailed for item in items])
    notes += [mailing] if mailing else []
    data = {"items": [item.as_json() for item in items], "skipped": skipped, "malformed": malformed}
    data["cut_short"] = cut_short
    text = "\n".join(item.text() for item in items) or "no meeting reported since then"
    if items:
        text += f"\n{len(items)} link(s), valid until {moment_text(max(item.expires_at for item in items))} at most"
    return Result(data=data, text=text, code=EXIT_FAILED if failed else 0, message="; ".join(notes) or None)


async def _run(infra: InfraSettings, settings: LinkSettings, tenants: Tenants, args: argparse.Namespace) -> Result:
    mongo = make_mongo(infra)
    try:
        now = time.time()
        mailer = LinkMailer(mongo, load_settings(Settings), datetime.fromtimestamp(now, UTC)) if args.send else None
        linker = Linker(mongo, settings, tenants, args.days, now, mailer)
        if args.meeting:
            return await one_meeting(linker, args.meeting, args.tenant)
        return await reported_since(linker, args.reported_since, args.tenant, args.limit)
    finally:
        await mongo.close()


def run(args: argparse.Namespace) -> Result:
    """The links ``args`` ask for (and their e-mails, with ``--send``)."""
    settings = load_settings(LinkSettings)
    if not settings.page_key.get_secret_value():
        raise ConfigError(
            f"no page key: {PAGE_KEY_VARIABLE} is empty, so there are no links (run this in the notifier image)",
            variables=(PAGE_KEY_VARIABLE,),
        )
    tenants = load_tenants()
    if args.tenant and tenants.get(args.tenant) is None:
        raise UsageError(f"tenant {printable(args.tenant)!r} is not configured here")
    return asyncio.run(_run(load_settings(InfraSettings), settings, tenants, args))


def register() -> Command:
    """The ``link`` subcommand."""
    return Command(
        name="link",
        summary="a fresh meeting-page link for a meeting, or for the meetings reported since a time (--send: e-mailed)",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
