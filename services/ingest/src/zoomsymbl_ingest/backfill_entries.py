"""One entry a backfill listed, published through the intake as its webhook would have been.

A meeting's recording details are fetched first (the listing lacks the download URLs); a Zoom Phone
recording's entry is the event. An entry no event can be built of is counted and the run goes on; our own
servers not answering (Kafka, MongoDB) stop the run, since every entry after it would fail the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from zoomsymbl_common.errors import InfrastructureUnavailable, ZoomsymblError
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject

from zoomsymbl_ingest.backfill_report import MeetingResult
from zoomsymbl_ingest.backfill_users import Retrying
from zoomsymbl_ingest.intake import Intake, host_allowed
from zoomsymbl_ingest.paging import listed_id
from zoomsymbl_ingest.phone_payload import phone_owner, phone_recording_completed
from zoomsymbl_ingest.zoom_payload import PayloadError, host_of, recording_completed

log = logging.getLogger("zoomsymbl.ingest.backfill")


@dataclass(frozen=True)
class EntryImport:
    """Publishes a listed meeting or phone recording of ``tenant``; the result is what the report counts."""

    intake: Intake
    tenant: TenantConfig
    client: ZoomClient
    retrying: Retrying[JsonObject]

    async def meeting(self, meeting: JsonObject) -> MeetingResult:
        uuid = listed_id(meeting.get("uuid"))
        try:
            return await self._import(meeting)
        except (InfrastructureUnavailable, TimeoutError):
            # Kafka (or MongoDB) did not answer: every meeting after this one would spend a Zoom call and
            # fail the same way. The run stops (the next run, or the periodic round, takes it up again).
            raise
        except ZoomsymblError as exc:
            self._count_invalid(exc)
            log.warning(
                "backfill of a meeting failed",
                extra={"tenant": self.tenant.id, "meeting_uuid": uuid, "error": f"{type(exc).__name__}: {exc}"},
            )
            return "failed"

    async def _import(self, meeting: JsonObject) -> MeetingResult:
        uuid = listed_id(meeting.get("uuid"))
        if not uuid:
            raise PayloadError("listed meeting has no uuid (or one no UTF-8 holds)", field="uuid")
        if not host_allowed(self.tenant, *host_of(meeting)):
            self.intake.metrics.ignore("user_not_allowed")
            return "skipped"
        if await self.intake.meeting_seen(self.tenant.id, uuid):
            self.intake.metrics.duplicate("backfill")
            return "skipped"
        details = await self.retrying(partial(self.client.get_meeting_recordings, uuid))
        if details.get("uuid", uuid) != uuid:
            # The detail of another meeting: never publish it under (or instead of) the listed one.
            raise PayloadError("the recording details name another meeting than the listing", field="uuid")
        # The listing may know fields the detail lacks (and vice versa); the detail wins.
        merged = {**meeting, **details}
        if not host_allowed(self.tenant, *host_of(merged)):
            self.intake.metrics.ignore("user_not_allowed")
            return "skipped"
        event = recording_completed(self.tenant.id, merged, source="backfill", account_id=self.tenant.zoom_account_id)
        outcome = await self.intake.accept(event)
        if outcome == "published":
            log.info(
                "backfill published a recording",
                extra={"tenant": self.tenant.id, "meeting_uuid": uuid, "event_id": event.event_id},
            )
            return "new"
        return "skipped"

    async def phone_recording(self, entry: JsonObject) -> MeetingResult:
        try:
            if not host_allowed(self.tenant, *phone_owner(entry)):
                self.intake.metrics.ignore("user_not_allowed")
                return "skipped"
            event = phone_recording_completed(
                self.tenant.id, entry, source="backfill", account_id=self.tenant.zoom_account_id
            )
            if await self.intake.meeting_seen(self.tenant.id, event.meeting_uuid):
                self.intake.metrics.duplicate("backfill")
                return "skipped"
            outcome = await self.intake.accept(event)
        except (InfrastructureUnavailable, TimeoutError):
            raise  # our own servers: the run stops, as for a meeting
        except ZoomsymblError as exc:
            # An entry no event can be built of (PayloadError) is counted and skipped: the run goes on.
            self._count_invalid(exc)
            recording = str(entry.get("id"))[:128]
            log.warning(
                "backfill of a phone recording failed",
                extra={"tenant": self.tenant.id, "recording": recording, "error": f"{type(exc).__name__}: {exc}"},
            )
            return "failed"
        if outcome == "published":
            log.info(
                "backfill published a phone recording",
                extra={"tenant": self.tenant.id, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id},
            )
            return "new"
        return "skipped"

    def _count_invalid(self, exc: Exception) -> None:
        if isinstance(exc, PayloadError):
            self.intake.metrics.invalid_recording("backfill")
