"""Zoom's own transcript files (``TRANSCRIPT``, ``CC``: WebVTT) streamed to S3 next to the audio.

The same download path as the audio: Bearer from :class:`~zoomsymbl_mixer.credentials.Credentials`
(the OAuth token only to URLs Zoom's API lists), redirects and hosts checked by the
:class:`~zoomsymbl_mixer.download.Fetcher` (Zoom's domains on 443 only), resume with ``Range``, the
announced ``file_size`` enforced. On top, a size cap: a transcript is text, a few MiB for a day of
speech, so a file announced (or growing) past ``max_bytes`` is refused and nothing of it is kept.
A file Zoom no longer has, or one refused, costs only that file: the audio is mixed all the same. One not stored now
costs only that file too for a tenant whose report does not come from Zoom's transcript (provider other than
``zoom``): Zoom does not serve it (a 5xx or a broken transfer past the fetcher's retries), Zoom rejects every token for
it (:class:`NoCredentials`), or S3 refuses its object (:class:`ObjectRejected`). It is recorded as missing on the
meeting (``transcripts_missing``) and in the archive record, and a later event or a replay fetches it. A ``zoom``-source
tenant needs it for its report: the meeting is tried again and failed at ``download`` when the attempts run out (no
token Zoom takes: failed at ``auth``; S3 refusing it: failed at ``download``, as before).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from datetime import timedelta
from typing import Literal, Protocol

from zoomsymbl_common.errors import (
    InfrastructureUnavailable,
    ObjectNotFound,
    ObjectRejected,
    RateLimitedError,
    RetryableError,
)
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, RecordingFile, TranscriptObject
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants

from zoomsymbl_mixer.archive import upload_metadata
from zoomsymbl_mixer.credentials import Credentials, RecordingsApi
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.errors import (
    DownloadRefused,
    NoCredentials,
    TokenRejected,
    TrackInvalid,
    TrackMissing,
    UnknownTenant,
    ZoomErrorBody,
    rejected_at,
)
from zoomsymbl_mixer.progress import Progress
from zoomsymbl_mixer.selection import selections
from zoomsymbl_mixer.state import MeetingState, audio_mixed, with_transcripts
from zoomsymbl_mixer.tracks import raw_key
from zoomsymbl_mixer.transcript_join import joined

log = logging.getLogger("zoomsymbl.mixer.transcripts")
TRANSCRIPT_TYPES: dict[str, Literal["transcript", "cc"]] = {"TRANSCRIPT": "transcript", "CC": "cc"}
MAX_TRANSCRIPT_BYTES = 32 << 20
CONTENT_TYPE = "text/vtt; charset=utf-8"


def transcript_files(event_files: Sequence[RecordingFile]) -> tuple[RecordingFile, ...]:
    """The completed ``TRANSCRIPT`` and ``CC`` entries among a recording's files (transcript first)."""
    found = [f for f in event_files if f.completed and f.file_type.upper() in TRANSCRIPT_TYPES]
    return tuple(sorted(found, key=lambda f: (f.file_type.upper() != "TRANSCRIPT", f.file_id)))


async def capped(chunks: AsyncGenerator[bytes, None], file_id: str, limit: int) -> AsyncIterator[bytes]:
    """``chunks`` unchanged; :class:`TrackInvalid` as soon as more than ``limit`` bytes came."""
    received = 0
    async with aclosing(chunks):
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise TrackInvalid(file_id, f"transcript larger than {limit} bytes")
            yield chunk


class TranscriptLoader:
    """Stores one meeting's transcript files in S3 (``raw/{tenant}/{meeting_key}/{file_id}.vtt``)."""

    def __init__(
        self, objects: ObjectStore, fetcher: Fetcher, credentials: Credentials, *, max_bytes: int = MAX_TRANSCRIPT_BYTES
    ) -> None:
        self.objects = objects
        self.fetcher = fetcher
        self.credentials = credentials
        self.max_bytes = max_bytes

    async def store_all(
        self, tenant: str, meeting_uuid: str, files: Sequence[RecordingFile], *, optional: bool = False
    ) -> tuple[tuple[TranscriptObject, ...], tuple[str, ...]]:
        """Every file that could be stored (one after the other: they are small), and the ids of those not stored now:
        Zoom did not serve them, rejected every token for them (:class:`NoCredentials`), or S3 refused their object
        (:class:`ObjectRejected`). Those raise (the meeting is tried again, or failed) unless ``optional``: then they
        are left for a later event.

        A 429 and an outage of our own servers raise all the same: the consumer waits them out without spending
        attempts, and the audio would meet them too.
        """
        stored, missing = [], []
        for file in files:
            try:
                found = await self.store(tenant, meeting_uuid, file)
            except (RateLimitedError, InfrastructureUnavailable):
                raise
            except (RetryableError, NoCredentials, ObjectRejected) as exc:
                if not optional:
                    raise
                missing.append(file.file_id)
                fields = {"tenant": tenant, "meeting_uuid": meeting_uuid, "file_id": file.file_id}
                log.warning(
                    "transcript not fetched, left for a later event", extra={**fields, "reason": scrub(str(exc), 300)}
                )
                continue
            if found is not None:
                stored.append(found)
        return tuple(stored), tuple(missing)

    async def store(self, tenant: str, meeting_uuid: str, file: RecordingFile) -> TranscriptObject | None:
        """One file in S3, or None when Zoom no longer has it or it is refused (logged)."""
        key = raw_key(tenant, meeting_uuid, file)
        kind = TRANSCRIPT_TYPES[file.file_type.upper()]
        fields = {"tenant": tenant, "meeting_uuid": meeting_uuid, "file_id": file.file_id, "kind": kind}
        if file.file_size is not None and file.file_size > self.max_bytes:
            log.warning("transcript refused", extra={**fields, "reason": f"announced {file.file_size} bytes"})
            return None
        if file.file_size is not None and await self._stored_size(key) == file.file_size:
            return TranscriptObject(file_id=file.file_id, kind=kind, key=key, size_bytes=file.file_size)
        try:
            size = await self._download(file, key)
        except TrackMissing as exc:
            log.warning("transcript missing at zoom", extra={**fields, "code": exc.code})
            return None
        except (TrackInvalid, ZoomErrorBody, DownloadRefused) as exc:
            # Oversize, a size other than announced, an error page, a host outside the policy: not kept.
            await self.objects.remove(key)
            log.warning("transcript refused", extra={**fields, "reason": exc.reason})
            return None
        except ObjectRejected as exc:
            raise rejected_at("download", exc) from exc
        log.info("transcript stored", extra={**fields, "bytes": size})
        return TranscriptObject(file_id=file.file_id, kind=kind, key=key, size_bytes=size)

    async def _stored_size(self, key: str) -> int | None:
        try:
            return await self.objects.size(key)
        except ObjectNotFound:
            return None

    async def _download(self, file: RecordingFile, key: str) -> int:
        bearer = await self.credentials.current()
        for _ in range(3):
            url = await self.credentials.url_for(file.file_id, file.download_url, bearer)
            chunks = self.fetcher.stream(file.file_id, url, bearer.token, file.file_size)
            try:
                return await self.objects.put_stream(
                    key, capped(chunks, file.file_id, self.max_bytes), content_type=CONTENT_TYPE
                )
            except TokenRejected as exc:
                bearer = await self.credentials.rejected(bearer, exc.status, exc.code)
        raise NoCredentials(self.credentials.tenant.id, f"zoom rejected every token for file {file.file_id!r}")


async def view(
    state: MeetingState, objects: ObjectStore, event: RecordingCompleted, max_bytes: int
) -> tuple[TranscriptObject, ...]:
    """The meeting's Zoom transcripts as readers take them (a restarted recording's stretches joined on the mix's
    clock, :mod:`~zoomsymbl_mixer.transcript_join`), named on the meeting too."""
    pieces, origin = await state.pieces(event.tenant, event.meeting_uuid)
    found = await joined(objects, event.tenant, event.meeting_uuid, pieces, origin, max_bytes=max_bytes)
    await state.set_view(event.tenant, event.meeting_uuid, found)
    return found


class MeetingMixer(Protocol):
    """The audio side (:class:`~zoomsymbl_mixer.mixing.Mixer`): it mixes, and publishes every ``AudioMixed``."""

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed: ...

    async def announce(self, event: RecordingCompleted, mixed: AudioMixed) -> AudioMixed: ...


class TranscriptMixer:
    """A meeting's Zoom transcripts stored first, then its audio mixed; ``AudioMixed`` names them.

    A ``recording.transcript_completed`` lists only the transcript files: they are stored and recorded
    on the meeting. For a tenant on the ``zoom`` source whose meeting is mixed already, its mix is
    announced again naming the transcripts (a new ``event_id``; under the meeting's generation, see :meth:`_current`),
    so the submitter picks them up; for
    other tenants the files are archived and nothing is announced (their provider job is not repeated),
    nor for a failed meeting (its host has the failure notice, which no report may follow; a replay of a
    recording the mixer failed runs it again and names the archived files).
    A transcript stored before the audio is mixed is named when the mix is announced (by the audio side, which
    publishes every ``AudioMixed``).
    """

    def __init__(
        self,
        audio: MeetingMixer,
        state: MeetingState,
        objects: ObjectStore,
        tenants: Tenants,
        fetcher_for: Callable[[TenantConfig], Fetcher],
        api_for: Callable[[TenantConfig], RecordingsApi | None],
        *,
        max_bytes: int = MAX_TRANSCRIPT_BYTES,
        token_margin: timedelta = timedelta(minutes=5),
        progress: Progress | None = None,
    ) -> None:
        self.audio = audio
        self.state = state
        self.objects = objects
        self.tenants = tenants
        self.fetcher_for = fetcher_for
        self.api_for = api_for
        self.max_bytes = max_bytes
        self.token_margin = token_margin
        self.progress = progress or Progress()

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed | None:
        """Store the transcripts, then mix (or, for transcripts alone, announce the existing mix)."""
        tenant = self.tenants.get(event.tenant)
        if tenant is None:
            raise UnknownTenant(event.tenant)
        files = transcript_files(event.fallback_files)
        self.progress.reached(event, "download")
        if files:  # on the meeting too, for a give-up in another process (step_records)
            await self.state.note_step(event, "download")
        transcripts = await self._store(event, tenant, files) if files else ()
        if selections(event) or not files:
            return await self.audio.on_recording_completed(event)  # it names the transcripts stored
        await self._archive(event)
        self.progress.done(event)
        event, only = await self._current(event)
        record = await self.state.current_mix(event.tenant, event.meeting_uuid, only)
        fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "transcripts": len(transcripts)}
        if record is None or tenant.provider != "zoom" or not transcripts:
            # No mix: none yet (the recording's own event names them), or the meeting failed.
            log.info("transcripts stored, nothing to announce", extra=fields)
            return None
        mixed = await self.audio.announce(event, with_transcripts(audio_mixed(event, record), transcripts))
        log.info("mix announced again with zoom's transcript", extra=fields)
        return mixed

    async def _archive(self, event: RecordingCompleted) -> None:
        """The archive record (MongoDB, then ``metadata.json``) lists the transcripts now stored as missing no more."""
        # Zoom's own files (not a restarted recording's join of them) are what the record names as missing.
        stored = await self.state.transcripts_of(event.tenant, event.meeting_uuid)
        found = await self.state.archive_found(event.tenant, event.meeting_uuid, (t.file_id for t in stored))
        if found is None:
            return
        await upload_metadata(self.objects, event.tenant, event.meeting_uuid, found)
        log.info(
            "archive record: transcripts found", extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid}
        )

    async def _current(self, event: RecordingCompleted) -> tuple[RecordingCompleted, int | None]:
        """``event`` under its meeting's generation, and the generation whose mix alone it may announce (None: any).

        Zoom sends its transcript minutes after the recording; a forced replay run in between moved the meeting on.
        Announced under the webhook's generation, the transcript reached only a submitter that drops it as superseded,
        and a ``zoom``-source meeting waited for it for ever. It belongs to the meeting's current run instead, but only
        with that run's own mix: before the replay's recording is mixed, its ``AudioMixed`` names the stored files.
        """
        current = await self.state.generation(event.tenant, event.meeting_uuid)
        if current is None or current <= event.generation:
            return event, None
        return event.model_copy(update={"generation": current}), current

    async def _store(
        self, event: RecordingCompleted, tenant: TenantConfig, files: tuple[RecordingFile, ...]
    ) -> tuple[TranscriptObject, ...]:
        """Store ``files``; all the meeting's transcript files afterwards."""
        token = await self.state.download_token(event.tenant, event.meeting_uuid)
        credentials = Credentials(tenant, event.meeting_uuid, token, self.api_for(tenant), margin=self.token_margin)
        loader = TranscriptLoader(self.objects, self.fetcher_for(tenant), credentials, max_bytes=self.max_bytes)
        # A zoom-source tenant's report is Zoom's transcript: without it the meeting is tried again (and failed).
        stored, missing = await loader.store_all(
            event.tenant, event.meeting_uuid, files, optional=tenant.provider != "zoom"
        )
        starts = {f.file_id: f.recording_start for f in files if f.recording_start is not None}
        await self.state.add_transcripts(event, stored, missing, starts)
        return await view(self.state, self.objects, event, self.max_bytes)
