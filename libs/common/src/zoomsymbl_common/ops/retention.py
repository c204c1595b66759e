"""Retention: the meetings a tenant keeps no longer than ``retention_days``, erased as ``zoomsymbl forget`` erases one.

A tenant's ``retention_days`` (none: kept for ever) makes every meeting whose ``meetings`` document was created more
than that many days ago *expired* (its ``created_at``; one without it as a date: its ObjectId's time), and so every
record reconciliation flagged ("never archived", a Zoom Phone call's ``phone-call:`` record) more than that many
days ago. A meeting whose tombstone still lists a provider copy (an erase a provider stopped) is taken up again,
before the expired ones: its documents are gone, so its age is no longer read anywhere else. An expired meeting is
forgotten exactly as ``zoomsymbl forget --yes`` forgets one (:func:`~zoomsymbl_common.ops.forget.forget`):
tombstone, objects, documents, the provider's copy. One still in flight (not notified or failed, a provider job or
an e-mail unfinished: :attr:`Holdings.in_flight`) is kept for a later run; a provider copy that could not be deleted
stays on the tombstone, and the next run deletes it. One whose documents name a bucket that cannot be read (a name
no S3 bucket has) is left whole and reported in :attr:`TenantSweep.failed`; the run goes on with the next.

A run erases at most ``limit`` expired meetings per tenant, oldest first (a first run on a large archive is
spread over several); :class:`TenantSweep` says how many are left. A meeting kept (in flight, a bucket unreadable) does
not count against ``limit``: it is looked at again by every run, and the meetings behind it are erased meanwhile. A
meeting written to again while it was erased (a webhook's retry) is reported with what was left
(:attr:`TenantSweep.stored_again`): ``zoomsymbl erasures --yes`` erases it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.ops.forget import buckets_named, forget, survey
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, TOMBSTONES
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig

MAX_LIMIT = 10_000
UNFINISHED = datetime.min.replace(tzinfo=UTC)
"""The sort key of an erase a provider stopped: before every expired meeting (its local erase is done already)."""


@dataclass
class TenantSweep:
    """One tenant's run: what expired, what was erased or kept, and why."""

    tenant: str
    retention_days: int | None
    cutoff: datetime | None = None
    expired: int = 0
    """Expired meetings and flagged records found (all of them, not only this run's ``limit``)."""
    erased: int = 0
    in_flight: list[str] = field(default_factory=list)
    """Expired but still being processed: kept for a later run."""
    provider_copies_left: list[str] = field(default_factory=list)
    """Erased here, their provider copy not (``provider id``): on the tombstone for the next run."""
    left_for_next_run: int = 0
    keys: list[str] = field(default_factory=list)
    """This run's expired meetings (UUIDs), oldest first."""
    failed: dict[str, str] = field(default_factory=dict)
    """Expired, and not erased (UUID → why): a bucket its documents name cannot be read. Nothing of it deleted."""
    stored_again: dict[str, int] = field(default_factory=dict)
    """Erased, and written to during the erase (UUID → documents and objects found after it)."""

    @property
    def taken(self) -> int:
        """This run's meetings erased, or in a dry run to be: those not kept (in flight, or a bucket unreadable).
        What ``limit`` counts."""
        return len(self.keys) - len(self.in_flight) - len(self.failed)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: counts, the cutoff, the meeting UUIDs (ids, no contents)."""
        return {
            "tenant": self.tenant,
            "retention_days": self.retention_days,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "expired": self.expired,
            "erased": self.erased,
            "in_flight": list(self.in_flight),
            "provider_copies_left": list(self.provider_copies_left),
            "left_for_next_run": self.left_for_next_run,
            "meetings": list(self.keys),
            "failed": [{"meeting_uuid": uuid, "reason": why} for uuid, why in self.failed.items()],
            "stored_again": [{"meeting_uuid": uuid, "stored": n} for uuid, n in self.stored_again.items()],
        }


async def expired(mongo: Mongo, tenant: str, cutoff: datetime) -> list[str]:
    """The tenant's expired meetings and flagged records, oldest first.

    A meeting by its document's ``created_at`` (``updated_at`` for documents older than that field, the ObjectId's
    time for one holding neither as a date: :func:`_aged`); a
    reconciliation record of a meeting without a ``meetings`` document holding either as a date by ``reconciled_at``;
    first, every meeting whose tombstone still lists a provider copy to delete (a run the provider stopped: "the next
    run asks again").
    """
    before = {"$lt": cutoff}
    meetings = mongo.db[MEETINGS].find(
        {"tenant": tenant, **_aged(before, {"$lt": ObjectId.from_datetime(cutoff)})},
        {"meeting_uuid": 1, "created_at": 1, "updated_at": 1},
    )
    found: dict[str, datetime] = {}
    for doc in await guarded(meetings.to_list(None)):
        uuid = doc.get("meeting_uuid")
        if isinstance(uuid, str) and uuid:
            found[uuid] = _age(doc) or cutoff
    flags = mongo.db[CONVERSATIONS].find(
        {"tenant": tenant, "reconciled_at": {"$lt": cutoff}}, {"meeting_uuid": 1, "reconciled_at": 1}
    )
    flagged: dict[str, datetime] = {}
    for doc in await guarded(flags.to_list(None)):
        uuid = doc.get("meeting_uuid")
        if isinstance(uuid, str) and uuid and uuid not in found:
            flagged[uuid] = doc.get("reconciled_at") or cutoff
    arrived = await _arrived(mongo, tenant, flagged)
    found |= {uuid: at for uuid, at in flagged.items() if uuid not in arrived}
    unfinished = mongo.db[TOMBSTONES].find(
        {"tenant": tenant, "provider_copies": {"$exists": True, "$ne": []}}, {"meeting_uuid": 1}
    )
    for doc in await guarded(unfinished.to_list(None)):
        uuid = doc.get("meeting_uuid")
        if isinstance(uuid, str) and uuid:
            found[uuid] = UNFINISHED
    return sorted(found, key=lambda uuid: (found[uuid], uuid))


_UNDATED = {"created_at": {"$not": {"$type": "date"}}, "$nor": [{"created_at": None, "updated_at": {"$type": "date"}}]}
"""The ``meetings`` documents holding no date to age them by (ours always set ``created_at``: a hand edit, another
writer, a restore from elsewhere)."""


def _aged(dated: dict[str, Any], by_id: dict[str, Any]) -> dict[str, Any]:
    """The ``meetings`` documents whose age passes ``dated``: ``created_at``, or ``updated_at`` in a document older
    than that field (``created_at`` missing or null); one holding neither as a date by when its ObjectId ``_id`` was
    made (the document's creation, kept by edits and restores), passing ``by_id``. A date compares only with a date,
    an ObjectId only with an ObjectId: a document with neither (a hand-made ``_id``) passes no test."""
    return {"$or": [{"created_at": dated}, {"created_at": None, "updated_at": dated}, {**_UNDATED, "_id": by_id}]}


def _age(doc: dict[str, Any]) -> datetime | None:
    """The date :func:`_aged` ages ``doc`` by."""
    created, updated, key = doc.get("created_at"), doc.get("updated_at"), doc.get("_id")
    if isinstance(created, datetime):
        return created
    if created is None and isinstance(updated, datetime):
        return updated
    return key.generation_time if isinstance(key, ObjectId) else None


async def _arrived(mongo: Mongo, tenant: str, flagged: dict[str, datetime]) -> set[str]:
    """Which of the ``flagged`` meetings reached the archive since (a ``meetings`` document, younger than the cutoff
    or :func:`expired` would have found it): the meeting's own age decides, not reconciliation's old record.

    Only a document :func:`expired` can date counts (its age decides, once it is old enough). One it cannot date (no
    date, no ObjectId) would never be old enough: its flag's age decides, else nothing would ever expire it."""
    if not flagged:
        return set()
    query = {
        "tenant": tenant,
        "meeting_uuid": {"$in": sorted(flagged)},
        **_aged({"$type": "date"}, {"$type": "objectId"}),
    }
    docs = await guarded(mongo.db[MEETINGS].find(query, {"meeting_uuid": 1}).to_list(None))
    return {str(doc.get("meeting_uuid")) for doc in docs}


async def sweep(
    mongo: Mongo,
    stores: Callable[[set[str]], list[ObjectStore]],
    tenant: TenantConfig,
    now: datetime,
    *,
    limit: int,
    erase: bool,
) -> TenantSweep:
    """Find ``tenant``'s expired meetings at ``now`` and, when ``erase``, forget each one not in flight.

    ``stores`` gives the object stores of the buckets a meeting's documents name (the configured one always: alone,
    for no bucket named, it is where the erasure log is)."""
    result = TenantSweep(tenant.id, tenant.retention_days)
    if tenant.retention_days is None:
        return result
    result.cutoff = now - timedelta(days=tenant.retention_days)
    ordered = await expired(mongo, tenant.id, result.cutoff)
    result.expired = len(ordered)
    for uuid in ordered:
        if result.taken == limit:
            break
        result.keys.append(uuid)
        named = stores(await buckets_named(mongo, tenant.id, uuid))
        holdings = await survey(mongo, named, tenant.id, uuid)
        if holdings.unusable_buckets:
            result.failed[uuid] = "; ".join(
                f"bucket {bucket!r} cannot be read: {why}" for bucket, why in holdings.unusable_buckets.items()
            )
            continue
        if holdings.in_flight:
            result.in_flight.append(uuid)
            continue
        if not erase:
            continue
        done = await forget(mongo, named, holdings, now, log=stores(set())[0])
        result.erased += 1
        result.provider_copies_left += [f"{o.copy.provider} {o.copy.copy_id}" for o in done.failed]
        if done.left.stored:
            result.stored_again[uuid] = done.left.stored
    result.left_for_next_run = result.expired - len(result.keys)
    return result
