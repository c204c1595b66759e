"""Making a downloaded track ready to mix: its probe, the file ffmpeg reads, and the samples to skip at its start.

ffmpeg's MP4 demuxer holds an index entry per frame for the whole merge (96 MiB of RSS to open an 8 h track), so
the AAC of a long meeting's MP4 tracks is copied into ADTS (a container without an index) first, by
:mod:`zoomsymbl_mixer.mp4` or, where that cannot, by ffmpeg; the encoder priming the MP4's edit list hid is then
skipped by the merge. What ffprobe cannot decode as audio is :class:`~zoomsymbl_mixer.errors.TrackInvalid`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from zoomsymbl_common.media_tools import refusal, run_tool

from zoomsymbl_mixer.errors import TrackInvalid, interrupted
from zoomsymbl_mixer.ffmpeg import adts_args
from zoomsymbl_mixer.ffprobe import Probe, parse_priming, parse_probe, priming_args, probe_args
from zoomsymbl_mixer.mp4 import NOT_PLAIN, copy_args, parse_copy

log = logging.getLogger("zoomsymbl.mixer.tracks")
_MP4_SUFFIXES = frozenset({".m4a", ".mp4", ".m4v"})


async def probe_file(path: Path, file_id: str, timeout: float) -> Probe:
    """ffprobe ``path``; raises :class:`TrackInvalid` unless it holds decodable audio."""
    result = await run_tool(probe_args(path), timeout=timeout, capture_stdout=True)
    probe = parse_probe(result.stdout) if result.returncode == 0 else None
    if probe is None:
        if (cause := interrupted("ffprobe", result.returncode, result.tail)) is not None:
            raise cause
        detail = refusal(result.tail) or (result.tail[-1] if result.tail else "no decodable audio stream")
        raise TrackInvalid(file_id, f"ffprobe: {detail}")
    return probe


async def prepare(local: Path, file_id: str, timeout: float, *, to_adts: bool = True) -> tuple[Probe, Path, int]:
    """A downloaded track made ready to mix: its probe, the file to mix and the samples to skip at its start.

    With ``to_adts`` (a meeting whose tracks add up to many hours), an MP4's AAC is copied into ADTS first
    (:mod:`zoomsymbl_mixer.mp4`, a child process holding no table in memory) and the copy is probed, so
    no ffmpeg process opens the MP4: ffmpeg's MP4 demuxer holds an index entry per frame (96 MiB of RSS
    to open an 8 h track), for the whole merge. The duration is the MP4's as ffprobe reports it (an ADTS
    file has none, only an estimate). Where that copy cannot be made (not plain AAC in MP4) or its probe
    fails, the MP4 itself is probed and copied by ffmpeg (:func:`as_adts`). Without ``to_adts`` the MP4 is
    probed and mixed as it is (ffmpeg applies its edit list): decoding ADTS costs the merge 10-17 % more
    CPU than the MP4, which a short meeting's small index does not repay.
    """
    if not to_adts:
        return await probe_file(local, file_id, timeout), local, 0
    if local.suffix.lower() in _MP4_SUFFIXES:
        target = local.with_suffix(".aac")
        result = await run_tool(copy_args(local, target), timeout=timeout, capture_stdout=True)
        copy = parse_copy(result.stdout) if result.returncode == 0 else None
        if copy is None:
            level = logging.INFO if result.returncode == NOT_PLAIN else logging.WARNING
            log.log(level, "track left to ffmpeg", extra={"path": local.name, "why": result.tail[-1:]})
            await asyncio.to_thread(target.unlink, True)
        else:
            try:
                probe = await probe_file(target, file_id, timeout)
            except TrackInvalid as exc:
                log.warning("adts copy not readable, probing the mp4", extra={"path": local.name, "why": str(exc)})
                await asyncio.to_thread(target.unlink, True)
            else:
                await asyncio.to_thread(local.unlink)
                skip = copy.priming_samples(probe.sample_rate)
                return dataclasses.replace(probe, duration=copy.duration), target, skip
    probe = await probe_file(local, file_id, timeout)
    path, skip = await as_adts(local, probe, timeout)
    return probe, path, skip


async def as_adts(local: Path, probe: Probe, timeout: float) -> tuple[Path, int]:
    """The AAC of an MP4 copied into ADTS by ffmpeg (the MP4 removed) and its priming; else ``local`` as it is.

    :func:`prepare`'s fallback for the MP4s :mod:`zoomsymbl_mixer.mp4` does not copy. An MP4 input
    costs ffmpeg memory in proportion to its length for the whole merge (its index); ADTS costs none.
    Where the copy cannot be made the MP4 is mixed as it is: only memory is at stake.
    """
    if probe.codec != "aac" or local.suffix.lower() not in _MP4_SUFFIXES:
        return local, 0
    first = await run_tool(priming_args(local), timeout=timeout, capture_stdout=True)
    skip = parse_priming(first.stdout, probe.sample_rate) if first.returncode == 0 else None
    target = local.with_suffix(".aac")
    copied = await run_tool(adts_args(local, target), timeout=timeout) if skip is not None else None
    if skip is None or copied is None or copied.returncode != 0:
        log.warning("track kept as mp4", extra={"path": local.name, "why": copied.tail[-1:] if copied else "probe"})
        await asyncio.to_thread(target.unlink, True)
        return local, 0
    await asyncio.to_thread(local.unlink)
    return target, skip
