"""What the pipeline tells the host: a meeting's e-mails, recorded and sent through the outbox, and the failure
notice of a meeting given up on, here or by another service (:class:`Notices`, the pipeline's base class).

One failure notice per meeting and generation, under one outbox key, whoever failed the meeting and however often;
a report the outbox has sent (now or before) moves the meeting to ``notified``. A re-run that fails after an earlier
generation of its meeting finished sends that generation's report instead (:meth:`Notices.stand_in`,
:mod:`zoomsymbl_notifier.generations`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from zoomsymbl_common.events import MeetingFailed
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.part_plans import plan_of
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.mail import MailKind, compose, envelope_for, mail_domain, message_id
from zoomsymbl_notifier.meetings import MeetingFacts, Meetings
from zoomsymbl_notifier.outbox import MailKey, Outbox, Outcome
from zoomsymbl_notifier.report import Report, failure_notice, stage_text
from zoomsymbl_notifier.settings import Settings

log = logging.getLogger("zoomsymbl.notifier.pipeline")
SERVICE = "notifier"


@dataclass(kw_only=True)
class Notices:
    """The e-mails of the notifier's flow (:class:`~zoomsymbl_notifier.pipeline.Pipeline` is one)."""

    settings: Settings
    meetings: Meetings
    outbox: Outbox
    # Called once a meeting is known failed here, with the service that failed it and the stage (a metric).
    count_failure: Callable[[str, str], None] = lambda _service, _stage: None

    async def fail_meeting(self, job: JobRecord, tenant: TenantConfig, stage: str, reason: str) -> None:
        """Mark the meeting failed and send the failure notice once (when the tenant wants one)."""
        # A consumer's give-up reason quotes an exception as it was (a presigned URL, a token): the
        # stored copy, the log line and the e-mail all get it scrubbed.
        reason = scrub(reason)
        moved = await self.meetings.fail(job.tenant, job.meeting_uuid, job.generation, stage, reason)
        if not moved and not await self._still_failing(job):
            return
        log.warning("meeting failed", extra={**job_fields(job), "stage": stage, "reason": reason})
        self.count_failure(SERVICE, stage)
        await self._notify_failure(mail_key(job, "failure"), tenant, stage_text(SERVICE, stage), reason)

    async def _still_failing(self, job: JobRecord) -> bool:
        """A failure of ``job`` that did not move its meeting still tells the host, unless the meeting left
        ``job``'s generation (re-run while the job was at the provider: "Processing failed" while the new generation
        runs) or completed in it with another plan (reported, or being: that report is the story; the meeting may
        have moved on after the part was judged failing) or with ``job``'s own plan whose report is recorded. A job of
        the plan kept whose report is not recorded is its report's run given up (a bug on the meeting's data, round
        after round): without the notice the host heard nothing. Failed already (by the mixer, or by an earlier
        delivery) is the same meeting: its notice is the one the outbox keeps."""
        now = await self.meetings.position(job.tenant, job.meeting_uuid)
        if now is not None and now.generation > job.generation:
            log.info("job of an earlier generation given up, meeting re-run since: no notice", extra=job_fields(job))
            return False
        joined = now.joined_plan(job.generation) if now is not None else None
        if joined is not None and (joined != plan_of(job) or await self.outbox.exists(mail_key(job, "report"))):
            log.info("part failed, meeting completed in this generation: its report, no notice", extra=job_fields(job))
            return False
        return True

    async def on_meeting_failed(self, event: MeetingFailed, tenant: TenantConfig) -> None:
        """Send the failure notice of a meeting the mixer or submitter gave up on, once.

        Only while the meeting is still failed in that generation: a replayed or late event about a
        meeting that was re-run since (or re-mixed after a new webhook) e-mails nobody.
        """
        ids = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "generation": event.generation}
        if not await self.meetings.is_failed(event.tenant, event.meeting_uuid, event.generation):
            log.info("meeting is not failed in this generation, no notice", extra={**ids, "service": event.service})
            return
        self.count_failure(event.service, event.stage)
        key = MailKey(event.tenant, event.meeting_uuid, event.generation, "failure")
        await self._notify_failure(key, tenant, stage_text(event.service, event.stage), event.reason)

    async def _notify_failure(self, key: MailKey, tenant: TenantConfig, stage: str, reason: str) -> None:
        # Before the tenant's choice of notices: a report standing in is a report, owed whatever that choice.
        if await self.stand_in(key, tenant) or not tenant.failure_notice:
            return
        facts = await self.meetings.facts(key.tenant, key.meeting_uuid)
        await self._mail(key, tenant, facts, failure_notice(facts, key.generation, reason, stage))

    async def stand_in(self, failure: MailKey, tenant: TenantConfig) -> bool:
        """Send, instead of the notice ``failure``, the report of an earlier generation that finished; True when one
        stands in. Here none does: the pipeline, which knows the jobs, overrides it (:meth:`Assembly.stand_in`)."""
        return False

    async def deliver(self, key: MailKey) -> None:
        """Send a recorded e-mail now if due; a sent report moves the meeting to ``notified``."""
        await self._delivered(key, await self.outbox.deliver(key))

    async def _delivered(self, key: MailKey, outcome: Outcome) -> None:
        if outcome in ("sent", "already_sent") and key.kind == "report":
            await self.meetings.advance(key.tenant, key.meeting_uuid, key.generation, "notified")

    async def _mail(
        self, key: MailKey, tenant: TenantConfig, facts: MeetingFacts, report: Report, extra: Document | None = None
    ) -> None:
        envelope = envelope_for(self.settings.mail_from, facts, tenant)
        domain = mail_domain(self.settings.mail_from)
        msg_id = message_id(key.tenant, key.meeting_uuid, key.generation, key.kind, domain)
        raw = compose(report, envelope, msg_id) if envelope.recipients else None
        if not envelope.recipients:
            log.warning(
                "no valid recipient, e-mail skipped",
                extra={"tenant": key.tenant, "meeting_uuid": key.meeting_uuid, "generation": key.generation,
                       "kind": key.kind},
            )  # fmt: skip
        await self._delivered(key, await self.outbox.send(key, envelope, msg_id, raw, extra=extra))


def mail_key(job: JobRecord, kind: MailKind) -> MailKey:
    """The outbox key of ``job``'s meeting's e-mail of ``kind`` in its generation."""
    return MailKey(job.tenant, job.meeting_uuid, job.generation, kind)


def job_fields(job: JobRecord) -> dict[str, object]:
    """``job``'s identity as log fields."""
    return {
        "tenant": job.tenant,
        "meeting_uuid": job.meeting_uuid,
        "generation": job.generation,
        "job_id": job.job_id,
        "part_index": job.part_index,
    }
