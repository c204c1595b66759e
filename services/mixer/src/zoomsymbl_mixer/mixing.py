"""One meeting from ``RecordingCompleted`` to ``AudioMixed``: choose, download, merge, measure, store, announce.

Idempotent: the inputs and mix settings hash to ``input_hash``; a meeting that already holds a mix
with that hash is announced again (same ``event_id``) without downloading or merging. Each mix goes to a key of
its input and generation (:func:`mixed_object_key`), never over a file an earlier generation's jobs read. The mix is
recorded in MongoDB before ``AudioMixed`` is published, so a crash in between ends in a
re-publish, never in a second mix. Scratch files live in one folder per meeting under the
configured scratch directory and are removed however the meeting ends. The tracks come in through
:class:`~zoomsymbl_mixer.intake.TrackIntake`, are planned and joined by :class:`~zoomsymbl_mixer.merge.Merger`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from opentelemetry import trace
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, RecordingFile
from zoomsymbl_common.providers.zoom_transcript import MAX_TRANSCRIPT_BYTES
from zoomsymbl_common.records import ConversationMetadata
from zoomsymbl_common.scratch import Volume, work_dir
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key, mix_tag
from zoomsymbl_common.tenants import TenantConfig, Tenants

from zoomsymbl_mixer.analytics import speaker_stats
from zoomsymbl_mixer.archive import upload_metadata
from zoomsymbl_mixer.bounds import check_schedule
from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.credentials import RecordingsApi
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.emails import ParticipantEmails
from zoomsymbl_mixer.errors import EarlierGeneration, NothingToMix, SupersededRecording, UnknownTenant, rejected_at
from zoomsymbl_mixer.ffmpeg import CONTENT_TYPES, EXTENSIONS
from zoomsymbl_mixer.intake import TrackIntake
from zoomsymbl_mixer.merge import Merger
from zoomsymbl_mixer.metadata import conversation_metadata
from zoomsymbl_mixer.mix_record import stored_size
from zoomsymbl_mixer.phone import with_phone_user
from zoomsymbl_mixer.preparation import probe_file
from zoomsymbl_mixer.progress import Progress, Step
from zoomsymbl_mixer.selection import Selection, input_hash, selections
from zoomsymbl_mixer.space import SpaceClaims, output_needed, space_needed, span_seconds
from zoomsymbl_mixer.state import MeetingState, MixRecord, audio_mixed, with_transcripts
from zoomsymbl_mixer.transcripts import view as transcript_view
from zoomsymbl_mixer.upload import PartUploads

SCRATCH_PREFIX = "meeting-"
"""The name of each meeting's directory under ``scratch_dir`` starts so (swept at start-up when left behind)."""
log = logging.getLogger("zoomsymbl.mixer")
tracer = trace.get_tracer("zoomsymbl.mixer")


class Mixer:
    """Everything one meeting needs, wired once per process."""

    def __init__(
        self,
        *,
        state: MeetingState,
        objects: ObjectStore,
        tenants: Tenants,
        fetcher_for: Callable[[TenantConfig], Fetcher],
        api_for: Callable[[TenantConfig], RecordingsApi | None],
        publish: Callable[[AudioMixed], Awaitable[None]],
        config: MixConfig,
        progress: Progress | None = None,
    ) -> None:
        self.state = state
        self.objects = objects
        self.tenants = tenants
        self.fetcher_for = fetcher_for
        self.api_for = api_for
        self.publish = publish
        self.config = config
        # The step each meeting has reached: a give-up after retries names it (handlers.give_up).
        self.progress = progress or Progress()
        # Shared by the meetings this process mixes at once; an emptyDir counts as its size limit.
        limit = Volume(config.scratch_dir, config.scratch_limit) if config.scratch_limit else None
        self.space = SpaceClaims(limit)
        self.intake = TrackIntake(state=state, objects=objects, fetcher_for=fetcher_for, api_for=api_for, config=config)
        self.merger = Merger(config)
        # Participants' e-mails: retried briefly, then the meeting goes on without them, noted (emails.py).
        self.emails = ParticipantEmails(state)

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed:
        """Mix the meeting (or find its mix), record it, publish ``AudioMixed`` (naming the meeting's stored Zoom
        transcripts) and return it."""
        self.progress.begin(event)
        mixed = await self._mixed(event)
        self.progress.done(event)
        return mixed

    async def _mixed(self, event: RecordingCompleted) -> AudioMixed:
        tenant = self.tenants.get(event.tenant)
        if tenant is None:
            raise UnknownTenant(event.tenant)
        await self._check_generation(event)
        if event.platform == "zoom_phone":
            event = await with_phone_user(event, self.api_for(tenant))
        choices = selections(event)
        if not choices:
            raise NothingToMix("the recording lists no completed audio file")
        files = [f for c in choices for f in c.files]
        digest = input_hash(files, self._params(tenant))
        record = await self._recorded(event, tenant, files, digest)
        if record is None:
            async with self._scratch() as scratch:
                try:
                    record = await self._mix(event, tenant, choices, digest, scratch)
                finally:
                    self.space.release(scratch)
        else:
            log.info("mix exists, announcing it again", extra=_fields(event, input_hash=digest))
            record = await self.emails.add_to_record(record, event, self.api_for(tenant))
        await self.reach(event, "upload")  # the mix's record and the archive's, in MongoDB and S3
        await self._keep(event, record, await self.state.missing_transcripts(event.tenant, event.meeting_uuid))
        transcripts = await transcript_view(self.state, self.objects, event, MAX_TRANSCRIPT_BYTES)
        await self.reach(event, "publish")
        mixed = await self.announce(event, with_transcripts(audio_mixed(event, record), transcripts))
        log.info("audio mixed", extra=_fields(event, channels=mixed.channels, seconds=mixed.duration_seconds))
        return mixed

    async def reach(self, event: RecordingCompleted, step: Step) -> None:
        """``event``'s work is at ``step``: in this process (:class:`Progress`) and on the meeting, where a give-up in
        another process finds it (:mod:`~zoomsymbl_mixer.step_records`)."""
        self.progress.reached(event, step)
        await self.state.note_step(event, step)

    async def _check_generation(self, event: RecordingCompleted) -> None:
        """Raise :class:`EarlierGeneration` when the meeting left ``event``'s generation (a forced replay ran since).

        Such an event (redelivered, replayed from its dead-letter topic, a late webhook retry or backfill) was mixed
        again when its inputs were not the current mix's: its mix and ``objects.mixed`` replaced the newer
        generation's on the meeting (the page played the older audio), for an ``AudioMixed`` the submitter then
        drops as superseded; and had it failed (its download links long expired), the give-up failed the newer
        generation's meeting. Zoom's transcripts it names are still stored (:mod:`zoomsymbl_mixer.transcripts`).
        Within its generation, an older delivery than the one the archive record was written for (Zoom sent an
        earlier webhook again, a plain replay) is :class:`SupersededRecording`: it mixed again, and its mix, archive
        record and ``metadata.json`` replaced the newer delivery's (:mod:`zoomsymbl_mixer.archive`). One that gets past
        this check (the newer delivery wrote after it: two handlings of the meeting at once) is refused by the writes
        themselves (``record_mix``, :meth:`_store_metadata`), before its ``AudioMixed`` is published.
        """
        current = await self.state.generation(event.tenant, event.meeting_uuid)
        if current is not None and current > event.generation:
            raise EarlierGeneration(event.generation, current)
        if await self.state.superseded(event):
            raise SupersededRecording(event.generation)  # its older inputs and times would replace the newer ones

    async def _keep(self, event: RecordingCompleted, record: MixRecord, missing_transcripts: tuple[str, ...]) -> None:
        """Record the mix on the meeting, then the conversation's archive record (naming Zoom's transcript files not
        served as missing). Each write refuses an older delivery than the one it finds written
        (:class:`SupersededRecording`): its ``AudioMixed`` is then not published."""
        metadata = conversation_metadata(event, record, missing_transcripts)
        try:
            await self.state.record_mix(event, record, metadata)
            await self._store_metadata(event, metadata)
        except SupersededRecording:
            log.info("mix of an older delivery not kept", extra=_fields(event, input_hash=record.input_hash))
            raise

    async def announce(self, event: RecordingCompleted, mixed: AudioMixed) -> AudioMixed:
        """Publish ``mixed`` (kept on a pending meeting first) and note that Kafka acknowledged it.

        Kept first because an acknowledgement lost is no proof that nothing went out: a give-up then announces the
        same event again (:func:`~zoomsymbl_mixer.handlers.give_up`), never fails a meeting the submitter may have.
        """
        await self.state.mark_sent(mixed)
        await self.publish(mixed)
        # From here on the submitter owns the meeting: a later give-up of this event must not fail it.
        await self.state.mark_announced(event)
        return mixed

    async def _store_metadata(self, event: RecordingCompleted, metadata: ConversationMetadata) -> None:
        """The conversation's archive record, in MongoDB and as JSON next to its media in S3.

        Neither when a later delivery's record is kept (:mod:`~zoomsymbl_mixer.archive`): that delivery's mix replaced
        this one's on the meeting (it recorded it after this one did), so this one's ``AudioMixed`` is not published
        either (:class:`SupersededRecording`, as when :meth:`_check_generation` catches it)."""
        if not await self.state.store_metadata(metadata, event.occurred_at):
            raise SupersededRecording(event.generation)
        await upload_metadata(self.objects, event.tenant, event.meeting_uuid, metadata)

    def _params(self, tenant: TenantConfig, *, encoder: bool = True) -> dict[str, object]:
        """Every setting the mix's bytes depend on (``encoder=False``: the recipe before the encoder's were in)."""
        silence, config = self.config.silence, self.config
        params: dict[str, object] = {
            "format": config.output_format,
            "max_channels": tenant.max_channels,
            "silence": [silence.threshold_db, silence.min_seconds],  # ranks who keeps a channel above max_channels
        }
        if encoder:
            # FLAC's size limit picks FLAC or Opus under "auto"; the Opus settings change every byte of an Opus mix.
            params["encoder"] = [config.flac_max_bytes, config.opus_bitrate_per_channel, config.opus_complexity]
        return params

    async def _recorded(
        self, event: RecordingCompleted, tenant: TenantConfig, files: Sequence[RecordingFile], digest: str
    ) -> MixRecord | None:
        """The meeting's recorded mix of ``digest``. One recorded by an earlier release carries the hash without the
        encoder's settings: FLAC or WAV is what any Opus settings make too, reused; an Opus one, of whatever bitrate
        and complexity were set then, is mixed again (once: it is then recorded under ``digest``)."""
        earlier = input_hash(files, self._params(tenant, encoder=False))
        record = await self.state.find_mix(event.tenant, event.meeting_uuid, digest, earlier)
        if record is None or (record.input_hash != digest and record.format == "opus"):
            return None
        size = await stored_size(self.objects, record)
        if size == record.size_bytes:
            return record
        # Gone (S3 lost or restored from an older backup, a lifecycle rule, a hand) or replaced: mixed again. Announced
        # as it was, every replay of the meeting failed at the submitter, a forced one with a failure notice.
        log.warning(
            "recorded mix not in storage as recorded, mixing again",
            extra=_fields(event, input_hash=record.input_hash, stored_bytes=size, recorded_bytes=record.size_bytes),
        )
        return None

    def _scratch(self) -> AbstractAsyncContextManager[Path]:
        return work_dir(self.config.scratch_dir, SCRATCH_PREFIX)

    async def _mix(
        self, event: RecordingCompleted, tenant: TenantConfig, choices: Sequence[Selection], digest: str, scratch: Path
    ) -> MixRecord:

        async def room_for(choice: Selection) -> None:
            """Before each choice is downloaded (a fallback too: every participant track gone at Zoom, the screen
            share's MP4 left): Zoom's own times first (days between start times would pad every track to days, and
            fail check_space with a misleading reason when the ends are known), then room for its files and the mix:
            running out half-way gets the pod evicted, again and again. One channel in all when everyone is in one
            recording (its stretches share it), a speaker's each otherwise."""
            check_schedule(choice.files)
            most = tenant.max_channels if choice.kind == "participants" else 1
            await self.reach(event, "space")
            self.space.check(scratch, space_needed(choice.files, most, loaded_at_once=self.config.concurrency))
            await self.reach(event, "download")

        with tracer.start_as_current_span("mixer.download"):
            choice, fetched = await self.intake.load(event, tenant, choices, scratch, room_for)
        await self.reach(event, "merge")
        with tracer.start_as_current_span("mixer.merge"):
            talk = {f.file.file_id: f.talk_seconds for f in fetched if f.talk_seconds is not None}
            plan = await self.merger.plan([f.track for f in fetched if f.track is not None], tenant, choice, talk)
            if plan.total_seconds > span_seconds(choice.files):
                # check_space sized the mix by Zoom's times (none: no mix at all); the probed tracks run longer.
                await self.reach(event, "space")
                self.space.check(scratch, output_needed(len(plan.channels), plan.total_seconds))
                await self.reach(event, "merge")
            plan = await self.emails.add(plan, event, self.api_for(tenant))
            merged = await self.merger.merge(plan, scratch)
        await self.reach(event, "upload")
        with tracer.start_as_current_span("mixer.upload"):
            extension = EXTENSIONS[merged.format]
            key = mixed_object_key(event.tenant, event.meeting_uuid, digest, event.generation, extension)
            uploads = PartUploads(
                self.objects,
                part_bytes=self.config.part_bytes,
                parallel=self.config.upload_parallel,
                single_put_max=self.config.single_put_max,
            )
            try:
                size = await uploads.upload_file(key, merged.path, content_type=CONTENT_TYPES[merged.format])
            except ObjectRejected as exc:
                raise rejected_at("upload", exc) from exc
            finally:
                uploads.close()
        probe = await probe_file(merged.path, "mixed", self.config.probe_timeout)
        return MixRecord(
            input_hash=digest,
            input_kind=choice.kind,
            bucket=self.objects.bucket,
            object_key=key,
            format=merged.format,
            channels=len(plan.channels),
            duration_seconds=round(probe.duration, 3),
            size_bytes=size,
            channel_map=plan.assignments(),
            speaker_stats=speaker_stats(merged.silence_log.silences(probe.duration), probe.duration),
            # A channel several people share needs the provider to separate them (audio_only, Others, a mono call).
            diarization=any(c.mixed for c in plan.channels),
            raw_objects=tuple(f.raw for f in fetched if f.raw is not None),
            missing_files=tuple(f.file.file_id for f in fetched if f.track is None),
        )


def mixed_object_key(tenant: str, meeting_uuid: str, input_hash: str, generation: int, extension: str) -> str:
    """``mixed/{tenant}/{meeting_key}.mix-{digest}.{ext}``: the key of the mix of ``input_hash`` made for
    ``generation`` (:func:`~zoomsymbl_common.storage_keys.mix_tag`).

    Another input, or the same inputs mixed again by a later generation (another mix replaced theirs on the meeting),
    goes to a key of its own: one key for every mix overwrote the file an earlier generation's job still read (the
    transcriber reads S3 when its job starts, a provider fetches a presigned URL when it gets to it). A redelivery
    finds its mix recorded and announces that key (a forced replay of the same inputs too); one that mixes again
    (died before the record) writes the same key, which no event named yet. Under the meeting's
    ``mixed/{tenant}/{meeting_key}.`` prefix, where the submitter, the transcriber and ``zoomsymbl forget`` look;
    files of earlier releases (``{meeting_key}.{ext}``, no tag) stay where they are, read by their recorded key.
    """
    return f"mixed/{tenant}/{meeting_key(meeting_uuid)}.{mix_tag(input_hash, generation)}.{extension}"


def _fields(event: RecordingCompleted, **extra: object) -> dict[str, object]:
    return {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id, **extra}
