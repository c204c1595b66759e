"""A whole meeting as the services leave it, for ``zoomsymbl forget`` to find and erase.

Documents are written the way each service's store writes them: ingest's receipt and token stores, the
records models of the mixer, submitter and notifier documents (the notifier's own claim id), and S3 keys
from the mixer's and the submitter's key functions. :class:`Seeded` remembers every id and key, so a test
checks each one by itself rather than through the filters the command uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import SecretStr
from zoomsymbl_common.events import AudioMixed, Provider, RecordingFile, stable_id, utcnow
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import (
    CONVERSATIONS,
    EARLY_CALLBACKS,
    EMAIL_CLAIMS,
    EMAILS,
    INSIGHTS,
    JOB_CLAIMS,
    JOBS,
    MEETINGS,
    RECEIPTS,
    SECRETS,
    TRANSCRIPTION_CHECKPOINTS,
    TRANSCRIPTIONS,
    ConversationMetadata,
    EarlyCallback,
    Email,
    EmailClaim,
    Job,
    JobClaim,
    Meeting,
    MeetingObjects,
    RawTrack,
    Stage,
    StoredInsights,
    StoredObject,
    Transcription,
)
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_ingest.stores import DownloadToken, MongoReceipts, MongoTokens, Receipt
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_mixer.mixing import mixed_object_key
from zoomsymbl_mixer.tracks import raw_key
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_submitter.downmix import mono_object_key
from zoomsymbl_submitter.splitting import part_object_key
from zoomsymbl_transcriber.checkpoints import Checkpoints, Source
from zoomsymbl_whisper import ChannelUtterance

DOWNLOAD_TOKEN = "zoom-download-token-that-must-never-be-printed"


@dataclass(frozen=True)
class ProviderJob:
    """A provider job of the meeting: its provider and its id there (a transcript or conversation id)."""

    provider: Provider
    copy_id: str


@dataclass
class Seeded:
    """Every document (collection → filters) and object key written for one meeting."""

    tenant: str
    meeting_uuid: str
    documents: dict[str, list[Document]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    def add(self, collection: str, query: Document) -> None:
        self.documents.setdefault(collection, []).append(query)

    async def counts(self, mongo: Mongo) -> dict[str, int]:
        """How many of the seeded documents are still there, per collection."""
        found: dict[str, int] = {}
        for name, queries in self.documents.items():
            found[name] = sum([await mongo.db[name].count_documents(query) for query in queries])
        return found

    async def objects(self, store: ObjectStore) -> int:
        """How many of the seeded objects are still there."""
        return sum([await store.exists(key) for key in self.keys])


async def seed_meeting(
    mongo: Mongo,
    store: ObjectStore,
    tenant: str,
    meeting_uuid: str,
    jobs: tuple[ProviderJob, ...] = (),
    *,
    stage: Stage = "notified",
) -> Seeded:
    """The meeting with everything the services store of it, its ``jobs`` at their providers and one whisper job."""
    seeded = Seeded(tenant, meeting_uuid)
    key = {"tenant": tenant, "meeting_uuid": meeting_uuid}
    await _ingest(mongo, seeded)
    keys = await _objects(store, tenant, meeting_uuid)
    seeded.keys = keys
    meeting = Meeting(
        tenant=tenant, meeting_uuid=meeting_uuid, stage=stage, topic="Salary review of Jane Doe",
        host_email="host@example.com",
        objects=MeetingObjects(
            mixed=StoredObject(bucket=store.bucket, key=keys[3], size=5),
            raw=[RawTrack(file_id="f1", key=keys[0], size=5)],
        ),
    )  # fmt: skip
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    seeded.add(MEETINGS, key)
    conversation = ConversationMetadata(tenant=tenant, meeting_uuid=meeting_uuid, source_platform="Zoom Meeting")
    await mongo.db[CONVERSATIONS].insert_one(conversation.to_document())
    seeded.add(CONVERSATIONS, key)
    whisper = ProviderJob("whisper", f"whisper-{stable_id(tenant, meeting_uuid)}")
    for index, job in enumerate((*jobs, whisper)):
        await _job(mongo, store, seeded, job, index, keys[4])
    await _mail(mongo, seeded)
    return seeded


async def _ingest(mongo: Mongo, seeded: Seeded) -> None:
    tenant, meeting_uuid = seeded.tenant, seeded.meeting_uuid
    receipt_key = stable_id(tenant, meeting_uuid, "f1")
    await MongoReceipts(mongo).record([Receipt(receipt_key, tenant, meeting_uuid, receipt_key, "webhook")])
    seeded.add(RECEIPTS, {"tenant": tenant, "meeting_uuid": meeting_uuid})
    token = DownloadToken(tenant, meeting_uuid, SecretStr(DOWNLOAD_TOKEN), utcnow() + timedelta(hours=20))
    await MongoTokens(mongo).put_many([token])
    seeded.add(SECRETS, {"tenant": tenant, "meeting_uuid": meeting_uuid})


async def _objects(store: ObjectStore, tenant: str, meeting_uuid: str) -> list[str]:
    track = RecordingFile(file_id="f1", file_extension="M4A", download_url="https://zoom.us/rec/f1")
    transcript = RecordingFile(file_id="t1", file_extension="VTT", download_url="https://zoom.us/rec/t1")
    mixed = mixed_object_key(tenant, meeting_uuid, "h", 0, "flac")  # as the mixer names it
    event = AudioMixed(
        event_id="e", tenant=tenant, meeting_uuid=meeting_uuid, bucket=store.bucket, object_key=mixed,
        format="flac", channels=2, duration_seconds=1, size_bytes=5, input_hash="h", channel_map=(),
    )  # fmt: skip
    keys = [
        raw_key(tenant, meeting_uuid, track),
        raw_key(tenant, meeting_uuid, transcript),
        metadata_key(tenant, meeting_uuid),
        mixed,
        part_object_key(mixed, 0, "flac"),
        mono_object_key(event),
    ]
    for key in keys:
        await store.put_stream(key, _bytes(b"audio"))
    return keys


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _job(mongo: Mongo, store: ObjectStore, seeded: Seeded, job: ProviderJob, index: int, part: str) -> None:
    tenant, meeting_uuid = seeded.tenant, seeded.meeting_uuid
    ref = stable_id(tenant, meeting_uuid, job.provider, str(index))
    record = Job(
        id=ref, idempotency_key=ref, job_ref=ref, tenant=tenant, meeting_uuid=meeting_uuid, generation=index,
        provider=job.provider, status="completed", job_id=job.copy_id, conversation_id=job.copy_id,
        bucket=store.bucket, object_key=part, created_at=utcnow(),
    )  # fmt: skip
    await mongo.db[JOBS].insert_one(record.to_document())
    seeded.add(JOBS, {"_id": ref})
    await mongo.db[JOB_CLAIMS].insert_one(
        JobClaim(id=JobClaim.id_of(ref, 2), owner="submitter-1", at=utcnow()).to_document()
    )
    seeded.add(JOB_CLAIMS, {"_id": JobClaim.id_of(ref, 2)})
    early = EarlyCallback(id=ref, job_id=job.copy_id, status="completed", at=utcnow())
    await mongo.db[EARLY_CALLBACKS].insert_one(early.to_document())
    seeded.add(EARLY_CALLBACKS, {"_id": ref})
    insights = StoredInsights(
        provider=job.provider, conversation_id=job.copy_id, tenant=tenant, meeting_uuid=meeting_uuid,
        generation=index, job_id=job.copy_id, insights={"summary": ["Jane Doe's salary"]}, stored_at=utcnow(),
    )  # fmt: skip
    await mongo.db[INSIGHTS].insert_one(insights.to_document())
    seeded.add(INSIGHTS, {"provider": job.provider, "conversation_id": job.copy_id})
    if job.provider == "whisper":
        work = Transcription(id=job.copy_id, status="completed", bucket=store.bucket, object_key=part)
        await mongo.db[TRANSCRIPTIONS].insert_one(work.to_document())
        seeded.add(TRANSCRIPTIONS, {"_id": job.copy_id})
        # A channel's checkpoint its removal left behind (MongoDB did not take it), as the transcriber writes one.
        source = Source(job.copy_id, part, 5, "etag", "tiny.en", "en", "beam_size=5")
        said = ChannelUtterance(1, 0.0, 1.0, "Jane Doe's salary")
        await Checkpoints(mongo, "transcriber-1", utcnow).save(source, 1, [said])
        seeded.add(TRANSCRIPTION_CHECKPOINTS, {"job_id": job.copy_id})


async def _mail(mongo: Mongo, seeded: Seeded) -> None:
    tenant, meeting_uuid = seeded.tenant, seeded.meeting_uuid
    mail = MailKey(tenant, meeting_uuid, 0, "report")
    email = Email(
        tenant=tenant, meeting_uuid=meeting_uuid, generation=0, kind="report", message_id="<m1@zoomsymbl>",
        sender="zoomsymbl@example.com", recipients=["host@example.com"], raw=b"Subject: Salary review",
        status="sent", attempts=1, next_attempt_at=utcnow(), created_at=utcnow(),
    )  # fmt: skip
    await mongo.db[EMAILS].insert_one(email.to_document())
    seeded.add(EMAILS, mail.query())
    await mongo.db[EMAIL_CLAIMS].insert_one(EmailClaim(id=mail.claim_id(1), claimed_at=utcnow()).to_document())
    seeded.add(EMAIL_CLAIMS, {"_id": mail.claim_id(1)})
