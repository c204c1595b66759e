"""The intake of one meeting's tracks: from Zoom to the scratch folder (and S3), ready for the merge.

The credentials come first: the webhook's download token (waited for while ingest has not stored it
yet), else the tenant's OAuth token. Then the choices of files in order of preference, the first of
which at least one file could be fetched; short meetings keep their MP4s as they are, long ones (by
Zoom's times, then by the probed durations) are copied to ADTS so the merge holds no MP4 index.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from zoomsymbl_common.events import RecordingCompleted, RecordingFile, utcnow
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.credentials import Credentials, RecordingsApi
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.download_token import DownloadToken
from zoomsymbl_mixer.errors import NothingToMix
from zoomsymbl_mixer.preparation import prepare
from zoomsymbl_mixer.selection import Selection
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_mixer.tracks import Fetched, TrackLoader, track_hours

log = logging.getLogger("zoomsymbl.mixer")


class TrackIntake:
    """Loads the tracks of the meetings one process mixes, wired once per process."""

    def __init__(
        self,
        *,
        state: MeetingState,
        objects: ObjectStore,
        fetcher_for: Callable[[TenantConfig], Fetcher],
        api_for: Callable[[TenantConfig], RecordingsApi | None],
        config: MixConfig,
    ) -> None:
        self.state = state
        self.objects = objects
        self.fetcher_for = fetcher_for
        self.api_for = api_for
        self.config = config

    async def load(
        self,
        event: RecordingCompleted,
        tenant: TenantConfig,
        choices: Sequence[Selection],
        scratch: Path,
        room_for: Callable[[Selection], Awaitable[None]],
    ) -> tuple[Selection, list[Fetched]]:
        """The first choice of which at least one file could be fetched, and its files (in ``scratch``); ``room_for``
        is awaited before each choice is downloaded (it raises when the scratch volume cannot hold it)."""
        loader = await self._loader(event, tenant, choices[0].files)
        choice, fetched = await self._first_loaded(event, loader, choices, scratch, room_for)
        if not loader.copy_mp4:
            fetched = await self._copied_if_long(event, fetched)
        return choice, fetched

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

    async def _first_loaded(
        self,
        event: RecordingCompleted,
        loader: TrackLoader,
        choices: Sequence[Selection],
        scratch: Path,
        room_for: Callable[[Selection], Awaitable[None]],
    ) -> tuple[Selection, list[Fetched]]:
        """The first choice of which at least one file could be fetched."""
        for choice in choices:
            await room_for(choice)
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


def _fields(event: RecordingCompleted, **extra: object) -> dict[str, object]:
    return {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id, **extra}
