"""Getting a meeting's files onto scratch disk and into S3 in one pass, then checking them (each made ready to mix
by :mod:`zoomsymbl_mixer.preparation` first).

Each download is teed: the same bytes go to an S3 multipart upload (``raw/...``) and to a scratch
file that ffmpeg reads afterwards, so the process never holds a file in memory and scratch holds
each byte once. A raw object already in S3 with Zoom's ``file_size`` is copied from S3 instead of
being downloaded from Zoom again. A file Zoom no longer has (404) is skipped; the caller decides
whether what is left is enough.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zoomsymbl_common.errors import ObjectNotFound, ObjectRejected
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.s3_chunked import MAX_SINGLE_PUT_BYTES
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import bounded_segment, meeting_key

from zoomsymbl_mixer.analytics import SilenceLog, speaker_stats
from zoomsymbl_mixer.bounds import check_track, longest_mix
from zoomsymbl_mixer.channels import Track
from zoomsymbl_mixer.credentials import Credentials
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.errors import (
    NoCredentials,
    TokenRejected,
    TrackInvalid,
    TrackMissing,
    interrupted,
    rejected_at,
)
from zoomsymbl_mixer.ffmpeg import SilenceSettings, talk_args
from zoomsymbl_mixer.preparation import prepare
from zoomsymbl_mixer.selection import extension
from zoomsymbl_mixer.state import RawObject
from zoomsymbl_mixer.upload import PartUploads

log = logging.getLogger("zoomsymbl.mixer.tracks")
_SAFE_ID = re.compile(
    r"[A-Za-z0-9._-]+"
)  # fullmatch: "$" would let a trailing newline in  # any length: bounded_segment keeps a readable prefix
_ENCODED = "b64-"
COALESCE_BYTES = 1 << 20  # S3 parts are assembled from these; fewer, larger pieces copy less


def raw_key(tenant: str, meeting_uuid: str, file: RecordingFile) -> str:
    """``raw/{tenant}/{meeting_key}/{file_id}.{ext}``; an odd file id is base64-encoded, never stripped.

    A name longer than :data:`~zoomsymbl_common.storage_keys.MAX_SEGMENT` becomes its digest form, so every
    segment stays under the 255 bytes file-system S3 servers accept.
    """
    plain = (
        _SAFE_ID.fullmatch(file.file_id) is not None
        and file.file_id not in (".", "..")
        and not file.file_id.startswith(_ENCODED)  # would read as another id's encoding
    )
    name = file.file_id if plain else _ENCODED + base64.urlsafe_b64encode(file.file_id.encode()).decode().rstrip("=")
    return f"raw/{tenant}/{meeting_key(meeting_uuid)}/{bounded_segment(name)}.{extension(file)}"


async def tee_to_file(
    chunks: AsyncGenerator[bytes, None], path: Path, coalesce: int = COALESCE_BYTES
) -> AsyncGenerator[bytes, None]:
    """Yield ``chunks`` regrouped into pieces of about ``coalesce`` bytes, each written to ``path`` (flushed) first."""
    handle = await asyncio.to_thread(path.open, "wb")
    buffer = bytearray()
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= coalesce:
                    piece = bytes(buffer)
                    buffer.clear()
                    await asyncio.to_thread(_write, handle, piece)
                    yield piece
        if buffer:
            piece = bytes(buffer)
            await asyncio.to_thread(_write, handle, piece)
            yield piece
    finally:
        await asyncio.to_thread(handle.close)


def _write(handle: BinaryIO, piece: bytes) -> None:
    handle.write(piece)
    handle.flush()  # the S3 upload reads parts back from the file as soon as a piece is yielded


def track_hours(files: Sequence[RecordingFile]) -> float:
    """The hours of audio ``files`` hold together (each file's end - start); infinite when Zoom gave no times."""
    total = 0.0
    for file in files:
        if file.recording_start is None or file.recording_end is None:
            return math.inf
        total += max(0.0, (file.recording_end - file.recording_start).total_seconds())
    return total / 3600


@dataclass(frozen=True)
class Fetched:
    """The outcome of one file: its track and raw object, or None when Zoom no longer has it."""

    file: RecordingFile
    track: Track | None
    raw: RawObject | None
    talk_seconds: float | None = None  # measured when the loader was asked to (more tracks than channels)


class TrackLoader:
    """Loads one meeting's files with bounded parallelism."""

    def __init__(
        self,
        objects: ObjectStore,
        fetcher: Fetcher,
        credentials: Credentials,
        *,
        concurrency: int = 4,
        part_bytes: int = 5 << 20,
        upload_parallel: int = 2,
        single_put_max: int = MAX_SINGLE_PUT_BYTES,
        probe_timeout: float = 120.0,
        talk: SilenceSettings | None = None,
        talk_timeout: float = 4 * 3600.0,
        copy_mp4: bool = True,
    ) -> None:
        self.objects = objects
        self.copy_mp4 = copy_mp4
        self.fetcher = fetcher
        self.credentials = credentials
        self.part_bytes = part_bytes
        self.upload_parallel = upload_parallel
        self.single_put_max = single_put_max
        self.concurrency = concurrency
        self.probe_timeout = probe_timeout
        self.talk = talk
        self.talk_timeout = talk_timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def load_all(
        self, tenant: str, meeting_uuid: str, files: Sequence[RecordingFile], scratch: Path
    ) -> list[Fetched]:
        """Every file (in input order); the first failure cancels the others."""
        uploads = PartUploads(
            self.objects,
            part_bytes=self.part_bytes,
            parallel=self.upload_parallel,
            single_put_max=self.single_put_max,
            streams=self.concurrency,
        )
        longest = longest_mix(files)
        tasks = [
            asyncio.ensure_future(
                self._load(tenant, meeting_uuid, file, scratch / f"{index:04d}.{extension(file)}", uploads, longest)
            )
            for index, file in enumerate(files)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            uploads.close()

    async def _load(
        self, tenant: str, meeting_uuid: str, file: RecordingFile, local: Path, uploads: PartUploads, longest: float
    ) -> Fetched:
        key = raw_key(tenant, meeting_uuid, file)
        async with self._slots:
            try:
                size = await self._fetch(file, key, local, uploads)
            except TrackMissing as exc:
                log.warning("file missing at zoom", extra={"file_id": file.file_id, "code": exc.code})
                return Fetched(file, None, None)
            except ObjectRejected as exc:
                raise rejected_at("download", exc) from exc
            probe, path, skip = await prepare(local, file.file_id, self.probe_timeout, to_adts=self.copy_mp4)
            # The length is the file's own claim: checked against its bytes and Zoom's clock before anything
            # pads, analyses or mixes to it.
            check_track(file.file_id, probe.codec, size, probe.duration, longest)
            talk = None if self.talk is None else await self._talk(path, skip, probe.duration, file.file_id)
        track = Track(file, str(path), probe.duration, probe.sample_rate, channels=probe.channels, skip_samples=skip)
        return Fetched(file, track, RawObject(file_id=file.file_id, key=key, size=size), talk)

    async def _talk(self, path: Path, skip: int, duration: float, file_id: str) -> float:
        """Seconds of talk in one track (its silences from ffmpeg's silencedetect, complemented)."""
        assert self.talk is not None
        silences = SilenceLog(channels=1)
        args = talk_args(path, skip_samples=skip, silence=self.talk, duration=duration)
        result = await run_tool(args, timeout=self.talk_timeout, on_line=silences.feed)
        if result.returncode != 0:
            raise interrupted("ffmpeg", result.returncode, result.tail) or TrackInvalid(
                file_id, f"talk-time analysis: ffmpeg exit {result.returncode}"
            )
        return speaker_stats(silences.silences(duration), duration)[0].talk_seconds

    async def _fetch(self, file: RecordingFile, key: str, local: Path, uploads: PartUploads) -> int:
        if file.file_size is not None and await self._stored_size(key) == file.file_size:
            await self.objects.get_file(key, str(local))
            log.info("raw track reused from storage", extra={"file_id": file.file_id})
            return file.file_size
        size = await self._download(file, key, local, uploads)
        if file.file_size is not None and size != file.file_size:
            await self.objects.remove(key)
            raise TrackInvalid(file.file_id, f"received {size} bytes, Zoom announced {file.file_size}")
        return size

    async def _stored_size(self, key: str) -> int | None:
        try:
            return await self.objects.size(key)
        except ObjectNotFound:
            return None

    async def _download(self, file: RecordingFile, key: str, local: Path, uploads: PartUploads) -> int:
        bearer = await self.credentials.current()
        for _ in range(3):
            url = await self.credentials.url_for(file.file_id, file.download_url, bearer)
            chunks = self.fetcher.stream(file.file_id, url, bearer.token, file.file_size)
            try:
                async with aclosing(tee_to_file(chunks, local)) as teed:
                    kind = "audio/mpeg" if extension(file) == "mp3" else "audio/mp4"
                    # Zoom's file_size: the fetcher yields exactly that many bytes or fails, so it can be announced.
                    return await uploads.upload(key, teed, local, content_type=kind, size=file.file_size)
            except TokenRejected as exc:
                log.warning("token rejected", extra={"file_id": file.file_id, "status": exc.status, "code": exc.code})
                bearer = await self.credentials.rejected(bearer, exc.status, exc.code)
        raise NoCredentials(self.credentials.tenant.id, f"zoom rejected every token for file {file.file_id!r}")
