"""An MP4's AAC track copied into ADTS by reading the MP4's tables a window at a time.

ffmpeg's MP4 demuxer builds an index entry for every frame of a track before it reads one
(measured: 96 MiB of RSS for ffmpeg to open one 8 h Zoom track, 56 MiB for a 1 h one), so probing
or copying a long track with ffmpeg costs memory in proportion to its length. This reader keeps
no table in memory: it walks the box tree by its headers, notes where the sample tables lie, and
streams the frames out behind 7-byte ADTS headers in bounded reads (ISO/IEC 14496-3 for ADTS).
Where the tables lie, and the header bytes, come from :mod:`zoomsymbl_mixer.mp4_layout`; this module
reads the tables and writes the frames.

It copies only what it can copy exactly as ``ffmpeg -c copy -f adts`` does, byte for byte
(tests/mixer/test_mp4.py compares them): an unfragmented MP4 whose first sound track is AAC
(object types 1-4, a sampling-frequency index, channel configuration 1-7, 1024-sample frames,
one sample description) with no edit or one plain edit. Frames past the edit's end are dropped as
ffmpeg drops them. For anything else :func:`copy_to_adts` raises :class:`NotPlainAac` and the caller
falls back to ffmpeg. The input is untrusted: every size and offset is checked against its parent box and the
file, and the work is bounded by the file's size.

The mixer runs it as a child process (:func:`copy_args`, like ffmpeg; this file as a script, which imports
only the standard library and :mod:`zoomsymbl_mixer.mp4_layout`): run in the mixer's own
process the copies cost it 20-30 MiB of RSS (four at once, in threads; measured), the GIL was shared
with the event loop, and a copy could not be killed on a timeout or a cancel. Its stdout is one
JSON line (:func:`parse_copy`); exit status 3 means "not plain AAC, use ffmpeg".
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from zoomsymbl_mixer.mp4_layout import Box, NotPlainAac, Reader, layout

READ_BYTES: Final = 1 << 20
MAX_ADTS_PAYLOAD: Final = (1 << 13) - 1 - 7


@dataclass(frozen=True)
class AdtsCopy:
    """What the copy wrote and what the MP4 said about its timing."""

    frames: int
    duration: float
    """The movie's duration in seconds, as ffprobe reports an MP4's (its movie header)."""
    priming: int
    """Media time the edit list skips (encoder priming), in units of ``timescale``."""
    timescale: int

    def priming_samples(self, sample_rate: int) -> int:
        """The priming in samples at ``sample_rate`` (what ``atrim`` drops from the ADTS copy)."""
        return round(self.priming * sample_rate / self.timescale)


def _chunk_sizes(reader: Reader, stsc: Box, chunks: int) -> Iterator[int]:
    """Samples per chunk, chunk by chunk, from the sample-to-chunk runs."""
    head = reader.read(stsc.start, 8)
    runs = struct.unpack(">I", head[4:8])[0]
    if runs == 0 or stsc.start + 8 + runs * 12 > stsc.end:
        raise NotPlainAac("bad stsc")
    entries = reader.ints(stsc.start + 8, runs * 3, 4)
    first, per_chunk, description = next(entries), next(entries), next(entries)
    if first != 1:
        raise NotPlainAac("bad stsc")
    for run in range(runs):
        if description != 1 or per_chunk == 0:
            raise NotPlainAac("bad stsc run")
        last = chunks + 1
        if run + 1 < runs:
            following = (next(entries), next(entries), next(entries))
            last = following[0]
        if not first < last <= chunks + 1:
            raise NotPlainAac("bad stsc run")
        for _ in range(last - first):
            yield per_chunk
        if run + 1 < runs:
            first, per_chunk, description = following


def _durations(reader: Reader, stts: Box) -> Iterator[int]:
    head = reader.read(stts.start, 8)
    runs = struct.unpack(">I", head[4:8])[0]
    if stts.start + 8 + runs * 8 > stts.end:
        raise NotPlainAac("bad stts")
    entries = reader.ints(stts.start + 8, runs * 2, 4)
    for count, delta in zip(entries, entries, strict=True):
        for _ in range(count):
            yield delta


NOT_PLAIN: Final = 3
"""The child's exit status when the file is not plain AAC in MP4 (any other failure is a crash)."""


def copy_args(source: Path, target: Path) -> list[str]:
    """The child process that copies ``source`` into ADTS at ``target`` (this file run as a script, isolated)."""
    return [sys.executable, "-I", str(Path(__file__).resolve()), str(source), str(target)]


def parse_copy(output: str) -> AdtsCopy | None:
    """The :class:`AdtsCopy` the child printed, or None when its output is not one."""
    try:
        data = json.loads(output or "{}")
        copy = AdtsCopy(int(data["frames"]), float(data["duration"]), int(data["priming"]), int(data["timescale"]))
    except (ValueError, KeyError, TypeError):
        return None
    return copy if copy.frames > 0 and copy.duration > 0 and copy.timescale > 0 and copy.priming >= 0 else None


def copy_to_adts(source: Path, target: Path) -> AdtsCopy:
    """Copy the AAC of ``source`` into ADTS at ``target``; raises :class:`NotPlainAac` (no ``target`` left)."""
    done = False
    try:
        with source.open("rb") as handle, target.open("wb") as out:
            copy = _copy(Reader(handle.fileno(), os.fstat(handle.fileno()).st_size), out)
        done = True
        return copy
    finally:
        if not done:
            target.unlink(missing_ok=True)


def _copy(reader: Reader, out: BinaryIO) -> AdtsCopy:
    track, movie_timescale, movie_duration = layout(reader)
    if not (track.stsz and track.stsc and track.chunks and track.stts and track.timescale):
        raise NotPlainAac("sample tables missing")
    constant, samples = struct.unpack(">II", reader.read(track.stsz.start + 4, 8))
    if constant == 0 and track.stsz.start + 12 + samples * 4 > track.stsz.end:
        raise NotPlainAac("bad stsz")
    chunks = struct.unpack(">I", reader.read(track.chunks.start + 4, 4))[0]
    if track.chunks.start + 8 + chunks * track.chunk_width > track.chunks.end:
        raise NotPlainAac("bad chunk offsets")
    if samples > reader.size:  # every sample is at least a byte of the file
        raise NotPlainAac("more samples than bytes")
    priming = track.edit[1] if track.edit else 0
    end = None
    if track.edit and track.edit[0]:
        end = priming + track.edit[0] * track.timescale // movie_timescale
    keep = _kept(_durations(reader, track.stts), samples, end)
    if keep == 0:
        raise NotPlainAac("no frames")
    sizes = reader.ints(track.stsz.start + 12, samples, 4) if constant == 0 else itertools.repeat(constant, samples)
    per_chunk = _chunk_sizes(reader, track.stsc, chunks)
    written, frames = bytearray(), 0
    for offset in reader.ints(track.chunks.start + 8, chunks, track.chunk_width):
        batch: list[int] = []
        span = 0
        for size in itertools.islice(sizes, min(next(per_chunk), keep - frames)):
            if not 0 < size <= MAX_ADTS_PAYLOAD:
                raise NotPlainAac("a frame size ADTS cannot carry")
            if span + size > READ_BYTES:
                offset = _emit(reader, offset, batch, span, track.header, written)
                frames, batch, span = frames + len(batch), [], 0
                out.write(written)
                written.clear()
            batch.append(size)
            span += size
        _emit(reader, offset, batch, span, track.header, written)
        frames += len(batch)
        if len(written) >= READ_BYTES:
            out.write(written)
            written.clear()
        if frames >= keep:
            break
    if frames != keep:
        raise NotPlainAac("the chunks hold fewer samples than the tables say")
    out.write(written)
    return AdtsCopy(frames, movie_duration / movie_timescale, priming, track.timescale)


def _kept(durations: Iterator[int], samples: int, end: int | None) -> int:
    """How many frames ffmpeg keeps: all, or those starting before the edit's end (media time)."""
    if end is None:
        return samples
    start, kept = 0, 0
    for delta in durations:
        if kept >= samples or start >= end:
            break
        kept += 1
        start += delta
    return kept


def _emit(reader: Reader, offset: int, batch: list[int], span: int, header: bytes, written: bytearray) -> int:
    """Append ``batch``'s frames (read in one piece from ``offset``) behind their headers; the next offset."""
    if offset + span > reader.size:
        raise NotPlainAac("a frame lies past the end of the file")
    data = reader.read(offset, span)
    prefix, third, position = header[:3], header[3], 0
    for size in batch:
        length = size + 7
        written += prefix
        written += bytes((third | (length >> 11), (length >> 3) & 0xFF, ((length & 0x7) << 5) | 0x1F, 0xFC))
        written += data[position : position + size]
        position += size
    return offset + span


def main(argv: list[str]) -> int:
    """``mp4.py SOURCE TARGET``: copy, print the :class:`AdtsCopy` as JSON; exit 3 when not plain AAC."""
    if len(argv) != 2:
        print("usage: mp4.py SOURCE TARGET", file=sys.stderr)
        return 2
    try:
        copy = copy_to_adts(Path(argv[0]), Path(argv[1]))
    except NotPlainAac as exc:
        print(f"not plain AAC in MP4: {exc}", file=sys.stderr)
        return NOT_PLAIN
    print(json.dumps(dataclasses.asdict(copy)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
