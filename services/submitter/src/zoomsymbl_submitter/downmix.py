"""A mono mix of a file that has more channels than the tenant's provider takes (Symbl: two).

The mixer gives every speaker a channel of their own (up to the tenant's ``max_channels``), while
Symbl's FAQ (https://docs.symbl.ai/docs/faq/) names mono and dual-channel files only. For a Symbl
tenant such a file is summed to one channel with ffmpeg (FLAC, 16 bit), stored next to the mixed
file as ``mixed/{tenant}/{meeting_key}.mono-{digest}.flac`` and submitted in its place: the request
then asks Symbl to tell the voices apart (``enableSpeakerDiarization``, ``diarizationSpeakerCount`` =
one per channel of the original, see ``zoomsymbl_common.providers.symbl_options``), the job document
says ``downmixed_from_channels: N`` and a log line ``mixed down to mono for the provider`` names the
meeting. What is lost: names per utterance (Symbl answers "Speaker 1..N"), and Symbl documents
diarization for English (and Spanish) only.

Why not two channels (the busiest speaker alone, everyone else shared)? Symbl's diarization takes
priority over per-channel recognition (FAQ), so one request cannot name one channel and diarize the
other: the shared channel would come back as one voice. A one- or two-channel file goes as it is.

The digest covers ``input_hash`` and ``generation``: a redelivery reuses the stored mono file, a new
generation (a re-mix) makes a new one. Scratch space: the mixed file plus its mono mix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from zoomsymbl_common.events import AudioMixed, Provider
from zoomsymbl_common.media_tools import MIXED_AUDIO, input_guard, run_tool
from zoomsymbl_common.providers.symbl_options import MAX_CHANNELS as SYMBL_MAX_CHANNELS
from zoomsymbl_common.scratch import scratch_root, work_dir
from zoomsymbl_common.storage_keys import input_digest

from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.part_plan import meeting_prefix
from zoomsymbl_submitter.splitting import EXTENSIONS, run_timeout

DOWNMIX_PREFIX = "zoomsymbl-downmix-"
"""The name of the scratch directory of a downmix starts so (swept at start-up when left behind)."""
log = logging.getLogger("zoomsymbl.submitter.downmix")

MAX_CHANNELS: Mapping[Provider, int] = {"symbl": SYMBL_MAX_CHANNELS}
"""Providers that take fewer channels than the mixer writes, and how many they take."""


def needs_downmix(provider: Provider, channels: int) -> bool:
    """True when ``provider`` does not take a file of ``channels`` channels."""
    limit = MAX_CHANNELS.get(provider)
    return limit is not None and channels > limit


def mono_object_key(event: AudioMixed) -> str:
    """``mixed/{tenant}/{meeting_key}.mono-{digest}.flac`` next to the mixed file of ``event``.

    Named after the meeting key, not after the mixed file's stem: the tagged file's ``mix-{digest}`` adds nothing
    the mono digest does not cover, and both would leave its parts' key segment past 255 bytes
    (:mod:`zoomsymbl_submitter.part_plan`). For a file of an earlier release (``{meeting_key}.{ext}``) the same key.
    """
    return f"{meeting_prefix(event)}mono-{input_digest(event.input_hash, event.generation)}.flac"


def downmix_args(source: str, target: str, channels: int) -> list[str]:
    """ffmpeg arguments that sum every channel of ``source`` into a mono FLAC ``target``."""
    # A sum, not an average: speakers mostly take turns, and an average of 32 channels is 30 dB quieter.
    weights = "+".join(f"c{i}" for i in range(channels))
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *input_guard(MIXED_AUDIO), "-i", source,
        "-map", "0:a:0", "-af", f"pan=mono|c0={weights}",
        "-c:a", "flac", "-sample_fmt", "s16", "-f", "flac", target,
    ]  # fmt: skip


def mono_event(event: AudioMixed, object_key: str, size_bytes: int) -> AudioMixed:
    """``event`` pointing at its mono mix: one channel, diarized; channel map and ids unchanged."""
    update = {"object_key": object_key, "format": "flac", "channels": 1, "size_bytes": size_bytes, "diarization": True}
    return event.model_copy(update=update)


class Downmixer:
    """Produces (once) and announces the mono mix of a file its provider cannot take as it is."""

    def __init__(self, audio: AudioSource, *, work_dir: str | None = None, ffmpeg_timeout: float = 1800.0) -> None:
        self._audio = audio
        self._work_dir = work_dir
        self._timeout = ffmpeg_timeout

    async def prepare(self, event: AudioMixed, provider: Provider) -> AudioMixed:
        """``event`` itself, or the same meeting pointing at its mono mix when ``provider`` needs one."""
        if not needs_downmix(provider, event.channels):
            return event
        key = mono_object_key(event)
        store = self._audio.store(event.bucket)
        if await store.exists(key):
            size = await store.size(key)
        else:
            size = await self._mix(event, key)
        log.info(
            "mixed down to mono for the provider",
            extra={
                "tenant": event.tenant,
                "meeting_uuid": event.meeting_uuid,
                "event_id": event.event_id,
                "provider": provider,
                "channels": event.channels,
                "object_key": key,
            },
        )
        return mono_event(event, key, size)

    async def _mix(self, event: AudioMixed, key: str) -> int:
        await self._audio.size(event.bucket, event.object_key)  # a missing mixed file is poison, not a crash
        store = self._audio.store(event.bucket)
        async with work_dir(scratch_root(self._work_dir), DOWNMIX_PREFIX) as scratch:
            source = str(Path(scratch) / f"mixed.{EXTENSIONS[event.format]}")
            target = str(Path(scratch) / "mono.flac")
            await store.get_file(event.object_key, source)
            # Every channel is decoded: the run's CPU grows with channels and length (splitting.run_timeout).
            budget = run_timeout(self._timeout, event.format, event.channels, event.duration_seconds)
            (await run_tool(downmix_args(source, target, event.channels), timeout=budget)).check(stage="downmix")
            # S3 shows an upload (multipart too) only once complete, so `exists` above never sees half a file.
            return await store.put_file(key, target, content_type="audio/flac")
