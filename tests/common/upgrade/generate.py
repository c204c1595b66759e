"""Make the upgrade fixtures of an earlier release with that release's own code.

Not a test (pytest collects ``test_*.py`` only): run it by hand from the repository root, with the
release's tree extracted next to nothing of this one and the local MongoDB up (``make infra-up``)::

    git archive dbc90eb | tar -x -C /tmp/zs-dbc90eb
    eval "$(.cache/tools/bin/uv run --frozen python scripts/infra.py env)"
    .cache/tools/bin/uv run --frozen python tests/common/upgrade/generate.py /tmp/zs-dbc90eb \\
        tests/common/upgrade/2026-11-24-dbc90eb

The release's ``libs/*/src`` and ``services/*/src`` go first on ``sys.path`` (the lock's pydantic and
pymongo are the same), and the script refuses to run when a module came from anywhere else.

- ``events/<topic>.<variant>.json``: every event type of the release as its own models dump it to Kafka
  (``model_dump_json``), fully populated (``full``, ``phone``, ...) and with only the required fields
  (``minimal``); ``dead-letter.json`` is a ``<topic>.dlq`` letter.
- ``records/<collection>.json``: what the release's own stores write, from calling them against a scratch
  database of the local MongoDB (dropped before and after), each document as MongoDB extended JSON with
  the store call that left it so (``written_by``). Times are the generation run's.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from bson import json_util

TENANT = "acme"
MEETING = "aDYlohsHRtCd4ii1uC2+hA=="
START = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
Json = dict[str, Any]


class Tree:
    """The modules of one extracted release."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        sources = [*sorted(self.root.glob("libs/*/src")), *sorted(self.root.glob("services/*/src"))]
        sys.path[:0] = [str(path) for path in sources]

    def has(self, name: str) -> bool:
        """The release has module ``name``."""
        try:
            self.mod(name)
        except ModuleNotFoundError:
            return False
        return True

    def mod(self, name: str) -> ModuleType:
        """Module ``name`` of the release (never one of the current tree)."""
        module = importlib.import_module(name)
        where = Path(str(module.__file__)).resolve()
        if self.root not in where.parents:
            raise SystemExit(f"{name} was imported from {where}, not from {self.root}")
        return module


def only(model: Any, **values: Any) -> Any:
    """``model`` built from those of ``values`` the release's model has (fields come and go)."""
    return model(**{k: v for k, v in values.items() if k in model.model_fields})


def minimal(event: Any) -> Any:
    """``event`` rebuilt with its required fields only."""
    cls = type(event)
    return cls(**{name: getattr(event, name) for name, info in cls.model_fields.items() if info.is_required()})


# ----------------------------------------------------------------------------------------------- events


def zoom_file(ev: ModuleType, file_id: str, name: str | None, kind: str, ext: str, minutes: int) -> Any:
    """One file of the meeting, as ingest lists it from Zoom's webhook."""
    return only(
        ev.RecordingFile,
        file_id=file_id,
        recording_type=kind,
        participant_name=name,
        participant_email=f"{name.split()[0].lower()}@acme.example" if name else None,
        recording_start=START + timedelta(seconds=4),
        recording_end=START + timedelta(minutes=minutes, seconds=12),
        file_size=28_350_112,
        file_type=ext,
        file_extension=ext,
        download_url=f"https://acme.zoom.us/rec/download/{file_id}",
        status="completed",
    )


def recording_completed(tree: Tree) -> Any:
    """A meeting's ``RecordingCompleted`` as the release's ingest builds it from Zoom's webhook."""
    payload = (
        tree.mod("zoomsymbl_ingest.zoom_payload")
        if tree.has("zoomsymbl_ingest.zoom_payload")
        else tree.mod("zoomsymbl_common.zoom_payload")
    )

    def entry(file_id: str, kind: str, ext: str, name: str | None = None) -> Json:
        row = {
            "id": file_id,
            "recording_start": "2026-11-20T15:00:04Z",
            "recording_end": "2026-11-20T15:47:12Z",
            "file_type": ext,
            "file_extension": ext,
            "file_size": 28_350_112,
            "download_url": f"https://acme.zoom.us/rec/download/{file_id}",
            "status": "completed",
            "recording_type": kind,
        }
        if name:
            row["file_name"] = name
        return row

    obj = {
        "uuid": MEETING,
        "id": 85746392012,
        "account_id": "D8cJuqWVQ623CI4Q8yQK0Q",
        "host_id": "z8yCxjabcdefgQ",
        "host_email": "host@acme.example",
        "topic": "Quarterly planning — EMEA",
        "start_time": "2026-11-20T15:00:00Z",
        "duration": 47,
        "recording_files": [
            entry("f-audio", "audio_only", "M4A"),
            entry("f-video", "shared_screen_with_speaker_view", "MP4"),
        ],
        "participant_audio_files": [
            entry("p-ana", "audio_only", "M4A", "Ana Lima"),
            entry("p-ben", "audio_only", "M4A", "Ben Okafor"),
        ],
    }
    event = payload.recording_completed(TENANT, obj, source="webhook", account_id="D8cJuqWVQ623CI4Q8yQK0Q")
    # What intake adds once the webhook's download token is stored.
    return event.model_copy(
        update={"has_download_token": True, "download_token_expires_at": START + timedelta(hours=25)}
    )


def phone_completed(tree: Tree, ev: ModuleType) -> Any:
    """A Zoom Phone call's ``RecordingCompleted`` (releases that have ``platform``)."""
    call = ev.PhoneCall(
        recording_id="9c1a7e2b4d3f4e5a8b6c7d8e9f0a1b2c",
        call_id="7412589630147852369",
        call_log_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        caller=ev.CallParty(number="+14155550123", did_number="+14155550123", name="Carla Diaz"),
        callee=ev.CallParty(number="1002", did_number="+14155550188", name="Ben Okafor"),
        direction="inbound",
        duration_seconds=312,
        start_time=START + timedelta(hours=2),
        end_time=START + timedelta(hours=2, seconds=312),
        recording_type="Automatic",
        owner_type="user",
        owner_id="z8yBenOkaforQ",
        owner_name="Ben Okafor",
        owner_extension="1002",
        user_id="z8yBenOkaforQ",
    )
    track = zoom_file(ev, "9c1a7e2b4d3f4e5a8b6c7d8e9f0a1b2c", None, "audio_only", "MP3", 5)
    return ev.RecordingCompleted(
        event_id=ev.stable_id(TENANT, "phone", call.recording_id),
        tenant=TENANT,
        meeting_uuid=f"phone-{call.recording_id}",
        occurred_at=START + timedelta(hours=2, minutes=6),
        account_id="D8cJuqWVQ623CI4Q8yQK0Q",
        host_id="z8yBenOkaforQ",
        host_email="ben@acme.example",
        topic_text="Call with Carla Diaz (+14155550123)",
        start_time=call.start_time,
        duration_minutes=5,
        fallback_files=(track,),
        source="webhook",
        platform="zoom_phone",
        phone_call=call,
    )


def audio_mixed(ev: ModuleType, rc: Any, *, transcripts: bool) -> Any:
    """An ``AudioMixed`` of ``rc`` built field by field: the template of the mixer's record (:func:`mix_record`)."""
    channel_map = (
        ev.ChannelAssignment(
            channel=1,
            participant_name="Ana Lima",
            participant_email="ana@acme.example",
            file_ids=("p-ana",),
            offset_seconds=0.0,
        ),
        ev.ChannelAssignment(
            channel=2,
            participant_name="Others",
            participant_email=None,
            file_ids=("p-ben", "p-cho"),
            offset_seconds=1.25,
            mixed=True,
        ),
    )
    stats = (
        ev.SpeakerStats(
            channel=1, talk_seconds=1211.4, silence_ratio=0.57, talk_over_ratio=0.04, longest_silence_seconds=88.0
        ),
        ev.SpeakerStats(
            channel=2, talk_seconds=1302.9, silence_ratio=0.54, talk_over_ratio=0.05, longest_silence_seconds=61.5
        ),
    )
    extra: Json = {}
    if transcripts:
        extra["transcripts"] = (
            ev.TranscriptObject(
                file_id="f-transcript", kind="transcript", key=f"raw/{TENANT}/k/f-transcript.vtt", size_bytes=48_211
            ),
            ev.TranscriptObject(file_id="f-cc", kind="cc", key=f"raw/{TENANT}/k/f-cc.vtt", size_bytes=51_007),
        )
    return ev.AudioMixed(
        event_id=ev.stable_id(ev.AudioMixed.topic, TENANT, rc.meeting_uuid, "3f9a0c5e1b7d4a2e8c6f0b1d3e5a7c9f", "0"),
        tenant=TENANT,
        meeting_uuid=rc.meeting_uuid,
        occurred_at=START + timedelta(minutes=52),
        generation=0,
        bucket="zoomsymbl",
        object_key=f"mixed/{TENANT}/aDYlohsHRtCd4ii1uC2-hA.flac",
        format="flac",
        channels=2,
        duration_seconds=2828.0,
        size_bytes=91_877_120,
        input_hash="3f9a0c5e1b7d4a2e8c6f0b1d3e5a7c9f",
        channel_map=channel_map,
        speaker_stats=stats,
        topic_text=rc.topic_text,
        host_email=rc.host_email,
        diarization=False,
        **extra,
    )


def job_submitted(ev: ModuleType, mixed: Any, provider: str, job_id: str) -> Any:
    """The submitter's ``JobSubmitted`` for part 2 of 2."""
    return ev.JobSubmitted(
        event_id=ev.stable_id(ev.JobSubmitted.topic, f"job-ref-{provider}"),
        tenant=TENANT,
        meeting_uuid=mixed.meeting_uuid,
        occurred_at=START + timedelta(minutes=55),
        provider=provider,
        job_id=job_id,
        conversation_id=job_id if provider != "symbl" else "5138417839882240",
        part_index=1,
        part_count=2,
        part_offset_seconds=1414.0,
    )


def status_reported(ev: ModuleType, provider: str, job_id: str, via: str) -> Any:
    """A confirmed job status (callback, sweeper or, later, the transcriber)."""
    return ev.JobStatusReported(
        event_id=ev.stable_id("job-status", provider, job_id, "completed"),
        tenant=TENANT,
        meeting_uuid=MEETING,
        occurred_at=START + timedelta(minutes=71),
        provider=provider,
        job_id=job_id,
        reported_status="completed",
        via=via,
    )


def announced(tree: Tree, rc: Any) -> Any:
    """The ``AudioMixed`` the release's mixer publishes for ``rc`` (from the record it keeps on the meeting)."""
    ev = tree.mod("zoomsymbl_common.events")
    state = tree.mod("zoomsymbl_mixer.state")
    template = audio_mixed(ev, rc, transcripts="transcripts" in ev.AudioMixed.model_fields)
    mixed = state.audio_mixed(rc, mix_record(tree, template, full=True))
    transcripts = getattr(template, "transcripts", ())
    if transcripts:
        mixed = state.with_transcripts(mixed, transcripts)
    return mixed


def events(tree: Tree) -> dict[str, Any]:
    """Every event type of the release: ``{file stem: event}``."""
    ev = tree.mod("zoomsymbl_common.events")
    rc = recording_completed(tree)
    has_phone = "platform" in ev.RecordingCompleted.model_fields
    mixed = announced(tree, rc)
    providers = ev.Provider.__args__
    found: dict[str, Any] = {
        "full": rc,
        "backfill": rc.model_copy(update={"source": "backfill", "has_download_token": False,
                                          "download_token_expires_at": None}),
    }  # fmt: skip
    out = {f"{ev.RecordingCompleted.topic}.{k}": v for k, v in found.items()}
    if has_phone:
        out[f"{ev.RecordingCompleted.topic}.phone"] = phone_completed(tree, ev)
    out[f"{ev.AudioMixed.topic}.full"] = mixed
    out[f"{ev.JobSubmitted.topic}.assemblyai"] = job_submitted(ev, mixed, "assemblyai", "6ka1kq6gx5-2f4e-4b8e")
    out[f"{ev.JobSubmitted.topic}.symbl"] = job_submitted(ev, mixed, "symbl", "9a54d2c1-6b0e-4f1a-9d8e-3c7b2a1f0e9d")
    out[f"{ev.JobStatusReported.topic}.callback"] = status_reported(
        ev, "assemblyai", "6ka1kq6gx5-2f4e-4b8e", "callback"
    )
    out[f"{ev.JobStatusReported.topic}.sweeper"] = status_reported(
        ev, "symbl", "9a54d2c1-6b0e-4f1a-9d8e-3c7b2a1f0e9d", "sweeper"
    )
    if "whisper" in providers:
        job = "whisper-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        out[f"{ev.JobSubmitted.topic}.whisper"] = job_submitted(ev, mixed, "whisper", job)
        out[f"{ev.JobStatusReported.topic}.worker"] = status_reported(ev, "whisper", job, "worker")
    if "zoom" in providers:
        out[f"{ev.JobSubmitted.topic}.zoom"] = job_submitted(ev, mixed, "zoom", "zoom-a1b2c3d4e5f60718293a4b5c6d7e8f90")
    out[f"{ev.InsightsReady.topic}.full"] = ev.InsightsReady(
        event_id=ev.stable_id("insights-ready", TENANT, MEETING, "0"),
        tenant=TENANT,
        meeting_uuid=MEETING,
        occurred_at=START + timedelta(minutes=72),
        provider="symbl",
        conversation_ids=("5138417839882240", "6264317746724864"),
        summary_url="https://meetinginsights.symbl.ai/meeting/#/eyJzZXNzaW9uSWQiOiI1MTM4NDE3ODM5ODgyMjQwIn0=",
        counts={"messages": 412, "summary": 6, "topics": 9, "questions": 4, "action_items": 3, "follow_ups": 2},
    )
    out[f"{ev.MeetingFailed.topic}.full"] = ev.MeetingFailed.of(
        rc, "mixer", "download", "zoom answered 404 for file 'p-ben' at https://acme.zoom.us/rec/download/p-ben"
    )
    if hasattr(ev, "ReconciliationCompleted"):
        rec = ev.ReconciliationCompleted
        window = (date(2026, 11, 1), date(2026, 11, 30))
        out[f"{rec.topic}.full"] = rec(
            event_id=ev.stable_id(rec.topic, TENANT, *map(str, window)),
            tenant=TENANT,
            meeting_uuid=rec.window_key(*window),
            occurred_at=START + timedelta(days=11),
            window_from=window[0],
            window_to=window[1],
            listed=143,
            expected=120,
            archived=117,
            flagged=2,
            already_flagged=1,
            missing=("4444AAAiAAAAAiAiAiiAii==", "/ajk//abc==", "phone-call:7412589630147852360"),
        )
    for name in [n for n in out if n.endswith((".full", ".assemblyai", ".callback"))]:
        out[name.rsplit(".", 1)[0] + ".minimal"] = minimal(out[name])
    return out


def dead_letter(ev: ModuleType, event: Any) -> Any:
    """The letter a consumer writes to ``<topic>.dlq`` after giving ``event`` up."""
    return ev.DeadLetter(
        source_topic=event.topic,
        service="mixer",
        reason="gave up after 5 attempts: s3 unavailable: ReadTimeoutError",
        error_type="RetryableError",
        attempts=5,
        payload=event.model_dump_json(),
        event_id=event.event_id,
        failed_at=START + timedelta(hours=1),
    )


def write_events(tree: Tree, out: Path) -> None:
    folder = out / "events"
    folder.mkdir(parents=True, exist_ok=True)
    ev = tree.mod("zoomsymbl_common.events")
    found = events(tree)
    found["dead-letter"] = dead_letter(ev, found[f"{ev.RecordingCompleted.topic}.full"])
    for stem, event in sorted(found.items()):
        body = json.loads(event.model_dump_json())
        (folder / f"{stem}.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    covered = {type(e).__name__ for e in found.values()}
    missing = {t.__name__ for t in ev.EVENT_TYPES} - covered
    if missing:
        raise SystemExit(f"no sample of {sorted(missing)}")


# ---------------------------------------------------------------------------------------------- records


class Snapshots:
    """Documents as the stores left them, per collection, with the call that wrote them."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.found: dict[str, list[Json]] = {}

    async def take(self, collection: str, query: Json, written_by: str) -> None:
        docs = await self.db[collection].find(query).to_list(None)
        if not docs:
            raise SystemExit(f"nothing in {collection} for {query} after {written_by}")
        for doc in docs:
            self.found.setdefault(collection, []).append({"written_by": written_by, "document": doc})

    def write(self, out: Path) -> None:
        folder = out / "records"
        folder.mkdir(parents=True, exist_ok=True)
        options = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=True, tzinfo=UTC)
        for collection, entries in sorted(self.found.items()):
            text = json_util.dumps(entries, json_options=options, indent=2, ensure_ascii=False)
            (folder / f"{collection}.json").write_text(text + "\n", encoding="utf-8")


@contextmanager
def scratch_database(tree: Tree, name: str) -> Iterator[Any]:
    mongo_mod = tree.mod("zoomsymbl_common.mongo")
    settings = tree.mod("zoomsymbl_common.settings")
    mongo = mongo_mod.make_mongo(settings.InfraSettings(), database=name)
    try:
        yield mongo
    finally:
        pass


class FakeSmtp:
    """The SMTP transport the release's outbox is given: accepts, or fails like an unreachable server."""

    def __init__(self, error: Callable[[], Exception] | None = None) -> None:
        self.error = error
        self.sent: list[bytes] = []

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        if self.error is not None:
            raise self.error()
        self.sent.append(raw)


def sample_insights(base: ModuleType) -> Any:
    """What a provider returned for one part (the release's ``Insights``; newer fields when it has them)."""
    item_fields = {f for f in base.InsightItem.__dataclass_fields__}
    insight_fields = {f for f in base.Insights.__dataclass_fields__}

    def item(text: str, **extra: Any) -> Any:
        return base.InsightItem(text=text, **{k: v for k, v in extra.items() if k in item_fields})

    messages = (
        base.TranscriptMessage(
            speaker="Ana Lima", text="Let's start with the EMEA numbers.", start_seconds=3.2, end_seconds=6.9,
            email="ana@acme.example", channel=1,
        ),
        base.TranscriptMessage(speaker="Others", text="Revenue is up nine percent.", start_seconds=7.4,
                               end_seconds=10.1, email=None, channel=2),
    )  # fmt: skip
    values: Json = {
        "messages": messages,
        "topics": (item("EMEA revenue", score=0.91),),
        "questions": (item("Can we hire two more engineers?", speaker="Ana Lima", start_seconds=640.0),),
        "action_items": (item("Send the revised forecast", assignee="Ben Okafor", due="2026-11-27",
                              assignee_email="ben@acme.example"),),
        "follow_ups": (item("Review hiring plan next week"),),
        "summary": ("Revenue grew 9 % in EMEA.", "Hiring plan to be revised."),
        "summary_url": "https://meetinginsights.symbl.ai/meeting/#/eyJzZXNzaW9uSWQiOiI1MTM4In0=",
        "extra": {"language": "en"},
    }  # fmt: skip
    if "decisions" in insight_fields:
        values["decisions"] = (item("Freeze travel budget", speaker="Ana Lima", start_seconds=1500.0),)
    if "summary_topics" in insight_fields:
        values["summary_topics"] = (
            base.SummaryTopic(headline="Revenue", text="EMEA up 9 %.", start_seconds=3.2, end_seconds=600.0),
        )
    if "unavailable" in insight_fields:
        values["unavailable"] = {"questions": "insights engine answered HTTP 503"}
    return base.Insights(**{k: v for k, v in values.items() if k in insight_fields})


async def records_2026_11_24(tree: Tree, mongo: Any, shots: Snapshots) -> None:
    """The stores of the first end-to-end release (services write plain dicts; no records module)."""
    m = tree.mod("zoomsymbl_common.mongo")
    db = mongo.db
    rc = recording_completed(tree)

    # ingest: receipt claim + publication mark, the webhook's download token.
    stores = tree.mod("zoomsymbl_ingest.stores")
    receipt = stores.Receipt(rc.event_id, TENANT, MEETING, rc.event_id, "webhook")
    await stores.MongoReceipts(mongo).claim([receipt])
    await stores.MongoReceipts(mongo).mark_published([stores.Acknowledged(receipt, claimed=True)])
    await shots.take(m.RECEIPTS, {}, "ingest MongoReceipts.claim + mark_published")
    token = stores.DownloadToken(TENANT, MEETING, _secret("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.ZG93bmxvYWQ"),
                                 START + timedelta(hours=25))  # fmt: skip
    await stores.MongoTokens(mongo).put(token)
    await shots.take(m.SECRETS, {}, "ingest MongoTokens.put")

    # mixer: a mixed meeting, and one failed at download.
    state = tree.mod("zoomsymbl_mixer.state")
    mixed = announced(tree, rc)
    record = mix_record(tree, mixed, full=True)
    mixer = state.MeetingState(db)
    await mixer.record_mix(rc, record)
    await shots.take(m.MEETINGS, {"meeting_uuid": MEETING}, "mixer MeetingState.record_mix")
    failed_rc = rc.model_copy(update={"meeting_uuid": "failedAtDownload==", "event_id": "e-failed"})
    await mixer.mark_failed(failed_rc, "download", "zoom answered 404 for 'p-ana'")
    await shots.take(m.MEETINGS, {"meeting_uuid": "failedAtDownload=="}, "mixer MeetingState.mark_failed")

    # submitter: two parts, a split plan, the claims and the provider's ids; a rejected meeting.
    await submitter_2026_11_24(tree, mongo, shots, mixed)

    # notifier: statuses, insights, the meeting's stages, the outbox.
    await notifier_2026_11_24(tree, mongo, shots, mixed)

    # replay --force: the generation bumped.
    replay = tree.mod("zoomsymbl_common.ops.replay")
    await replay.bump_generation(mongo, TENANT, "replayed==")
    await shots.take(m.MEETINGS, {"meeting_uuid": "replayed=="}, "zoomsymbl replay --force bump_generation")

    # limiter: one slot held and the tick it spent.
    limiter_mod = tree.mod("zoomsymbl_common.limiter")
    limiter = limiter_mod.Limiter(mongo, "assemblyai:acme-account", rate_per_second=1.0, burst=1, max_in_flight=4)
    await limiter.acquire("job-ref-limited", timeout=10)
    await shots.take(m.LIMITER, {}, "Limiter.acquire")
    await shots.take(limiter_mod.LIMITER_TICKS, {}, "Limiter.acquire")


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


async def submitter_2026_11_24(tree: Tree, mongo: Any, shots: Snapshots, mixed: Any) -> None:
    m = tree.mod("zoomsymbl_common.mongo")
    jobs_mod = tree.mod("zoomsymbl_submitter.jobs")
    plan = tree.mod("zoomsymbl_submitter.plan")
    parts_mod = tree.mod("zoomsymbl_submitter.parts")
    meetings_mod = tree.mod("zoomsymbl_submitter.meetings")
    base = tree.mod("zoomsymbl_common.providers.base")
    store = jobs_mod.JobStore(mongo, owner="zoomsymbl-submitter-7d9f8c-x2k4p", claim_seconds=60.0)
    meetings = meetings_mod.MeetingStore(mongo)
    parts = [
        parts_mod.Part(0, 2, 0.0, 1414.0, "zoomsymbl", f"parts/{TENANT}/aDYlohsHRtCd4ii1uC2-hA/0.flac", 45_900_000),
        parts_mod.Part(1, 2, 1414.0, 1414.0, "zoomsymbl", f"parts/{TENANT}/aDYlohsHRtCd4ii1uC2-hA/1.flac", 45_977_120),
    ]
    await meetings.save_split_plan(mixed, parts)
    for part in parts:
        key = plan.idempotency_key(mixed, "assemblyai", part)
        await store.claim(key, plan.job_fields(mixed, "assemblyai", "assemblyai:acme-account", part))
        await store.record_submitted(key, base.SubmittedJob(f"aai-part-{part.index}", f"aai-part-{part.index}"))
    await meetings.mark_submitted(mixed, "assemblyai", len(parts))
    await shots.take(m.MEETINGS, {"meeting_uuid": MEETING}, "submitter MeetingStore.save_split_plan + mark_submitted")
    await shots.take(m.JOBS, {"meeting_uuid": MEETING}, "submitter JobStore.claim + record_submitted")

    # A claim whose owner died mid-submit, taken over by another replica (job_claims, after_crash).
    crashed = mixed.model_copy(update={"meeting_uuid": "crashedMidSubmit==", "event_id": "e-crashed"})
    whole = parts_mod.Part(0, 1, 0.0, 2828.0, "zoomsymbl", mixed.object_key, mixed.size_bytes)
    key = plan.idempotency_key(crashed, "assemblyai", whole)
    dying = jobs_mod.JobStore(mongo, owner="zoomsymbl-submitter-dead-1", claim_seconds=0.05)
    await dying.claim(key, plan.job_fields(crashed, "assemblyai", "assemblyai:acme-account", whole))
    await asyncio.sleep(0.2)
    await store.claim(key, plan.job_fields(crashed, "assemblyai", "assemblyai:acme-account", whole))
    await store.record_submitted(key, base.SubmittedJob("aai-resubmitted", "aai-resubmitted"))
    await shots.take(m.JOBS, {"meeting_uuid": "crashedMidSubmit=="}, "submitter JobStore.claim (taken over)")
    await shots.take(jobs_mod.JOB_CLAIMS, {}, "submitter JobStore._take_over")

    # The provider refused the file: the claim released as rejected, the meeting failed by the submitter.
    rejected = mixed.model_copy(update={"meeting_uuid": "rejectedBySubmitter==", "event_id": "e-rejected"})
    await (
        tree.mod("zoomsymbl_mixer.state")
        .MeetingState(mongo.db)
        .record_mix(rejected_rc(tree, rejected.meeting_uuid), mix_record(tree, rejected))
    )
    key = plan.idempotency_key(rejected, "assemblyai", whole)
    await store.claim(key, plan.job_fields(rejected, "assemblyai", "assemblyai:acme-account", whole))
    await store.release_claim(key, "rejected", "assemblyai refused the file: 400 'audio too short'")
    await meetings.mark_failed(rejected, "submit", "assemblyai refused the file: 400 'audio too short'")
    await shots.take(m.JOBS, {"meeting_uuid": rejected.meeting_uuid}, "submitter JobStore.release_claim rejected")
    await shots.take(m.MEETINGS, {"meeting_uuid": rejected.meeting_uuid}, "submitter MeetingStore.mark_failed")


def rejected_rc(tree: Tree, meeting_uuid: str) -> Any:
    return recording_completed(tree).model_copy(update={"meeting_uuid": meeting_uuid, "event_id": "e-" + meeting_uuid})


def mix_record(tree: Tree, mixed: Any, *, full: bool = False) -> Any:
    """The mixer's ``MixRecord`` of ``mixed``; ``full``: with the raw tracks it stored and a file Zoom no longer had."""
    state = tree.mod("zoomsymbl_mixer.state")
    raw: tuple[Any, ...] = ()
    if full:
        folder = f"raw/{TENANT}/aDYlohsHRtCd4ii1uC2-hA"
        raw = (
            state.RawObject(file_id="p-ana", key=f"{folder}/p-ana.m4a", size=28_350_112),
            state.RawObject(file_id="p-ben", key=f"{folder}/p-ben.m4a", size=27_104_000),
        )
    return state.MixRecord(
        input_hash=mixed.input_hash,
        input_kind="participant_tracks",
        bucket=mixed.bucket,
        object_key=mixed.object_key,
        format=mixed.format,
        channels=mixed.channels,
        duration_seconds=mixed.duration_seconds,
        size_bytes=mixed.size_bytes,
        channel_map=mixed.channel_map,
        speaker_stats=mixed.speaker_stats,
        diarization=mixed.diarization,
        raw_objects=raw,
        missing_files=("p-cho",) if full else (),
        mixed_at=START + timedelta(minutes=52),
    )


async def notifier_2026_11_24(tree: Tree, mongo: Any, shots: Snapshots, mixed: Any) -> None:
    m = tree.mod("zoomsymbl_common.mongo")
    jobs_mod = tree.mod("zoomsymbl_notifier.jobs")
    meetings_mod = tree.mod("zoomsymbl_notifier.meetings")
    insights_mod = tree.mod("zoomsymbl_notifier.insights")
    outbox_mod = tree.mod("zoomsymbl_notifier.outbox")
    mail = tree.mod("zoomsymbl_notifier.mail")
    report = tree.mod("zoomsymbl_notifier.report")
    base = tree.mod("zoomsymbl_common.providers.base")
    jobs = jobs_mod.Jobs(mongo)
    meetings = meetings_mod.Meetings(mongo)
    store = insights_mod.InsightsStore(mongo)
    backoff = outbox_mod.Backoff(base=30.0, ceiling=3600.0, lease=120.0)
    outbox = outbox_mod.Outbox(mongo, FakeSmtp(), backoff)

    found = await mongo.db[m.JOBS].find({"meeting_uuid": MEETING}).to_list(None)
    records = [jobs_mod.JobRecord.from_doc(doc) for doc in found]
    for job in sorted(records, key=lambda j: j.part_index):
        await jobs.apply_status(job, "in_progress", None, "callback")
        await meetings.advance(TENANT, MEETING, 0, "processing")
        await jobs.apply_status(job, "completed", None, "callback")
        await store.put(job, sample_insights(base))
        await jobs.mark(job, "insights_stored_at")
    await meetings.advance(TENANT, MEETING, 0, "completed")
    facts = await meetings.facts(TENANT, MEETING)
    key = outbox_mod.MailKey(TENANT, MEETING, 0, "report")
    envelope = mail.Envelope(sender="zoomsymbl <reports@zoomsymbl.example>", to=("host@acme.example",),
                             cc=("archive@acme.example",))  # fmt: skip
    msg_id = mail.message_id(TENANT, MEETING, 0, "report", "zoomsymbl.example")
    merged = sample_insights(base)
    raw = mail.compose(report.meeting_report(merged, facts, 0, (merged.summary_url,)), envelope, msg_id)
    await outbox.record(key, envelope, msg_id, raw)
    await outbox.deliver(key)
    await meetings.advance(TENANT, MEETING, 0, "notified")
    for job in records:
        await jobs.mark(job, "processed_at")
    await jobs.touch(records[0], START + timedelta(hours=3), timedelta(minutes=10))
    await shots.take(m.JOBS, {"meeting_uuid": MEETING}, "notifier Jobs.apply_status + mark + touch")
    await shots.take(m.MEETINGS, {"meeting_uuid": MEETING}, "notifier Meetings.advance (to notified)")
    await shots.take(m.INSIGHTS, {}, "notifier InsightsStore.put")
    await shots.take(m.EMAILS, {"meeting_uuid": MEETING}, "notifier Outbox.record + deliver (sent)")
    await shots.take(m.EMAIL_CLAIMS, {}, "notifier Outbox._claim_attempt")

    # A provider failure: the meeting failed by the notifier, its notice waiting for SMTP to come back.
    rejected = await mongo.db[m.JOBS].find_one({"meeting_uuid": "crashedMidSubmit=="})
    job = jobs_mod.JobRecord.from_doc(rejected)
    await (
        tree.mod("zoomsymbl_mixer.state")
        .MeetingState(mongo.db)
        .record_mix(rejected_rc(tree, job.meeting_uuid), mix_record(tree, mixed))
    )
    await jobs.apply_status(job, "failed", "transcoding failed: file does not appear to contain audio", "sweeper")
    await meetings.fail(TENANT, job.meeting_uuid, 0, "provider", "assemblyai job failed: no audio")
    down = outbox_mod.Outbox(mongo, FakeSmtp(lambda: mail.SmtpUnavailable("connection refused")), backoff)
    key = outbox_mod.MailKey(TENANT, job.meeting_uuid, 0, "failure")
    notice = report.failure_notice(await meetings.facts(TENANT, job.meeting_uuid), 0, "no audio", "transcription")
    msg_id = mail.message_id(TENANT, job.meeting_uuid, 0, "failure", "zoomsymbl.example")
    await down.record(key, envelope, msg_id, mail.compose(notice, envelope, msg_id))
    await down.deliver(key)
    no_one = outbox_mod.MailKey(TENANT, "noRecipient==", 0, "report")
    await outbox.record(no_one, mail.Envelope(sender="reports@zoomsymbl.example", to=()), "<x@zoomsymbl.example>", None)
    await shots.take(m.JOBS, {"meeting_uuid": job.meeting_uuid}, "notifier Jobs.apply_status failed")
    await shots.take(m.MEETINGS, {"meeting_uuid": job.meeting_uuid}, "notifier Meetings.fail")
    await shots.take(m.EMAILS, {"meeting_uuid": job.meeting_uuid}, "notifier Outbox.deliver (smtp down: pending)")
    await shots.take(m.EMAILS, {"meeting_uuid": "noRecipient=="}, "notifier Outbox.record (no recipient: skipped)")


async def records_2026_12_04(tree: Tree, mongo: Any, shots: Snapshots) -> None:
    """The stores of a mid-wave release: typed records, Zoom Phone, the zoom source, whisper, reconciliation."""
    ev = tree.mod("zoomsymbl_common.events")
    r = tree.mod("zoomsymbl_common.records")
    base = tree.mod("zoomsymbl_common.providers.base")
    db = mongo.db
    rc = recording_completed(tree)

    stores = tree.mod("zoomsymbl_ingest.stores")
    await stores.MongoReceipts(mongo).record([stores.Receipt(rc.event_id, TENANT, MEETING, rc.event_id, "webhook")])
    await shots.take(r.RECEIPTS, {}, "ingest MongoReceipts.record")
    token = stores.DownloadToken(TENANT, MEETING, _secret("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.ZG93bmxvYWQ"),
                                 START + timedelta(hours=25))  # fmt: skip
    await stores.MongoTokens(mongo).put(token)
    await shots.take(r.SECRETS, {}, "ingest MongoTokens.put")

    state_mod = tree.mod("zoomsymbl_mixer.state")
    metadata = tree.mod("zoomsymbl_mixer.metadata")
    state = state_mod.MeetingState(db)
    mixed = announced(tree, rc)
    record = mix_record(tree, mixed, full=True)
    await state.add_transcripts(rc, mixed.transcripts)
    await state.record_mix(rc, record)
    await state.store_metadata(metadata.conversation_metadata(rc, record))
    await shots.take(r.MEETINGS, {"meeting_uuid": MEETING}, "mixer MeetingState.add_transcripts + record_mix")
    await shots.take(r.CONVERSATIONS, {"meeting_uuid": MEETING}, "mixer MeetingState.store_metadata")

    phone = phone_completed(tree, ev)
    phone_mixed = mixed.model_copy(update={"meeting_uuid": phone.meeting_uuid, "transcripts": (), "diarization": True})
    phone_record = mix_record(tree, phone_mixed).model_copy(update={"input_kind": "phone", "diarization": True})
    await state.record_mix(phone, phone_record)
    await state.store_metadata(metadata.conversation_metadata(phone, phone_record))
    await shots.take(r.MEETINGS, {"meeting_uuid": phone.meeting_uuid}, "mixer MeetingState.record_mix (phone call)")
    await shots.take(r.CONVERSATIONS, {"meeting_uuid": phone.meeting_uuid}, "mixer MeetingState.store_metadata (phone)")

    failed_rc = rc.model_copy(update={"meeting_uuid": "failedAtDownload==", "event_id": "e-failed"})
    await state.mark_failed(failed_rc, "download", "zoom answered 404 for 'p-ana'")
    await shots.take(r.MEETINGS, {"meeting_uuid": "failedAtDownload=="}, "mixer MeetingState.mark_failed")
    await shots.take(r.CONVERSATIONS, {"meeting_uuid": "failedAtDownload=="}, "mixer failed_metadata")

    await submitter_2026_12_04(tree, mongo, shots, mixed)
    await notifier_2026_12_04(tree, mongo, shots, mixed)

    # The self-hosted transcriber: the work order, a worker's claim, progress and result.
    whisper = tree.mod("zoomsymbl_common.providers.whisper")
    request = base.SubmitRequest(
        name="acme/aDYlohsHRtCd4ii1uC2+hA==", language="en", audio_format="flac", channels=2,
        channel_map=mixed.channel_map, diarization=False, webhook_url=_secret(""), size_bytes=mixed.size_bytes,
        duration_seconds=mixed.duration_seconds, object_bucket=mixed.bucket, object_key=mixed.object_key,
    )  # fmt: skip
    job = await whisper.WhisperProvider(mongo).submit(request)
    await shots.take(r.TRANSCRIPTIONS, {"_id": job.job_id}, "WhisperProvider.submit")
    worker_mod = tree.mod("zoomsymbl_transcriber.worker")
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)

    # Only the lease, progress and outcome writes run: no audio is downloaded or transcribed.
    worker = worker_mod.Worker(
        mongo=mongo, store_for=None, transcriber=None, publish=publish, scratch_dir=Path("/nonexistent"),
        owner="zoomsymbl-transcriber-5c7d-9xk2", lease_seconds=900.0, model_name="tiny.en",
    )  # fmt: skip
    event = job_submitted(ev, mixed, "whisper", job.job_id).model_copy(update={"part_index": 0, "part_count": 1})
    await worker._claim(job.job_id)
    await worker._progress(event, job.job_id, 48.2, 1, 2)
    await shots.take(r.TRANSCRIPTIONS, {"_id": job.job_id}, "transcriber Worker._claim + _progress")
    await shots.take(r.MEETINGS, {"meeting_uuid": MEETING}, "transcriber Worker._progress")
    utterances = [
        r.Utterance(channel=1, start=3.2, end=6.9, text="Let's start with the EMEA numbers.").to_document(),
        r.Utterance(channel=2, start=7.4, end=10.1, text="Revenue is up nine percent.").to_document(),
    ]
    await worker._finish(event, job.job_id, "completed", {"utterances": utterances, "model": "tiny.en"})
    await shots.take(r.TRANSCRIPTIONS, {"_id": job.job_id}, "transcriber Worker._finish completed")

    attempts = tree.mod("zoomsymbl_common.attempts")
    counts = attempts.MongoAttempts(mongo)
    key = attempts.AttemptKey("mixer", "zoom.recording-completed.v1", rc.event_id)
    await counts.begin(key)
    await counts.failed(key, "s3 unavailable: ReadTimeoutError")
    await counts.close()
    await shots.take(r.CONSUMER_ATTEMPTS, {}, "MongoAttempts.begin + failed")

    reconcile = tree.mod("zoomsymbl_ingest.reconcile")
    pages = tree.mod("zoomsymbl_ingest.reconcile_pages")
    past = reconcile.PastMeeting(
        uuid="4444AAAiAAAAAiAiAiiAii==", meeting_id="81234567890", topic="Board sync", host_email="cfo@acme.example",
        start_time=START - timedelta(days=3), end_time=START - timedelta(days=3) + timedelta(minutes=30),
        has_recording=True,
    )  # fmt: skip
    await pages.insert_flag(mongo, reconcile.missing_record(TENANT, past, START + timedelta(days=11)))
    await shots.take(r.CONVERSATIONS, {"meeting_uuid": past.uuid}, "zoomsymbl reconcile insert_flag")

    quota = tree.mod("zoomsymbl_common.zoom_quota")
    await quota.ZoomQuota(mongo, "D8cJuqWVQ623CI4Q8yQK0Q").acquire("Heavy", "priority")
    await shots.take(r.ZOOM_QUOTA, {}, "ZoomQuota.acquire Heavy")

    replay = tree.mod("zoomsymbl_common.ops.replay")
    await replay.bump_generation(mongo, TENANT, MEETING)
    await shots.take(r.MEETINGS, {"meeting_uuid": MEETING}, "zoomsymbl replay --force bump_generation")

    limiter_mod = tree.mod("zoomsymbl_common.limiter")
    limiter = limiter_mod.Limiter(mongo, "assemblyai:acme-account", rate_per_second=1.0, burst=1, max_in_flight=4)
    await limiter.acquire("job-ref-limited", timeout=10)
    await shots.take(r.LIMITER, {}, "Limiter.acquire")
    await shots.take(r.LIMITER_TICKS, {}, "Limiter.acquire")


async def submitter_2026_12_04(tree: Tree, mongo: Any, shots: Snapshots, mixed: Any) -> None:
    r = tree.mod("zoomsymbl_common.records")
    jobs_mod = tree.mod("zoomsymbl_submitter.jobs")
    plan = tree.mod("zoomsymbl_submitter.plan")
    parts_mod = tree.mod("zoomsymbl_submitter.parts")
    meetings_mod = tree.mod("zoomsymbl_submitter.meetings")
    base = tree.mod("zoomsymbl_common.providers.base")
    store = jobs_mod.JobStore(mongo, "zoomsymbl-submitter-7d9f8c-x2k4p", 60.0)
    meetings = meetings_mod.MeetingStore(mongo)
    parts = [
        parts_mod.Part(0, 2, 0.0, 1414.0, "zoomsymbl", f"parts/{TENANT}/aDYlohsHRtCd4ii1uC2-hA/0.flac", 45_900_000),
        parts_mod.Part(1, 2, 1414.0, 1414.0, "zoomsymbl", f"parts/{TENANT}/aDYlohsHRtCd4ii1uC2-hA/1.flac", 45_977_120),
    ]
    await meetings.save_split_plan(mixed, parts, planned=2)
    for part in parts:
        key = plan.idempotency_key(mixed, "assemblyai", part)
        await store.claim(key, plan.job_fields(mixed, "assemblyai", "assemblyai:acme-account", part))
        await store.record_submitted(key, base.SubmittedJob(f"aai-part-{part.index}", f"aai-part-{part.index}"))
    await meetings.mark_submitted(mixed, "assemblyai", len(parts))
    await shots.take(r.MEETINGS, {"meeting_uuid": MEETING}, "submitter MeetingStore.save_split_plan + mark_submitted")
    await shots.take(r.JOBS, {"meeting_uuid": MEETING}, "submitter JobStore.claim + record_submitted")

    crashed = mixed.model_copy(update={"meeting_uuid": "crashedMidSubmit==", "event_id": "e-crashed"})
    whole = parts_mod.Part(0, 1, 0.0, 2828.0, "zoomsymbl", mixed.object_key, mixed.size_bytes)
    key = plan.idempotency_key(crashed, "assemblyai", whole)
    dying = jobs_mod.JobStore(mongo, "zoomsymbl-submitter-dead-1", 0.05)
    await dying.claim(key, plan.job_fields(crashed, "assemblyai", "assemblyai:acme-account", whole))
    await asyncio.sleep(0.2)
    await store.claim(key, plan.job_fields(crashed, "assemblyai", "assemblyai:acme-account", whole))
    await store.record_submitted(key, base.SubmittedJob("aai-resubmitted", "aai-resubmitted"))
    await shots.take(r.JOBS, {"meeting_uuid": "crashedMidSubmit=="}, "submitter JobStore.claim (taken over)")
    await shots.take(r.JOB_CLAIMS, {}, "submitter JobStore._take_over")

    rejected = mixed.model_copy(update={"meeting_uuid": "rejectedBySubmitter==", "event_id": "e-rejected"})
    await (
        tree.mod("zoomsymbl_mixer.state")
        .MeetingState(mongo.db)
        .record_mix(rejected_rc(tree, rejected.meeting_uuid), mix_record(tree, rejected))
    )
    key = plan.idempotency_key(rejected, "assemblyai", whole)
    await store.claim(key, plan.job_fields(rejected, "assemblyai", "assemblyai:acme-account", whole))
    await store.release_claim(key, "rejected", "assemblyai refused the file: 400 'audio too short'")
    await meetings.mark_failed(rejected, "submit", "assemblyai refused the file: 400 'audio too short'")
    await shots.take(r.JOBS, {"meeting_uuid": rejected.meeting_uuid}, "submitter JobStore.release_claim rejected")
    await shots.take(r.MEETINGS, {"meeting_uuid": rejected.meeting_uuid}, "submitter MeetingStore.mark_failed")


async def notifier_2026_12_04(tree: Tree, mongo: Any, shots: Snapshots, mixed: Any) -> None:
    r = tree.mod("zoomsymbl_common.records")
    jobs_mod = tree.mod("zoomsymbl_notifier.jobs")
    meetings_mod = tree.mod("zoomsymbl_notifier.meetings")
    insights_mod = tree.mod("zoomsymbl_notifier.insights")
    outbox_mod = tree.mod("zoomsymbl_notifier.outbox")
    mail = tree.mod("zoomsymbl_notifier.mail")
    report = tree.mod("zoomsymbl_notifier.report")
    base = tree.mod("zoomsymbl_common.providers.base")
    jobs = jobs_mod.Jobs(mongo)
    meetings = meetings_mod.Meetings(mongo)
    store = insights_mod.InsightsStore(mongo)
    backoff = outbox_mod.Backoff(base=30.0, ceiling=3600.0, lease=120.0)
    outbox = outbox_mod.Outbox(mongo, FakeSmtp(), backoff)

    found = await mongo.db[r.JOBS].find({"meeting_uuid": MEETING}).to_list(None)
    records = sorted((jobs_mod.JobRecord.from_doc(doc) for doc in found), key=lambda j: j.part_index)
    await jobs.note_early_callback(records[0], records[0].job_id, "queued")
    await shots.take(r.EARLY_CALLBACKS, {}, "notifier Jobs.note_early_callback")
    for job in records:
        await jobs.apply_status(job, "in_progress", None, "callback")
        await meetings.advance(TENANT, MEETING, 0, "processing")
        await jobs.apply_status(job, "completed", None, "callback")
        await store.put(job, sample_insights(base))
        await jobs.mark(job, "insights_stored_at")
    facts = await meetings.advance_and_read(TENANT, MEETING, 0, "completed")
    key = outbox_mod.MailKey(TENANT, MEETING, 0, "report")
    envelope = mail.Envelope(sender="zoomsymbl <reports@zoomsymbl.example>", to=("host@acme.example",),
                             cc=("archive@acme.example",))  # fmt: skip
    msg_id = mail.message_id(TENANT, MEETING, 0, "report", "zoomsymbl.example")
    merged = sample_insights(base)
    link = "https://meet.zoomsymbl.example/m/eyJ0IjoiYWNtZSJ9.c2lnbmF0dXJl"
    raw = mail.compose(report.meeting_report(merged, facts, 0, (merged.summary_url,), link), envelope, msg_id)
    await outbox.send(key, envelope, msg_id, raw)
    await meetings.advance(TENANT, MEETING, 0, "notified")
    for job in records:
        await jobs.mark(job, "processed_at")
    await jobs.touch(records[0], START + timedelta(hours=3), timedelta(minutes=10))
    await shots.take(r.JOBS, {"meeting_uuid": MEETING}, "notifier Jobs.apply_status + mark + touch")
    await shots.take(r.MEETINGS, {"meeting_uuid": MEETING}, "notifier Meetings.advance (to notified)")
    await shots.take(r.INSIGHTS, {}, "notifier InsightsStore.put")
    await shots.take(r.EMAILS, {"meeting_uuid": MEETING}, "notifier Outbox.send (sent)")

    crashed = await mongo.db[r.JOBS].find_one({"meeting_uuid": "crashedMidSubmit=="})
    job = jobs_mod.JobRecord.from_doc(crashed)
    await (
        tree.mod("zoomsymbl_mixer.state")
        .MeetingState(mongo.db)
        .record_mix(rejected_rc(tree, job.meeting_uuid), mix_record(tree, mixed))
    )
    await jobs.apply_status(job, "failed", "transcoding failed: file does not appear to contain audio", "sweeper")
    await meetings.fail(TENANT, job.meeting_uuid, 0, "provider", "assemblyai job failed: no audio")
    down = outbox_mod.Outbox(mongo, FakeSmtp(lambda: mail.SmtpUnavailable("connection refused")), backoff)
    key = outbox_mod.MailKey(TENANT, job.meeting_uuid, 0, "failure")
    notice = report.failure_notice(await meetings.facts(TENANT, job.meeting_uuid), 0, "no audio", "transcription")
    msg_id = mail.message_id(TENANT, job.meeting_uuid, 0, "failure", "zoomsymbl.example")
    await down.send(key, envelope, msg_id, mail.compose(notice, envelope, msg_id))
    no_one = outbox_mod.MailKey(TENANT, "noRecipient==", 0, "report")
    await outbox.record(no_one, mail.Envelope(sender="reports@zoomsymbl.example", to=()), "<x@zoomsymbl.example>", None)
    await shots.take(r.JOBS, {"meeting_uuid": job.meeting_uuid}, "notifier Jobs.apply_status failed")
    await shots.take(r.MEETINGS, {"meeting_uuid": job.meeting_uuid}, "notifier Meetings.fail")
    await shots.take(r.EMAILS, {"meeting_uuid": job.meeting_uuid}, "notifier Outbox.send (smtp down: pending)")
    await shots.take(r.EMAILS, {"meeting_uuid": "noRecipient=="}, "notifier Outbox.record (no recipient: skipped)")


RECORDS = {"2026-11-24": records_2026_11_24, "2026-12-04": records_2026_12_04}


async def write_records(tree: Tree, out: Path, era: str, database: str) -> None:
    with scratch_database(tree, database) as mongo:
        await mongo.client.drop_database(database)
        try:
            shots = Snapshots(mongo.db)
            await RECORDS[era](tree, mongo, shots)
            shots.write(out)
        finally:
            await mongo.client.drop_database(database)
            await mongo.close()


def write_token(tree: Tree, out: Path) -> None:
    """A callback token the release's submitter puts in a provider's webhook (``callback-token.json``)."""
    tokens = tree.mod("zoomsymbl_common.callback_tokens")
    secret, job_ref = "callback-secret-of-the-deployment-0123456789", "f3a9c1d27b5e4a60b8d9e2f1c3a5b7d9"
    sample = {"secret": secret, "job_ref": job_ref, "token": tokens.make_callback_token(secret, job_ref)}
    (out / "callback-token.json").write_text(json.dumps(sample, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str]) -> None:
    root, out, era = Path(argv[1]), Path(argv[2]), argv[3]
    tree = Tree(root)
    write_events(tree, out)
    write_token(tree, out)
    database = f"zsupgrade_{os.getpid()}"
    asyncio.run(write_records(tree, out, era, database))


if __name__ == "__main__":
    main(sys.argv)
