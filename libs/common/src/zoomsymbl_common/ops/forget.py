"""What is stored of one meeting, and erasing it for good: the tombstone first, then the objects, then the documents.

Every collection of :mod:`zoomsymbl_common.records` is in :data:`ERASED` (it holds documents of a meeting,
found by its tenant and UUID or through its jobs and e-mails) or in :data:`KEPT` (with the reason it holds
nothing of one): a new collection must be placed in one of them (``tests/common/test_ops_forget.py``).
The tombstone is written before anything is deleted, so a service that looks for it (the mixer, ``zoomsymbl
replay``) stops bringing the meeting back from the moment the erase starts; it lists the provider copies still
to delete, so a run that could not reach a provider leaves them to the next one. Counts only, never contents.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import INDEXES, Document, Mongo, guarded
from zoomsymbl_common.ops.forget_log import Erasure, log_erasure
from zoomsymbl_common.ops.forget_objects import PrefixCount, UnusableBucket, count, delete, meeting_prefixes
from zoomsymbl_common.ops.forget_providers import CopyOutcome, delete_copies
from zoomsymbl_common.records import (
    CONSUMER_ATTEMPTS,
    CONVERSATIONS,
    EARLY_CALLBACKS,
    EMAIL_CLAIMS,
    EMAILS,
    INSIGHTS,
    JOB_CLAIMS,
    JOBS,
    LIMITER,
    LIMITER_TICKS,
    MEETINGS,
    RECEIPTS,
    SECRETS,
    TERMINAL,
    TOMBSTONES,
    TRANSCRIPTION_CHECKPOINTS,
    TRANSCRIPTIONS,
    ZOOM_QUOTA,
    ProviderCopy,
    Tombstone,
    meeting_key,
)
from zoomsymbl_common.storage import ObjectStore

ERASED: tuple[str, ...] = (
    JOB_CLAIMS, EARLY_CALLBACKS, TRANSCRIPTION_CHECKPOINTS, TRANSCRIPTIONS, EMAIL_CLAIMS,
    JOBS, INSIGHTS, EMAILS, CONVERSATIONS, RECEIPTS, SECRETS, MEETINGS,
)  # fmt: skip
"""The collections holding a meeting's documents, in the order they are deleted: what is found through a job
(its claims, early callbacks, self-hosted transcription and its checkpoints) before the job, the meeting document
last."""
KEPT: dict[str, str] = {
    TOMBSTONES: "the tombstone itself: tenant, UUID, dates and provider ids, kept so nothing brings the meeting back",
    LIMITER: "job slots hold a job's digest and times, no meeting data; a slot whose job is gone is reclaimed",
    LIMITER_TICKS: "spent rate-limit ticks of a provider account, no meeting data",
    ZOOM_QUOTA: "spent Zoom API request slots of an account, no meeting data",
    CONSUMER_ATTEMPTS: "attempt counts keyed by a digest of service, topic and event id; dropped once a message is"
    " handled, 7 days at most",
}
"""The collections left alone, and why."""
REMOTE = ("assemblyai", "symbl")
"""The providers that keep a copy of a meeting (``whisper`` and ``zoom`` jobs are documents of ours)."""
UNFINISHED_MAIL = ("pending", "sending")
ENDED_JOB = (*sorted(TERMINAL), "rejected")


@dataclass
class Holdings:
    """What is stored of one meeting: documents per collection, objects per prefix, provider copies, in-flight signs."""

    tenant: str
    meeting_uuid: str
    documents: dict[str, int]
    objects: list[PrefixCount]
    copies: list[ProviderCopy]
    in_flight: list[str] = field(default_factory=list)
    tombstone: Tombstone | None = None
    unusable_buckets: dict[str, str] = field(default_factory=dict)
    """Buckets its documents name that cannot be read (name → why): nothing of the meeting is erased while there
    is one, since objects of it there (a bucket S3 once allowed such a name) would be left with nothing naming them."""

    @property
    def stored(self) -> int:
        """Documents and objects left, all together."""
        return sum(self.documents.values()) + sum(prefix.objects for prefix in self.objects)

    @property
    def unknown(self) -> bool:
        """Nothing of the meeting is stored and it was never forgotten: no such meeting."""
        return self.stored == 0 and not self.copies and self.tombstone is None


@dataclass(frozen=True)
class _Linked:
    """What the meeting's documents name: job refs, provider job ids, the copies to delete, the buckets."""

    refs: list[str]
    job_ids: list[str]
    copies: list[ProviderCopy]
    buckets: set[str]
    unfinished_jobs: int


# The end of the string in MongoDB's $regex (PCRE; FerretDB's Go regexp too): `$` matches before a final newline
# as well, so a meeting "A" would find the claims of a meeting "A\n".
END = "\\z"


def _regex(pattern: str) -> Document:
    return {"$regex": pattern}


def filters(tenant: str, meeting_uuid: str, linked: _Linked) -> dict[str, Document | None]:
    """The filter of the meeting's documents in each collection of :data:`ERASED` (None: nothing to look for)."""
    key = meeting_key(tenant, meeting_uuid)
    # email_claims: "{tenant}|{kind}|{generation}|{attempt}|{meeting_uuid}" (the notifier's MailKey.claim_id).
    claims = f"^{re.escape(tenant)}\\|[^|]*\\|[0-9]+\\|[0-9]+\\|{re.escape(meeting_uuid)}{END}"
    mixed = meeting_prefixes(tenant, meeting_uuid)[1]
    transcriptions: list[Document] = [{"object_key": _regex(f"^{re.escape(mixed)}")}]
    # A checkpoint names its job and the job's audio, as the job does: found by either, even once the job is gone.
    checkpoints: list[Document] = [{"object_key": _regex(f"^{re.escape(mixed)}")}]
    if linked.job_ids:
        transcriptions.insert(0, {"_id": {"$in": linked.job_ids}})
        checkpoints.insert(0, {"job_id": {"$in": linked.job_ids}})
    refs = "|".join(re.escape(ref) for ref in linked.refs)
    found: dict[str, Document | None] = {name: key for name in ERASED}
    found[EMAIL_CLAIMS] = {"_id": _regex(claims)}
    found[TRANSCRIPTIONS] = {"$or": transcriptions}
    found[TRANSCRIPTION_CHECKPOINTS] = {"$or": checkpoints}
    found[JOB_CLAIMS] = {"_id": _regex(f"^(?:{refs})#[0-9]+{END}")} if refs else None
    found[EARLY_CALLBACKS] = {"_id": {"$in": linked.refs}} if linked.refs else None
    return found


async def _linked(mongo: Mongo, tenant: str, meeting_uuid: str, tombstone: Tombstone | None) -> _Linked:
    key = meeting_key(tenant, meeting_uuid)
    fields = {"provider": 1, "job_id": 1, "conversation_id": 1, "status": 1, "bucket": 1}
    jobs = await guarded(mongo.db[JOBS].find(key, fields).to_list(None))
    copies = list(tombstone.provider_copies if tombstone else [])
    for job in jobs:
        # AssemblyAI's transcript id is the job's and the conversation's; Symbl deletes by conversation id.
        copy_id, provider = job.get("conversation_id") or job.get("job_id"), job.get("provider")
        found = ProviderCopy(provider=provider, copy_id=copy_id) if copy_id and provider in REMOTE else None
        if found is not None and found not in copies:
            copies.append(found)
    buckets = {str(job["bucket"]) for job in jobs if job.get("bucket")}
    meeting = await guarded(mongo.db[MEETINGS].find_one(key, {"objects.mixed.bucket": 1}))
    mixed = ((meeting or {}).get("objects") or {}).get("mixed") or {}
    buckets |= {str(mixed["bucket"])} if mixed.get("bucket") else set()
    return _Linked(
        refs=[str(job["_id"]) for job in jobs],
        job_ids=[str(job["job_id"]) for job in jobs if job.get("job_id")],
        copies=copies,
        buckets=buckets,
        unfinished_jobs=sum(job.get("status") not in ENDED_JOB for job in jobs),
    )


async def read_tombstone(mongo: Mongo, tenant: str, meeting_uuid: str) -> Tombstone | None:
    """The meeting's tombstone, or None when it was never forgotten."""
    doc = await guarded(mongo.db[TOMBSTONES].find_one(meeting_key(tenant, meeting_uuid)))
    return Tombstone.from_document(doc) if doc is not None else None


async def is_forgotten(mongo: Mongo, tenant: str, meeting_uuid: str) -> bool:
    """True when ``zoomsymbl forget --yes`` ran for the meeting (one read of the unique index)."""
    return await guarded(mongo.db[TOMBSTONES].find_one(meeting_key(tenant, meeting_uuid), {"_id": 1})) is not None


async def survey(mongo: Mongo, stores: Iterable[ObjectStore], tenant: str, meeting_uuid: str) -> Holdings:
    """What is stored of the meeting, counted; ``stores``: the configured bucket's (more are added from documents).

    A bucket whose name is no S3 bucket's is not counted but noted in :attr:`Holdings.unusable_buckets`."""
    tombstone = await read_tombstone(mongo, tenant, meeting_uuid)
    linked = await _linked(mongo, tenant, meeting_uuid, tombstone)
    documents: dict[str, int] = {}
    for name, query in filters(tenant, meeting_uuid, linked).items():
        documents[name] = await guarded(mongo.db[name].count_documents(query)) if query is not None else 0
    objects: list[PrefixCount] = []
    unusable: dict[str, str] = {}
    for store in stores:
        try:
            objects += [await count(store, prefix) for prefix in meeting_prefixes(tenant, meeting_uuid)]
        except UnusableBucket as exc:  # a name no S3 bucket has: this meeting is left alone, the others are not
            unusable[store.bucket] = exc.reason
    holdings = Holdings(
        tenant, meeting_uuid, documents, objects, linked.copies, tombstone=tombstone, unusable_buckets=unusable
    )
    holdings.in_flight = await _in_flight(mongo, tenant, meeting_uuid, linked)
    return holdings


async def buckets_named(mongo: Mongo, tenant: str, meeting_uuid: str) -> set[str]:
    """The buckets the meeting's documents name (its mixed file's, its jobs'): usually only the configured one."""
    return (await _linked(mongo, tenant, meeting_uuid, None)).buckets


async def _in_flight(mongo: Mongo, tenant: str, meeting_uuid: str, linked: _Linked) -> list[str]:
    """Why a service may still be working on the meeting (none: it is notified or failed, and nothing is pending)."""
    key = meeting_key(tenant, meeting_uuid)
    reasons: list[str] = []
    meeting = await guarded(mongo.db[MEETINGS].find_one(key, {"stage": 1}))
    if meeting is not None and meeting.get("stage") not in ("notified", "failed"):
        reasons.append(f"stage {meeting.get('stage')!r}")
    if linked.unfinished_jobs:
        reasons.append(f"{linked.unfinished_jobs} provider job(s) not finished")
    mails = await guarded(mongo.db[EMAILS].count_documents({**key, "status": {"$in": list(UNFINISHED_MAIL)}}))
    if mails:
        reasons.append(f"{mails} e-mail(s) not sent yet")
    return reasons


CALL_KEY_PREFIX = "phone-call:"
"""The key reconciliation gives a Zoom Phone call (ingest's ``reconcile_phone.CALL_KEY_PREFIX``)."""


async def call_keys(mongo: Mongo, tenant: str, meeting_uuid: str) -> list[str]:
    """``phone-call:{call id}`` of the call a Zoom Phone recording (``phone:{recording id}``) is of, from its
    meeting document or its record: Zoom's call history, which reconciliation reads, lists the call id alone."""
    key = meeting_key(tenant, meeting_uuid)
    meeting = await guarded(mongo.db[MEETINGS].find_one(key, {"call.call_id": 1})) or {}
    call = meeting.get("call") if isinstance(meeting.get("call"), dict) else {}
    record = await guarded(
        mongo.db[CONVERSATIONS].find_one({**key, "source_platform": "Zoom Phone"}, {"platform_id": 1})
    )
    ids = {str(value) for value in ((call or {}).get("call_id"), (record or {}).get("platform_id")) if value}
    return sorted(CALL_KEY_PREFIX + call_id for call_id in ids)


async def entomb(mongo: Mongo, holdings: Holdings, now: datetime) -> list[Tombstone]:
    """Write (or complete) the meeting's tombstone with every provider copy still to delete; returns it, first, and
    the tombstones of its call.

    A Zoom Phone recording's call gets a tombstone of its own too, under the call's reconciliation key, so that
    reconciliation (which knows calls by call id only) counts it as archived, not "never archived"."""
    await guarded(mongo.db[TOMBSTONES].create_indexes(INDEXES[TOMBSTONES]))  # before any service restarted
    calls: list[Tombstone] = []
    for call_key in await call_keys(mongo, holdings.tenant, holdings.meeting_uuid):
        with contextlib.suppress(DuplicateKeyError):  # forgotten before, or by a concurrent run
            await guarded(mongo.db[TOMBSTONES].update_one(
                meeting_key(holdings.tenant, call_key), {"$setOnInsert": {"forgotten_at": now}}, upsert=True
            ))  # fmt: skip
        calls.append(await _written(mongo, holdings.tenant, call_key))
    key = meeting_key(holdings.tenant, holdings.meeting_uuid)
    copies = [copy.to_document() for copy in holdings.copies]
    update = {"$setOnInsert": {"forgotten_at": now}, "$addToSet": {"provider_copies": {"$each": copies}}}
    try:
        await guarded(mongo.db[TOMBSTONES].update_one(key, update, upsert=True))
    except DuplicateKeyError:  # another run inserted it since this one looked: add to that one
        await guarded(mongo.db[TOMBSTONES].update_one(key, update))
    return [await _written(mongo, holdings.tenant, holdings.meeting_uuid), *calls]


async def _written(mongo: Mongo, tenant: str, meeting_uuid: str) -> Tombstone:
    tombstone = await read_tombstone(mongo, tenant, meeting_uuid)
    if tombstone is None:  # pragma: no cover - written just before
        raise RuntimeError("tombstone not written")
    return tombstone


async def erase(mongo: Mongo, stores: Iterable[ObjectStore], holdings: Holdings) -> tuple[int, int]:
    """Delete the meeting's objects, then, for a Zoom Phone recording, the reconciliation record of its call, then
    the meeting's documents (the meeting last); returns (documents, objects) deleted.

    Objects go first: their buckets are named by documents, which a run stopped part-way still has. The call's record
    goes before the documents that name the call: a run stopped after them would leave it to no later run.
    """
    tenant, meeting_uuid = holdings.tenant, holdings.meeting_uuid
    objects = sum(
        [await delete(store, prefix) for store in stores for prefix in meeting_prefixes(tenant, meeting_uuid)]
    )
    documents = 0
    if calls := await call_keys(mongo, tenant, meeting_uuid):
        # Reconciliation's record of a Zoom Phone recording's call (its parties' names); its tombstone stays.
        call_records = {"tenant": tenant, "meeting_uuid": {"$in": calls}}
        documents += int((await guarded(mongo.db[CONVERSATIONS].delete_many(call_records))).deleted_count)
    linked = await _linked(mongo, tenant, meeting_uuid, None)
    for name, query in filters(tenant, meeting_uuid, linked).items():
        if query is not None:
            documents += int((await guarded(mongo.db[name].delete_many(query))).deleted_count)
    return documents, objects


async def settle(mongo: Mongo, tombstone: Tombstone, left: list[ProviderCopy], now: datetime) -> None:
    """Record the run's end on the tombstone: the provider copies still to delete, and when the erase finished."""
    update = {"$set": {"provider_copies": [copy.to_document() for copy in left], "erased_at": now}}
    await guarded(mongo.db[TOMBSTONES].update_one(meeting_key(tombstone.tenant, tombstone.meeting_uuid), update))


@dataclass(frozen=True)
class Forgotten:
    """What one erase did: documents and objects deleted, each provider copy's outcome, and what is left."""

    documents: int
    objects: int
    outcomes: list[CopyOutcome]
    left: Holdings

    @property
    def failed(self) -> list[CopyOutcome]:
        """The provider copies not deleted (kept on the tombstone for the next run)."""
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]


async def forget(
    mongo: Mongo, stores: list[ObjectStore], holdings: Holdings, now: datetime, *, log: ObjectStore
) -> Forgotten:
    """Tombstone, its entry in the erasure log (``log``: the configured bucket's store), objects, documents, provider
    copies (those not deleted stay on the tombstone); then what is left, counted again. ``zoomsymbl forget --yes``,
    ``zoomsymbl retention --yes`` and ``zoomsymbl erasures --yes`` erase a meeting so.

    Raises :class:`UnusableBucket`, before anything is written or deleted, when ``holdings`` names one."""
    if holdings.unusable_buckets:
        bucket, reason = next(iter(holdings.unusable_buckets.items()))
        raise UnusableBucket(bucket, reason)
    tombstone, *calls = await entomb(mongo, holdings, now)
    # Before anything is erased: a MongoDB restored from an older backup (or lost) still leaves this record of it,
    # and of the call's tombstone (without it, reconciliation would record the call again, its parties' names too).
    for written in (tombstone, *calls):
        await log_erasure(log, Erasure(written.tenant, written.meeting_uuid, written.forgotten_at))
    documents, objects = await erase(mongo, stores, holdings)
    outcomes = await delete_copies(holdings.tenant, tombstone.provider_copies)
    done = Forgotten(documents, objects, outcomes, holdings)
    await settle(mongo, tombstone, [outcome.copy for outcome in done.failed], utcnow())
    left = await survey(mongo, stores, holdings.tenant, holdings.meeting_uuid)
    return Forgotten(documents, objects, outcomes, left)
