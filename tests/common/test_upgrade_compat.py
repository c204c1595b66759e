"""What earlier releases wrote, read by the current code (docs/operations.md, "Upgrade").

A rolling upgrade leaves the old release's events in Kafka (replayable for ``topics.retentionMs``) and its
documents in MongoDB (for ever). The fixtures in ``tests/common/upgrade/<date>-<commit>/`` were written by
those releases' own code (``generate.py`` there); here every event must parse with the same meaning (a field
the release did not have reads as what its absence meant then), every document must be read by the current
services' own readers the way they read it, and the stores must act on it as on a document they wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import json_util
from zoomsymbl_common.callback_tokens import verify_callback_token
from zoomsymbl_common.events import (
    EVENT_TYPES,
    AudioMixed,
    Event,
    JobSubmitted,
    RecordingCompleted,
    TranscriptObject,
)
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.ops.replay_source import decode
from zoomsymbl_common.ops.status import format_history, meeting_history
from zoomsymbl_common.providers.whisper import messages_from
from zoomsymbl_common.records import (
    CONVERSATIONS,
    EMAIL_CLAIMS,
    EMAILS,
    INSIGHTS,
    JOBS,
    MEETINGS,
    RECEIPTS,
    SECRETS,
    ConsumerAttempt,
    ConversationMetadata,
    EarlyCallback,
    Email,
    EmailClaim,
    Job,
    JobClaim,
    LimiterSlot,
    LimiterTick,
    Meeting,
    MeetingSecret,
    Progress,
    Receipt,
    Record,
    SplitPlan,
    StoredInsights,
    Transcription,
    ZoomQuotaSlot,
)
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.stores import MongoReceipts
from zoomsymbl_mixer.state import MeetingState, MixRecord, audio_mixed, with_transcripts
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.meetings import Meetings, facts_from_doc
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport
from zoomsymbl_submitter.claims import inspect
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_transcriber.progress import on_meeting
from zoomsymbl_web.meeting import MeetingView, view_of

UPGRADE = Path(__file__).parent / "upgrade"
RELEASES = sorted(p.name for p in UPGRADE.iterdir() if (p / "events").is_dir())
FIRST = "2026-11-24-dbc90eb"
TENANT = "acme"
MEETING = "aDYlohsHRtCd4ii1uC2+hA=="
EVENTS_BY_TOPIC: dict[str, type[Event]] = {event.topic: event for event in EVENT_TYPES}
MODELS: dict[str, type[Record]] = {
    "meetings": Meeting,
    "jobs": Job,
    "job_claims": JobClaim,
    "emails": Email,
    "email_claims": EmailClaim,
    "early_callbacks": EarlyCallback,
    "insights": StoredInsights,
    "receipts": Receipt,
    "meeting_secrets": MeetingSecret,
    "limiter": LimiterSlot,
    "limiter_ticks": LimiterTick,
    "transcriptions": Transcription,
    "consumer_attempts": ConsumerAttempt,
    "conversations": ConversationMetadata,
    "zoom_quota": ZoomQuotaSlot,
}
MIXED = {
    FIRST: "mixer MeetingState.record_mix",
    "2026-12-04-7dfce1a": "mixer MeetingState.add_transcripts + record_mix",
}
"""The store call after which each release's meeting is mixed and not yet submitted."""
ABSENT_MEANS: dict[str, object] = {
    "platform": "zoom_meeting",  # RecordingCompleted before Zoom Phone: every recording was a meeting's
    "phone_call": None,
    "transcripts": [],  # AudioMixed before the zoom source: no Zoom transcript named
}
"""What a field an earlier release's event does not have must read as: what its absence meant then."""


@dataclass(frozen=True)
class Stored:
    """One document an earlier release's store left, and the store call after which it was read."""

    release: str
    collection: str
    written_by: str
    doc: Document

    @property
    def id(self) -> str:
        return f"{self.release}/{self.collection}/{self.written_by}"


def _stored(release: str) -> Iterator[Stored]:
    options = json_util.JSONOptions(tz_aware=True, tzinfo=UTC)
    for path in sorted((UPGRADE / release / "records").glob("*.json")):
        for entry in json_util.loads(path.read_text(encoding="utf-8"), json_options=options):
            yield Stored(release, path.stem, entry["written_by"], entry["document"])


STORED = [stored for release in RELEASES for stored in _stored(release)]
EVENT_PATHS = [path for release in RELEASES for path in sorted((UPGRADE / release / "events").glob("*.v1.*.json"))]


def documents(release: str, collection: str, written_by: str | None = None) -> list[Document]:
    """The documents of ``collection`` an earlier release left after ``written_by``; without it, each
    document as it was last seen (the latest snapshot of each ``_id``)."""
    if written_by is not None:
        return [s.doc for s in STORED if (s.release, s.collection, s.written_by) == (release, collection, written_by)]
    latest = {str(s.doc["_id"]): s.doc for s in STORED if (s.release, s.collection) == (release, collection)}
    return list(latest.values())


def event(release: str, stem: str) -> Event:
    """An earlier release's event ``<topic>.<variant>`` as the current code parses it off Kafka."""
    topic = stem.rsplit(".", 1)[0]
    return EVENTS_BY_TOPIC[topic].model_validate_json((UPGRADE / release / "events" / f"{stem}.json").read_bytes())


def _same_meaning(old: object, new: object, where: str) -> None:
    """Every value the earlier release wrote reads back the same; a field it did not have reads as its absence."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for name, value in new.items():
            if name in old:
                _same_meaning(old[name], value, f"{where}.{name}")
            else:
                assert name in ABSENT_MEANS, f"{where}.{name} is new: say what its absence means in ABSENT_MEANS"
                assert value == ABSENT_MEANS[name], f"{where}.{name} read as {value!r}"
        assert set(old) <= set(new), f"{where}: fields dropped: {sorted(set(old) - set(new))}"
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            _same_meaning(o, n, f"{where}[{i}]")
    else:
        assert new == old, f"{where}: {old!r} read as {new!r}"


# ------------------------------------------------------------------------------------------------ events


def test_each_release_has_samples_of_its_events_and_documents() -> None:
    assert RELEASES, "no fixtures in tests/common/upgrade"
    for release in RELEASES:
        topics = {path.name.rsplit(".", 2)[0] for path in (UPGRADE / release / "events").glob("*.v1.*.json")}
        assert {"zoom.recording-completed.v1", "audio.mixed.v1", "provider.job-submitted.v1"} <= topics, release
        assert topics <= set(EVENTS_BY_TOPIC), f"{release}: a topic the current code no longer reads"
        for topic in topics:
            assert (UPGRADE / release / "events" / f"{topic}.minimal.json").is_file(), f"{release}: {topic}"
        assert {s.collection for s in STORED if s.release == release} >= {MEETINGS, JOBS, EMAILS, INSIGHTS, RECEIPTS}


@pytest.mark.parametrize("path", EVENT_PATHS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_an_earlier_releases_event_parses_with_the_same_meaning(path: Path) -> None:
    parsed = event(path.parent.parent.name, path.stem)
    _same_meaning(json.loads(path.read_bytes()), json.loads(parsed.model_dump_json()), path.stem)


@pytest.mark.parametrize("release", RELEASES)
def test_an_earlier_releases_dead_letter_is_replayed_onto_its_topic(release: str) -> None:
    letter = (UPGRADE / release / "events" / "dead-letter.json").read_bytes()
    target, replayed = decode(InfraSettings(), "zoom.recording-completed.v1.dlq", letter)
    assert target == "zoom.recording-completed.v1"
    assert replayed == event(release, "zoom.recording-completed.v1.full")


@pytest.mark.parametrize("release", RELEASES)
def test_the_mixer_announces_an_earlier_releases_mix_again_with_the_same_event(release: str) -> None:
    """A redelivered or replayed ``RecordingCompleted`` finds the stored mix and re-announces the very
    ``AudioMixed`` the earlier release published (same ``event_id``: no second submission)."""
    recording = event(release, "zoom.recording-completed.v1.full")
    assert isinstance(recording, RecordingCompleted)
    stored = next(doc for doc in documents(release, MEETINGS) if doc["meeting_uuid"] == MEETING)
    again = audio_mixed(recording, MixRecord.model_validate(stored["mix"]))
    # The transcripts as the mixer reads them (each entry on its own), not through the whole meeting's model.
    again = with_transcripts(again, tuple(TranscriptObject.model_validate(t) for t in stored.get("transcripts", [])))
    published = event(release, "audio.mixed.v1.full")
    assert isinstance(published, AudioMixed)
    assert again == published


@pytest.mark.parametrize("release", RELEASES)
def test_an_earlier_releases_callback_token_is_verified_or_refused_as_documented(release: str) -> None:
    sample = json.loads((UPGRADE / release / "callback-token.json").read_text(encoding="utf-8"))
    parts = sample["token"].split(".")
    if release == FIRST:
        # No expiry under its MAC (before 2026-12-03): refused (401); the notifier's sweeper asks the
        # provider about the job once it has had no news for the stale period (docs/operations.md, "Upgrade").
        assert len(parts) == 2
        assert verify_callback_token(sample["secret"], sample["token"]) is None
        return
    made_at = int(parts[1]) - 7 * 24 * 3600
    assert verify_callback_token(sample["secret"], sample["token"], now=made_at + 60) == sample["job_ref"]


# ----------------------------------------------------------------------------------------------- records


@pytest.mark.parametrize("stored", STORED, ids=lambda s: s.id)
def test_an_earlier_releases_document_is_read_by_its_model(stored: Stored) -> None:
    MODELS[stored.collection].from_document(stored.doc)


@pytest.mark.parametrize(
    "stored", [s for s in STORED if s.collection == MEETINGS and s.doc.get("channel_map")], ids=lambda s: s.id
)
def test_the_notifier_reads_the_topic_host_and_speakers_of_an_earlier_releases_meeting(stored: Stored) -> None:
    """The report's recipient and its talk times come from these facts: an unreadable meeting would send the
    report to the tenant's extra recipients only (or nobody) and without its speakers."""
    facts = facts_from_doc(stored.doc)
    assert facts.host_email == stored.doc["host_email"]
    assert facts.topic == stored.doc["topic"]
    assert [(s.channel, s.name, s.talk_seconds) for s in facts.speakers] == [
        (c["channel"], c["participant_name"], next(t["talk_seconds"] for t in stored.doc["speaker_stats"]
                                                   if t["channel"] == c["channel"]))
        for c in stored.doc["channel_map"]
    ]  # fmt: skip


@pytest.mark.parametrize("release", RELEASES)
def test_the_submitter_reuses_the_parts_an_earlier_release_cut(release: str) -> None:
    """A redelivered ``AudioMixed`` of a split meeting finds its plan and submits the parts already in S3."""
    mixed = event(release, "audio.mixed.v1.full")
    assert isinstance(mixed, AudioMixed)
    doc = documents(release, MEETINGS, "submitter MeetingStore.save_split_plan + mark_submitted")[0]
    plan = SplitPlan.from_document(doc["split"])
    assert plan.matches(mixed.input_hash, mixed.generation, 2)
    assert [(p.index, p.offset_seconds, p.object_key) for p in plan.parts] == [
        (p["index"], p["offset_seconds"], p["object_key"]) for p in doc["split"]["parts"]
    ]


@pytest.mark.parametrize("release", RELEASES)
def test_the_submitter_and_notifier_read_an_earlier_releases_jobs_as_it_left_them(release: str) -> None:
    now = datetime.now(tz=UTC)
    outcomes = {
        "submitter JobStore.claim + record_submitted": "done",
        "submitter JobStore.claim (taken over)": "done",
        "submitter JobStore.release_claim rejected": "rejected",
        "notifier Jobs.apply_status + mark + touch": "done",
    }
    for written_by, outcome in outcomes.items():
        for doc in documents(release, JOBS, written_by):
            assert inspect(Job.from_document(doc), now).outcome == outcome, written_by
    for doc in documents(release, JOBS, "notifier Jobs.apply_status + mark + touch"):
        job = JobRecord.from_doc(doc)
        assert (job.status, job.insights_stored, job.processed) == ("completed", True, True)
        assert job.limiter_account_key == "assemblyai:acme-account"
        assert job.slot_refs == (doc["_id"],)
        assert (job.part_count, job.part_offset_seconds) == (2, doc["part_offset_seconds"])
    failed = documents(release, JOBS, "notifier Jobs.apply_status failed")[0]
    assert JobRecord.from_doc(failed).status == "failed"


@pytest.mark.parametrize("release", RELEASES)
def test_the_meeting_page_shows_an_earlier_releases_meeting(release: str) -> None:
    doc = documents(release, MEETINGS, "notifier Meetings.advance (to notified)")[0]
    meeting = Meeting.from_document(doc)
    conversations = [d for d in documents(release, CONVERSATIONS) if d["meeting_uuid"] == MEETING]
    conversation = ConversationMetadata.from_document(conversations[0]) if conversations else None
    view = view_of(meeting, conversation, [StoredInsights.from_document(d) for d in documents(release, INSIGHTS)])
    assert isinstance(view, MeetingView)
    assert view.topic == "Quarterly planning — EMEA"
    assert [s.name for s in view.speakers] == ["Ana Lima", "Others"]
    # Two parts of two utterances each, the second part's moved by its offset in the meeting.
    assert [round(m.start_seconds, 1) for m in view.insights.messages] == [3.2, 7.4, 1417.2, 1421.4]
    assert view.insights.summary[:2] == ("Revenue grew 9 % in EMEA.", "Hiring plan to be revised.")
    assert view.audio is not None and view.audio.key == doc["objects"]["mixed"]["key"]


@pytest.mark.parametrize("release", RELEASES)
def test_the_outbox_reads_an_earlier_releases_e_mails(release: str) -> None:
    by_status = {Email.from_document(doc).status: Email.from_document(doc) for doc in documents(release, EMAILS)}
    assert set(by_status) == {"sent", "pending", "skipped"}
    assert by_status["sent"].raw and by_status["sent"].raw.startswith(b"From: ")
    assert by_status["pending"].last_error and by_status["pending"].attempts == 1


def test_the_whisper_provider_reads_a_transcript_the_transcriber_stored() -> None:
    done = documents("2026-12-04-7dfce1a", "transcriptions", "transcriber Worker._finish completed")[0]
    assert Transcription.from_document(done).status == "completed"
    assert [(m.channel, m.text) for m in messages_from(done)] == [
        (1, "Let's start with the EMEA numbers."),
        (2, "Revenue is up nine percent."),
    ]


# ------------------------------------------------------------------------ the stores, on the real server


async def _load(mongo: Mongo, release: str, collection: str, written_by: str) -> Document:
    doc = documents(release, collection, written_by)[0]
    await mongo.db[collection].insert_one(doc)
    return doc


@pytest.mark.integration
@pytest.mark.parametrize("release", RELEASES)
async def test_the_submitter_and_notifier_move_an_earlier_releases_meeting_on(mongo: Mongo, release: str) -> None:
    """Meetings the first release's mixer stored have no ``generation``: the stage updates of generation 0
    must still reach them, or an in-flight meeting stays ``mixed`` for good (its page never ready,
    ``zoomsymbl status`` wrong)."""
    await _load(mongo, release, MEETINGS, MIXED[release])
    mixed = event(release, "audio.mixed.v1.full")
    assert isinstance(mixed, AudioMixed)
    assert await MeetingStore(mongo).mark_submitted(mixed, "assemblyai", 1)
    notifier = Meetings(mongo)
    assert await notifier.advance(TENANT, MEETING, 0, "processing")
    assert await notifier.advance_and_read(TENANT, MEETING, 0, "completed") is not None
    assert await notifier.advance(TENANT, MEETING, 0, "notified")
    stored = Meeting.from_document(await mongo.db[MEETINGS].find_one({"meeting_uuid": MEETING}) or {})
    assert (stored.stage, stored.generation) == ("notified", 0)
    assert set(stored.stages) >= {"submitted", "processing", "completed", "notified"}


@pytest.mark.integration
@pytest.mark.parametrize("release", RELEASES)
async def test_a_give_up_fails_an_earlier_releases_meeting(mongo: Mongo, release: str) -> None:
    """The submitter's give-up marks the meeting failed, which is what makes it announce ``MeetingFailed``
    (the host's failure notice); so does the notifier's for a failed provider job."""
    await _load(mongo, release, MEETINGS, MIXED[release])
    mixed = event(release, "audio.mixed.v1.full")
    assert isinstance(mixed, AudioMixed)
    assert await MeetingStore(mongo).mark_failed(mixed, "submit", "assemblyai refused the file")
    await mongo.db[MEETINGS].delete_many({})
    await _load(mongo, release, MEETINGS, "submitter MeetingStore.save_split_plan + mark_submitted")
    assert await Meetings(mongo).fail(TENANT, MEETING, 0, "provider", "assemblyai job failed: no audio")
    failed = Meeting.from_document(await mongo.db[MEETINGS].find_one({"meeting_uuid": MEETING}) or {})
    assert failed.stage == "failed" and failed.failure is not None and failed.failure.service == "notifier"


@pytest.mark.integration
async def test_the_notifier_sends_the_failure_notice_of_a_meeting_the_first_release_failed(mongo: Mongo) -> None:
    await _load(mongo, FIRST, MEETINGS, "mixer MeetingState.mark_failed")
    assert await Meetings(mongo).is_failed(TENANT, "failedAtDownload==", 0)


@pytest.mark.integration
async def test_the_documented_update_gives_the_first_releases_meetings_their_generation(mongo: Mongo) -> None:
    await _load(mongo, FIRST, MEETINGS, "mixer MeetingState.mark_failed")
    # docs/operations.md, "Upgrade": run once after upgrading from a release before 2026-12-03.
    await mongo.db[MEETINGS].update_many({"generation": {"$exists": False}}, {"$set": {"generation": 0}})
    assert await Meetings(mongo).is_failed(TENANT, "failedAtDownload==", 0)


class _Transport(SmtpTransport):
    """Takes what the outbox hands over; nothing leaves the test."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        self.sent.append(raw)


@pytest.mark.integration
@pytest.mark.parametrize("release", RELEASES)
async def test_the_outbox_sends_what_an_earlier_release_left_pending_and_not_what_it_sent(
    mongo: Mongo, release: str
) -> None:
    for doc in documents(release, EMAILS):
        # The notice the release left for its retry: that retry is due now (the fixture's time is the run's).
        due = {"next_attempt_at": doc["created_at"]} if doc["status"] == "pending" else {}
        await mongo.db[EMAILS].insert_one({**doc, **due})
    for doc in documents(release, EMAIL_CLAIMS):
        await mongo.db[EMAIL_CLAIMS].insert_one(doc)
    transport = _Transport()
    outbox = Outbox(mongo, transport, Backoff(base=1, ceiling=5, lease=60))
    pending = next(Email.from_document(d) for d in documents(release, EMAILS) if d["status"] == "pending")
    assert await outbox.deliver(MailKey(TENANT, MEETING, 0, "report")) == "already_sent"
    key = MailKey(TENANT, pending.meeting_uuid, 0, "failure")
    assert await outbox.deliver(key) == "sent"
    assert transport.sent == [pending.raw]


@pytest.mark.integration
@pytest.mark.parametrize("release", RELEASES)
async def test_the_stores_read_an_earlier_releases_mix_token_receipts_and_history(mongo: Mongo, release: str) -> None:
    meeting = await _load(mongo, release, MEETINGS, "notifier Meetings.advance (to notified)")
    for collection in (SECRETS, RECEIPTS, JOBS, INSIGHTS, EMAILS):
        for doc in documents(release, collection):
            if doc.get("meeting_uuid") in (MEETING, None) or collection == RECEIPTS:
                await mongo.db[collection].insert_one(doc)
    state = MeetingState(mongo.db)
    assert await state.find_mix(TENANT, MEETING, meeting["mix"]["input_hash"]) is not None
    token = await state.download_token(TENANT, MEETING)
    assert token is not None and token.token.get_secret_value().startswith("eyJ0eXAi")
    assert await MongoReceipts(mongo).meeting_seen(TENANT, MEETING)  # a backfill leaves it alone
    history = await meeting_history(mongo, MEETING, TENANT)
    assert history is not None and history.meeting.stage == "notified"
    assert len(history.jobs) == 2 and len(history.insights) == 2
    # A forced replay bumps it like a meeting of this release.
    assert await bump_generation(mongo, TENANT, MEETING, "upgrade-test") == meeting.get("generation", 0) + 1


@pytest.mark.integration
async def test_an_earlier_releases_meeting_progress_is_shown_then_replaced_by_each_parts(mongo: Mongo) -> None:
    """That release's transcriber wrote one ``transcription_progress`` for the whole meeting: ``zoomsymbl status``
    still shows it; the current transcriber's first write on the meeting leaves only its parts' progress."""
    doc = await _load(mongo, "2026-12-04-7dfce1a", MEETINGS, "transcriber Worker._progress")
    old = doc["transcription_progress"]
    history = await meeting_history(mongo, MEETING, TENANT)
    assert history is not None
    assert f"transcription_progress: 48.2% (1/2 channels, job {old['job_id']})" in format_history(history)
    work_order = event("2026-12-04-7dfce1a", "provider.job-submitted.v1.whisper")
    assert isinstance(work_order, JobSubmitted)
    progress = Progress(percent=75.0, channels_done=1, channels=2)
    await mongo.db[MEETINGS].update_one({"meeting_uuid": MEETING}, on_meeting(work_order, progress))
    history = await meeting_history(mongo, MEETING, TENANT)
    assert history is not None
    text = format_history(history)
    assert f"part 2/2 generation 0: 75% (1/2 channels, job {work_order.job_id})" in text
    assert history.meeting.transcription_progress is None and "48.2%" not in text
