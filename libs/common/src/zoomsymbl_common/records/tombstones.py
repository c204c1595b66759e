"""The ``tombstones`` document: a meeting erased for good (``zoomsymbl forget``), so nothing brings it back.

Kafka keeps a meeting's events for ``topics.retentionMs``, Zoom retries its webhooks and keeps the cloud
recording, and a backfill or a replay publishes them again: the tombstone is what the mixer and
``zoomsymbl replay`` look up before any work, one indexed read of ``tombstone_unique``. It holds the
meeting's key and dates, and the provider copies still to delete (ids only), never content. It is kept
for good: the events that could bring the meeting back have no end date the archive knows of.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from zoomsymbl_common.events import Provider
from zoomsymbl_common.records.base import Key, MeetingUuid, Record, Tenant


class ProviderCopy(Record):
    """A provider's copy of the meeting still to delete: an AssemblyAI transcript or a Symbl conversation."""

    provider: Provider
    copy_id: Key = Field(min_length=1, description="AssemblyAI's transcript id, Symbl's conversation id.")


class Tombstone(Record):
    """A forgotten meeting (the unique index ``tombstone_unique`` keys it by tenant and UUID)."""

    tenant: Tenant
    meeting_uuid: MeetingUuid
    forgotten_at: datetime = Field(description="When ``zoomsymbl forget --yes`` first ran for the meeting.")
    erased_at: datetime | None = Field(None, description="When a run last finished erasing the local copies.")
    provider_copies: list[ProviderCopy] = Field(
        default_factory=list, max_length=10_000, description="Provider copies whose deletion has not succeeded yet."
    )


__all__ = ["ProviderCopy", "Tombstone"]
