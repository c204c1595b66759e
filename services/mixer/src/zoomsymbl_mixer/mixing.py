"""One meeting from ``RecordingCompleted`` to ``AudioMixed``: choose, download, merge, measure, store, announce.

Idempotent: the inputs and mix settings hash to ``input_hash``; a meeting that already holds a mix
with that hash is announced again (same ``event_id``) without downloading or merging. The mix is
recorded in MongoDB before ``AudioMixed`` is published, so a crash in between ends in a
re-publish, never in a second mix. Scratch files live in one folder per meeting under the
configured scratch directory and are removed however the meeting ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from opentelemetry import trace
from zoomsymbl_common.errors import ObjectRejected, RetryableError
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, RecordingFile, utcnow
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.providers.assemblyai import ASSEMBLYAI_LIMITS
from zoomsymbl_common.records import ConversationMetadata
from zoomsymbl_common.s3_chunked import MAX_SINGLE_PUT_BYTES
from zoomsymbl_common.scratch import Volume, work_dir
from zoomsymbl_common.storage import ObjectStore, meeting_key
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_common.zoom_answers import ZoomApiError

from zoomsymbl_mixer.analytics import SilenceLog, speaker_stats
from zoomsymbl_mixer.bounds import check_plan, check_schedule, longest_mix
from zoomsymbl_mixer.channels import (
    MixPlan,
    Selection,
    Track,
    input_hash,
    overflowed,
    per_track,
    plan_mix,
    selections,
    split_stereo,
    with_emails,
)
from zoomsymbl_mixer.credentials import Credentials, RecordingsApi
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.errors import MergeFailed, NothingToMix, UnknownTenant, interrupted, rejected_at
from zoomsymbl_mixer.ffmpeg import (
    CONTENT_TYPES,
    EXTENSIONS,
    OutputFormat,
    SilenceSettings,
    analysis_args,
    merge_args,
    resolve_format,
)
from zoomsymbl_mixer.metadata import conversation_metadata, metadata_json, metadata_key
from zoomsymbl_mixer.phone import with_phone_user
from zoomsymbl_mixer.settings import OutputFormatSetting
from zoomsymbl_mixer.space import SpaceClaims, output_needed, space_needed, span_seconds
from zoomsymbl_mixer.state import DownloadToken, MeetingState, MixRecord, audio_mixed
from zoomsymbl_mixer.tracks import Fetched, TrackLoader, prepare, probe_file, track_hours
from zoomsymbl_mixer.upload import PartUploads

SCRATCH_PREFIX = "meeting-"
"""The name of each meeting's directory under ``scratch_dir`` starts so (swept at start-up when left behind)."""
log = logging.getLogger("zoomsymbl.mixer")
tracer = trace.get_tracer("zoomsymbl.mixer")
MAX_SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class MixConfig:
    """The knobs of a mix (from :class:`~zoomsymbl_mixer.settings.Settings`)."""

    scratch_dir: Path
    # Bytes the scratch volume holds when its file system reports more (an emptyDir's sizeLimit); None: as reported.
    scratch_limit: int | None = None
    output_format: OutputFormatSetting = "auto"
    silence: SilenceSettings = field(default_factory=SilenceSettings)
    opus_bitrate_per_channel: int = 32_000
    opus_complexity: int = 0
    # ``auto`` keeps FLAC only while it surely fits the default provider's smallest limit in one file.
    flac_max_bytes: int = ASSEMBLYAI_LIMITS.max_upload_bytes
    ffmpeg_timeout: float = 3 * 3600.0
    probe_timeout: float = 120.0
    concurrency: int = 4
    part_bytes: int = 5 << 20
    # S3 parts in flight per meeting, raw tracks and the mix: 5 MiB x 2 is as fast as 8 MiB x 4 here and
    # holds a third of the memory (bench_download.py, docs/performance.md).
    upload_parallel: int = 2
    # Raw tracks of an announced size, and the mix, up to this go up in one streamed PUT (upload.py).
    single_put_max: int = MAX_SINGLE_PUT_BYTES
    token_margin: timedelta = timedelta(minutes=5)
    # A download token the event announces (``has_download_token``) but MongoDB does not hold yet is waited
    # for this long: ingest writes a tenant-with-OAuth's token behind its answer, in batches.
    token_wait: float = 5.0
    # Tracks adding up to at most this many hours are mixed from their MP4s (ffmpeg's index: ~3-6 MiB per
    # track-hour, held through the merge); longer meetings are copied to ADTS first (flat memory, 10-17 %
    # more decode CPU). 0: always copy. docs/performance.md, "Mixer, third pass".
    mp4_direct_track_hours: float = 12.0


@dataclass(frozen=True)
class Merged:
    """A finished local mix."""

    path: Path
    format: OutputFormat
    silence_log: SilenceLog


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
    ) -> None:
        self.state = state
        self.objects = objects
        self.tenants = tenants
        self.fetcher_for = fetcher_for
        self.api_for = api_for
        self.publish = publish
        self.config = config
        # Shared by the meetings this process mixes at once; an emptyDir counts as its size limit.
        limit = Volume(config.scratch_dir, config.scratch_limit) if config.scratch_limit else None
        self.space = SpaceClaims(limit)

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed:
        """Mix the meeting (or find its mix), record it, publish ``AudioMixed`` and return it."""
        tenant = self.tenants.get(event.tenant)
        if tenant is None:
            raise UnknownTenant(event.tenant)
        if event.platform == "zoom_phone":
            event = await with_phone_user(event, self.api_for(tenant))
        choices = selections(event)
        if not choices:
            raise NothingToMix("the recording lists no completed audio file")
        digest = input_hash([f for c in choices for f in c.files], self._params(tenant))
        record = await self.state.find_mix(event.tenant, event.meeting_uuid, digest)
        if record is None:
            async with self._scratch() as scratch:
                try:
                    record = await self._mix(event, tenant, choices, digest, scratch)
                finally:
                    self.space.release(scratch)
        else:
            log.info("mix exists, announcing it again", extra=_fields(event, input_hash=digest))
        metadata = conversation_metadata(event, record)
        await self.state.record_mix(event, record, metadata)
        await self._store_metadata(event, metadata)
        mixed = audio_mixed(event, record)
        await self.publish(mixed)
        # From here on the submitter owns the meeting: a later give-up of this event must not fail it.
        await self.state.mark_announced(event)
        log.info("audio mixed", extra=_fields(event, channels=mixed.channels, seconds=mixed.duration_seconds))
        return mixed

    async def _store_metadata(self, event: RecordingCompleted, metadata: ConversationMetadata) -> None:
        """The conversation's archive record, in MongoDB and as JSON next to its media in S3."""
        await self.state.store_metadata(metadata)
        body = metadata_json(metadata)

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        try:
            await self.objects.put_stream(
                metadata_key(event.tenant, event.meeting_uuid), chunks(), content_type="application/json"
            )
        except ObjectRejected as exc:
            raise rejected_at("upload", exc) from exc

    def _params(self, tenant: TenantConfig) -> dict[str, object]:
        silence = self.config.silence
        return {
            "format": self.config.output_format,
            "max_channels": tenant.max_channels,
            "silence": [silence.threshold_db, silence.min_seconds],
        }

    def _scratch(self) -> AbstractAsyncContextManager[Path]:
        return work_dir(self.config.scratch_dir, SCRATCH_PREFIX)

    async def _mix(
        self, event: RecordingCompleted, tenant: TenantConfig, choices: Sequence[Selection], digest: str, scratch: Path
    ) -> MixRecord:
        # Zoom's own times first: days between start times would pad every track to days (and fail check_space
        # with a misleading reason when the ends are known).
        check_schedule(choices[0].files)
        # Room for the tracks and the mix first: running out half-way gets the pod evicted, again and again.
        self.space.check(
            scratch, space_needed(choices[0].files, tenant.max_channels, loaded_at_once=self.config.concurrency)
        )
        with tracer.start_as_current_span("mixer.download"):
            loader = await self._loader(event, tenant, choices[0].files)
            choice, fetched = await self._load(event, loader, choices, scratch)
            if not loader.copy_mp4:
                fetched = await self._copied_if_long(event, fetched)
        with tracer.start_as_current_span("mixer.merge"):
            talk = {f.file.file_id: f.talk_seconds for f in fetched if f.talk_seconds is not None}
            plan = await self._plan([f.track for f in fetched if f.track is not None], tenant, choice, talk)
            if plan.total_seconds > span_seconds(choice.files):
                # check_space sized the mix by Zoom's times (none: no mix at all); the probed tracks run longer.
                self.space.check(scratch, output_needed(len(plan.channels), plan.total_seconds))
            plan = await self._with_emails(plan, event, tenant)
            merged = await self._merge(plan, scratch)
        with tracer.start_as_current_span("mixer.upload"):
            key = f"mixed/{event.tenant}/{meeting_key(event.meeting_uuid)}.{EXTENSIONS[merged.format]}"
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

    async def _with_emails(self, plan: MixPlan, event: RecordingCompleted, tenant: TenantConfig) -> MixPlan:
        """Participants' e-mails from Zoom's past-meeting participants API, where the account gives them.

        Best effort: the report can name an action item's owner by address; without the API's answer
        (no OAuth, no scope, an error) the meeting is mixed all the same.
        """
        api = self.api_for(tenant)
        if api is None or all(c.email or c.mixed for c in plan.channels):
            return plan
        try:
            people = await api.past_meeting_participants(event.meeting_uuid)
        except (ZoomApiError, RetryableError) as exc:
            log.info("participant e-mails not available", extra=_fields(event, reason=str(exc)[:200]))
            return plan
        return with_emails(plan, people)

    async def _loader(
        self, event: RecordingCompleted, tenant: TenantConfig, files: Sequence[RecordingFile]
    ) -> TrackLoader:
        token = await self._announced_token(event)
        hours = track_hours(files)
        copy_mp4 = hours > self.config.mp4_direct_track_hours
        log.info(
            "mp4 tracks copied to adts" if copy_mp4 else "mp4 tracks mixed as they are",
            extra={"meeting_uuid": event.meeting_uuid, "track_hours": round(hours, 2) if hours != math.inf else None},
        )
        credentials = Credentials(
            tenant,
            event.meeting_uuid,
            token,
            self.api_for(tenant),
            margin=self.config.token_margin,
            phone=event.platform == "zoom_phone",
        )
        return TrackLoader(
            self.objects,
            self.fetcher_for(tenant),
            credentials,
            concurrency=self.config.concurrency,
            part_bytes=self.config.part_bytes,
            upload_parallel=self.config.upload_parallel,
            single_put_max=self.config.single_put_max,
            probe_timeout=self.config.probe_timeout,
            # Above max_channels the plan needs every track's talk time: measured per track while the
            # others download, not in a second pass over all tracks joined (superlinear in tracks).
            talk=self.config.silence if len(files) > tenant.max_channels else None,
            talk_timeout=self.config.ffmpeg_timeout,
            copy_mp4=copy_mp4,
        )

    async def _announced_token(self, event: RecordingCompleted) -> DownloadToken | None:
        """The webhook's download token; one the event announces but MongoDB does not hold yet is waited for.

        Ingest writes the token of a tenant with OAuth credentials behind its answer, a batch every few
        milliseconds, so the event can reach the mixer first. Without the token the mixer would spend the
        account's API quota on new download URLs, and a meeting whose files only the webhook's URLs reach
        would fail. The wait ends at ``token_wait`` seconds, or at once when the token has expired.
        """
        token = await self.state.download_token(event.tenant, event.meeting_uuid)
        if token is not None or not event.has_download_token:
            return token
        started = time.monotonic()
        delay = 0.05
        while (left := self.config.token_wait - (time.monotonic() - started)) > 0:
            expires = event.download_token_expires_at
            if expires is not None and expires <= utcnow():
                break
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 1.0)
            token = await self.state.download_token(event.tenant, event.meeting_uuid)
            if token is not None:
                waited = round(time.monotonic() - started, 3)
                log.info("announced download token arrived", extra=_fields(event, waited_s=waited))
                return token
        log.warning("announced download token not in mongodb, using oauth", extra=_fields(event))
        return None

    async def _load(
        self, event: RecordingCompleted, loader: TrackLoader, choices: Sequence[Selection], scratch: Path
    ) -> tuple[Selection, list[Fetched]]:
        """The first choice of which at least one file could be fetched."""
        for choice in choices:
            fetched = await loader.load_all(event.tenant, event.meeting_uuid, choice.files, scratch)
            if any(f.track is not None for f in fetched):
                return choice, fetched
            log.warning("every file of a choice is missing", extra=_fields(event, kind=choice.kind))
        raise NothingToMix(f"every file is missing at Zoom (tried: {', '.join(c.kind for c in choices)})")

    async def _copied_if_long(self, event: RecordingCompleted, fetched: list[Fetched]) -> list[Fetched]:
        """The tracks, copied to ADTS after all when they are longer than Zoom's times said (the merge would hold
        their MP4 index): Zoom's times chose the MP4s, the probed durations have the last word."""
        hours = sum(f.track.duration for f in fetched if f.track is not None) / 3600
        if hours <= self.config.mp4_direct_track_hours:
            return fetched
        log.warning(
            "tracks longer than zoom said, copying them to adts",
            extra={"meeting_uuid": event.meeting_uuid, "track_hours": round(hours, 2)},
        )
        copied: list[Fetched] = []
        for each in fetched:
            track = each.track
            if track is not None:
                _, path, skip = await prepare(Path(track.path), each.file.file_id, self.config.probe_timeout)
                each = dataclasses.replace(each, track=dataclasses.replace(track, path=str(path), skip_samples=skip))
            copied.append(each)
        return copied

    async def _plan(
        self, tracks: list[Track], tenant: TenantConfig, choice: Selection, talk: dict[str, float]
    ) -> MixPlan:
        if choice.kind == "phone":  # one file, no merge: a stereo call keeps its two sides apart
            plan = plan_mix([t for track in tracks for t in split_stereo(track)], max_channels=2, kind="phone")
            check_plan(plan, longest_mix(choice.files))
            return plan
        plan = plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind)
        # Before any ffmpeg pass: each pads every track to the plan's end.
        check_plan(plan, longest_mix(choice.files))
        if not overflowed(plan):
            return plan
        if all(t.file.file_id in talk for t in tracks):
            return plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind, talk_seconds=talk)
        # Ranking by talk time needs one analysis pass; only meetings above max_channels pay for it.
        log_ = SilenceLog(channels=len(tracks))
        args = analysis_args(per_track(plan), sample_rate=_rate(plan), silence=self.config.silence)
        result = await run_tool(args, timeout=self.config.ffmpeg_timeout, on_line=log_.feed)
        if result.returncode != 0:
            raise interrupted("ffmpeg", result.returncode, result.tail) or MergeFailed(
                f"talk-time analysis: ffmpeg exit {result.returncode}: {_last(result.tail)}"
            )
        stats = speaker_stats(log_.silences(plan.total_seconds), plan.total_seconds)
        talk = {t.file.file_id: s.talk_seconds for t, s in zip(tracks, stats, strict=True)}
        return plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind, talk_seconds=talk)

    async def _merge(self, plan: MixPlan, scratch: Path) -> Merged:
        fmt = resolve_format(
            self.config.output_format,
            len(plan.channels),
            seconds=plan.total_seconds,
            sample_rate=_rate(plan),
            flac_max_bytes=self.config.flac_max_bytes,
        )
        output = scratch / f"mixed.{EXTENSIONS[fmt]}"
        silence_log = SilenceLog(channels=len(plan.channels))
        args = merge_args(
            plan,
            output,
            fmt,
            sample_rate=_rate(plan),
            silence=self.config.silence,
            opus_bitrate_per_channel=self.config.opus_bitrate_per_channel,
            opus_complexity=self.config.opus_complexity,
        )
        result = await run_tool(args, timeout=self.config.ffmpeg_timeout, on_line=silence_log.feed)
        if result.returncode != 0:
            # An OOM kill or a full volume is no fault of the tracks: retried, not the meeting failed.
            raise interrupted("ffmpeg", result.returncode, result.tail) or MergeFailed(
                f"ffmpeg exit {result.returncode}: {_last(result.tail)}"
            )
        return Merged(output, fmt, silence_log)


def _rate(plan: MixPlan) -> int:
    return min(MAX_SAMPLE_RATE, max(t.sample_rate for t in plan.tracks))


def _last(lines: Sequence[str]) -> str:
    return lines[-1][-300:] if lines else "no output"


def _fields(event: RecordingCompleted, **extra: object) -> dict[str, object]:
    return {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id, **extra}
