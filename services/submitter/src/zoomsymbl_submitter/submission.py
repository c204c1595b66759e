"""Submitting a mixed file: its parts, each submitted once (:mod:`zoomsymbl_submitter.part_submission`: limiter
slot, claim, provider call, job document, event), the meeting marked ``submitted``.

A provider that rejects the submission (:class:`PoisonInputError` at stage ``submit``) of a meeting whose
``AudioMixed`` names Zoom's transcript does not fail the meeting: it is submitted to the ``zoom`` source
instead, its job carrying the provider's reason (``fallback_reason``) for the report's source line. Only
for a single-part meeting: the parts of a split one may already be accepted by the provider, and the
notifier joins the parts of one meeting and generation, so a second, whole transcript would never join.
A redelivery finds the rejection stored and takes the same way to the same (idempotent) zoom job. A
provider job that fails later is the notifier's to fall back (``zoomsymbl_notifier.fallback``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from zoomsymbl_common.errors import ConfigError, PoisonInputError
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.providers.zoom_transcript import FALLBACK_REASON_LIMIT
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_common.tenants import TenantConfig, Tenants

from zoomsymbl_submitter import plan
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.downmix import Downmixer
from zoomsymbl_submitter.generations import (
    GenerationSuperseded,
    announce_stored,
    log_superseded,
    newer_generation,
    remove_leftovers,
)
from zoomsymbl_submitter.generations import Publish as Publish
from zoomsymbl_submitter.generations import Report as Report
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.part_submission import PartSubmission, Target
from zoomsymbl_submitter.parts import Part, PartPlanner
from zoomsymbl_submitter.pools import LimiterPool

log = logging.getLogger("zoomsymbl.submitter")


def check_location(event: AudioMixed, bucket: str) -> None:
    """The event's audio must be the mixer's file of that very tenant and meeting, in our bucket.

    Events are input like any other: whoever can write to Kafka must not get another tenant's audio (or
    any object) transcribed and mailed by naming its bucket and key.
    """
    prefix = f"mixed/{event.tenant}/{meeting_key(event.meeting_uuid)}."
    if event.bucket != bucket:
        raise PoisonInputError(f"audio.mixed names bucket {event.bucket!r}, not {bucket!r}", stage="validate")
    rest = event.object_key.removeprefix(prefix)
    if rest == event.object_key or not rest or "/" in rest or ".." in rest:
        raise PoisonInputError(
            f"audio.mixed names object {event.object_key!r}, not the mixed file of its own meeting", stage="validate"
        )


@dataclass
class Submitter(PartSubmission):
    """The submitter's domain flow, with its collaborators injected (each part's: :class:`PartSubmission`)."""

    tenants: Tenants
    providers: ProviderPool
    limiters: LimiterPool
    jobs: JobStore
    meetings: MeetingStore
    planner: PartPlanner
    audio: AudioSource
    callbacks: plan.CallbackConfig
    publish: Publish
    metrics: SubmitterMetrics
    acquire_timeout: float = 30.0
    downmixer: Downmixer | None = None
    # Where a job that finished at submission (the zoom source) is reported; else the sweeper finds it.
    report: Report | None = None

    async def on_audio_mixed(self, event: AudioMixed) -> None:
        """Submit every part of ``event``'s mixed file exactly once and advance the meeting.

        An event of a generation the meeting has left submits nothing, every delivery of one generation submits
        the parts first planned for it (:meth:`~zoomsymbl_submitter.parts.PartPlanner.generation_parts`), and what
        earlier plans left in S3 is deleted once the submission is done (:mod:`zoomsymbl_submitter.generations`).
        """
        target = self._target(event)
        check_location(event, self.audio.bucket)
        at, marked = await self.meetings.generation_and_submitter(event)
        current = newer_generation(at, event)
        if current is not None:
            announced = await announce_stored(event, self.jobs, self.publish, self.report, self.metrics)
            self.metrics.submissions.labels(target.provider.name, "superseded").inc()
            log_superseded(event, current, announced)
            return
        if marked is not None and marked != target.provider.name:
            await self._submitted_already(event, target, marked)
            return
        if target.provider.name == "zoom" and plan.transcript_key(event) is None:
            # Zoom sends its transcript after the recording; the mixer announces the mix again with it.
            log.info(
                "waiting for zoom's transcript", extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid}
            )
            await self.meetings.note_transcript_wait(event)  # failed with a notice past the deadline: transcript_wait
            return
        try:
            keep = await self._submit_meeting(event, target)
        except GenerationSuperseded as exc:
            log_superseded(event, exc.current, 0)  # counted where the part gave its slot back
            return
        await remove_leftovers(event, keep, self.meetings, self.jobs, self.planner)

    async def _submitted_already(self, event: AudioMixed, target: Target, marked: str) -> None:
        """``event``'s generation was submitted whole under ``marked`` (every part went in, the meeting marked), and
        the tenant's provider is another one now: a redelivery (the first delivery died before its offset was
        committed) or a replay without ``--force``. Submitted again, the recording went to a second provider, paid
        twice, and the record the report and the meeting page join changed under them. Its stored jobs are announced
        again instead (as for any redelivery); ``zoomsymbl replay --force`` runs it under the new provider."""
        announced = await announce_stored(event, self.jobs, self.publish, self.report, self.metrics)
        log.warning(
            "generation submitted already under another provider, not submitted again",
            extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "generation": event.generation,
                   "provider": target.provider.name, "submitted_with": marked, "jobs_announced": announced},
        )  # fmt: skip

    async def _submit_meeting(self, event: AudioMixed, target: Target) -> set[str]:
        """Every part submitted, the meeting marked ``submitted``; the objects the submission reads."""
        mixed = event
        if self.downmixer is not None:
            # Symbl takes two channels at most: then the parts are cut from the mono mix.
            event = await self.downmixer.prepare(event, target.provider.name)
        parts = await self._parts(event, target)
        if len(parts) > 1:
            self.metrics.parts.inc(len(parts))
        try:
            for part in parts:
                await self.submit_part(event, target, part)
        except PoisonInputError as exc:
            if not self._may_fall_back(mixed, target, len(parts), exc):
                raise
            return await self._fall_back(mixed, target, exc.reason)
        await self.meetings.mark_submitted(event, target.provider.name, len(parts))
        return {mixed.object_key, event.object_key, *(part.object_key for part in parts)}

    async def _parts(self, event: AudioMixed, target: Target) -> list[Part]:
        """The parts of ``event``'s generation: the plan first stored for it, whatever the limits say now."""
        stored = await self.meetings.generation_plan(event)
        return await self.planner.generation_parts(event, target.provider.limits, stored)

    def _may_fall_back(self, event: AudioMixed, target: Target, part_count: int, exc: PoisonInputError) -> bool:
        """The provider rejected a single-part meeting whose event names Zoom's transcript."""
        return (
            exc.stage == "submit"
            and target.provider.name != "zoom"
            and part_count == 1
            and plan.transcript_key(event) is not None
        )

    async def _fall_back(self, event: AudioMixed, failed: Target, reason: str) -> set[str]:
        """Submit the meeting to the ``zoom`` source because ``failed``'s provider rejected it."""
        why = scrub(f"{failed.provider.name} rejected the submission: {reason}", FALLBACK_REASON_LIMIT)
        log.warning(
            "provider rejected the submission, using zoom's transcript",
            extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "reason": why},
        )
        target = dataclasses.replace(self._zoom_target(failed.tenant), fallback_reason=why)
        parts = await self._parts(event, target)
        for part in parts:
            await self.submit_part(event, target, part)
        await self.meetings.mark_submitted(event, target.provider.name, len(parts))
        return {event.object_key, *(part.object_key for part in parts)}

    def _zoom_target(self, tenant: TenantConfig) -> Target:
        """``tenant``'s meeting on Zoom's transcript (no provider account: its limiter is the zoom one)."""
        zoom = tenant.model_copy(update={"provider": "zoom"})
        account_key = self.providers.account_key(zoom)
        return Target(zoom, self.providers.get(zoom), account_key, self.limiters.get(account_key))

    def _target(self, event: AudioMixed) -> Target:
        tenant = self.tenants.get(event.tenant)
        if tenant is None:
            raise PoisonInputError(f"unknown tenant {event.tenant!r}", stage="submit")
        try:
            provider = self.providers.get(tenant)
        except ConfigError as exc:
            if plan.transcript_key(event) is None:
                # Every meeting of this tenant fails the same way until an operator fixes the config.
                raise PoisonInputError(f"tenant {tenant.id!r} cannot submit: {exc}", stage="config") from exc
            # No usable provider, but Zoom's transcript is there: this meeting runs on the zoom source.
            log.warning(
                "provider not configured, using zoom's transcript",
                extra={"tenant": tenant.id, "meeting_uuid": event.meeting_uuid, "reason": str(exc)},
            )
            return self._zoom_target(tenant)
        account_key = self.providers.account_key(tenant)
        return Target(tenant, provider, account_key, self.limiters.get(account_key))
