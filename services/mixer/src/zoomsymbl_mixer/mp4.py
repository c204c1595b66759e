"""An MP4's AAC track copied into ADTS by reading the MP4's tables a window at a time.

ffmpeg's MP4 demuxer builds an index entry for every frame of a track before it reads one
(measured: 96 MiB of RSS for ffmpeg to open one 8 h Zoom track, 56 MiB for a 1 h one), so probing
or copying a long track with ffmpeg costs memory in proportion to its length. This reader keeps
no table in memory: it walks the box tree by its headers, notes where the sample tables lie, and
streams the frames out behind 7-byte ADTS headers in bounded reads (ISO/IEC 14496-12 for the
boxes, 14496-14 for ``esds``, 14496-3 for AudioSpecificConfig and ADTS).

It copies only what it can copy exactly as ``ffmpeg -c copy -f adts`` does, byte for byte
(tests/mixer/test_mp4.py compares them): an unfragmented MP4 whose first sound track is AAC
(object types 1-4, a sampling-frequency index, channel configuration 1-7, 1024-sample frames,
one sample description) with no edit or one plain edit. Frames past the edit's end are dropped as
ffmpeg drops them. For anything else :func:`copy_to_adts` returns None and the caller falls back
to ffmpeg. The input is untrusted: every size and offset is checked against its parent box and the
file, and the work is bounded by the file's size.

The mixer runs it as a child process (:func:`copy_args`, like ffmpeg): run in the mixer's own
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

MAX_LEAF_BYTES: Final = 1 << 20
"""Largest box read whole (mvhd, mdhd, hdlr, elst, stsd): the tables are read in windows instead."""
MAX_BOXES: Final = 10_000
"""Boxes visited per file, whatever the file claims: the walk is bounded."""
WINDOW_ENTRIES: Final = 16_384
READ_BYTES: Final = 1 << 20
MAX_ADTS_PAYLOAD: Final = (1 << 13) - 1 - 7
_CONTAINERS: Final = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"})


class NotPlainAac(Exception):
    """The file is not an MP4 this reader copies exactly; ffmpeg is used instead."""


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


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # of the payload
    end: int


@dataclass
class _Track:
    handler: bytes = b""
    timescale: int = 0
    edit: tuple[int, int] | None = None  # (segment duration in movie units, media time)
    header: bytes = b""  # the fixed ADTS header bytes of this track's config
    stsz: _Box | None = None
    stsc: _Box | None = None
    chunks: _Box | None = None  # stco or co64
    chunk_width: int = 4
    stts: _Box | None = None


class _Reader:
    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.visited = 0

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise NotPlainAac("file shorter than its boxes say")
        return data

    def boxes(self, start: int, end: int) -> Iterator[_Box]:
        offset = start
        while offset + 8 <= end:
            self.visited += 1
            if self.visited > MAX_BOXES:
                raise NotPlainAac("too many boxes")
            size, kind = struct.unpack(">I4s", self.read(offset, 8))
            header = 8
            if size == 1:
                (size,) = struct.unpack(">Q", self.read(offset + 8, 8))
                header = 16
            elif size == 0:
                size = end - offset
            if size < header or offset + size > end:
                raise NotPlainAac(f"box {kind!r} overruns its parent")
            yield _Box(kind, offset + header, offset + size)
            offset += size
        if offset != end and end != self.size:
            raise NotPlainAac("trailing bytes in a box")

    def leaf(self, box: _Box) -> bytes:
        if box.end - box.start > MAX_LEAF_BYTES:
            raise NotPlainAac(f"box {box.kind!r} too large")
        return self.read(box.start, box.end - box.start)

    def ints(self, start: int, count: int, width: int) -> Iterator[int]:
        """``count`` big-endian unsigned integers of ``width`` bytes from ``start``, a window at a time."""
        code = "I" if width == 4 else "Q"
        done = 0
        while done < count:
            n = min(WINDOW_ENTRIES, count - done)
            yield from struct.unpack(f">{n}{code}", self.read(start + done * width, n * width))
            done += n


def _times(payload: bytes) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd payload."""
    if len(payload) < 4:
        raise NotPlainAac("short header box")
    if payload[0] == 1:
        if len(payload) < 32:
            raise NotPlainAac("short header box")
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        if len(payload) < 20:
            raise NotPlainAac("short header box")
        timescale, duration = struct.unpack(">II", payload[12:20])
    if timescale == 0:
        raise NotPlainAac("zero timescale")
    return timescale, duration


def _edit(payload: bytes) -> tuple[int, int] | None:
    if len(payload) < 8:
        raise NotPlainAac("short elst")
    version, count = payload[0], struct.unpack(">I", payload[4:8])[0]
    if count == 0:
        return None
    if count != 1:
        raise NotPlainAac("more than one edit")
    if version == 1:
        if len(payload) < 28:
            raise NotPlainAac("short elst")
        duration, media_time, rate = struct.unpack(">QqI", payload[8:28])
    else:
        if len(payload) < 20:
            raise NotPlainAac("short elst")
        duration, media_time, rate = struct.unpack(">IiI", payload[8:20])
    if media_time < 0 or rate != 0x00010000:
        raise NotPlainAac("an empty or scaled edit")
    return duration, media_time


def _descriptor(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, payload start, payload end) of the MPEG-4 descriptor at ``offset``."""
    if offset >= len(data):
        raise NotPlainAac("short esds")
    tag, length, position = data[offset], 0, offset + 1
    for _ in range(4):
        if position >= len(data):
            raise NotPlainAac("short esds")
        byte = data[position]
        position += 1
        length = (length << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    if position + length > len(data):
        raise NotPlainAac("esds descriptor overruns its box")
    return tag, position, position + length


def _adts_header(esds: bytes) -> bytes:
    """The first 4 bytes of every ADTS header of this config (ffmpeg's ``adts_write_frame_header``)."""
    tag, start, end = _descriptor(esds, 4)  # after version and flags
    if tag != 0x03 or end - start < 3:
        raise NotPlainAac("no ES descriptor")
    flags = esds[start + 2]
    position = start + 3 + (2 if flags & 0x80 else 0)
    if flags & 0x40:
        position += 1 + (esds[position] if position < end else 0)
    position += 2 if flags & 0x20 else 0
    tag, start, end = _descriptor(esds, position)
    if tag != 0x04 or end - start < 13 or esds[start] != 0x40:  # MPEG-4 audio
        raise NotPlainAac("not MPEG-4 audio")
    tag, start, end = _descriptor(esds, start + 13)
    if tag != 0x05 or end - start < 2:
        raise NotPlainAac("no AudioSpecificConfig")
    bits = int.from_bytes(esds[start : start + 2], "big")
    object_type, rate_index, channels = bits >> 11, (bits >> 7) & 0xF, (bits >> 3) & 0xF
    # frameLengthFlag (960-sample frames), dependsOnCoreCoder, extensionFlag: ffmpeg's ADTS muxer refuses each.
    if not 1 <= object_type <= 4 or rate_index > 12 or not 1 <= channels <= 7 or bits & 0x7:
        raise NotPlainAac("an AAC configuration ADTS cannot carry as it is")
    third = ((object_type - 1) << 6) | (rate_index << 2) | (channels >> 2)
    return bytes((0xFF, 0xF1, third, (channels & 0x3) << 6))


def _sample_entry(reader: _Reader, box: _Box) -> bytes:
    """The ADTS header prefix from an stsd with one ``mp4a`` entry."""
    payload = reader.leaf(box)
    if len(payload) < 16 or struct.unpack(">I", payload[4:8])[0] != 1:
        raise NotPlainAac("not one sample description")
    size, kind = struct.unpack(">I4s", payload[8:16])
    if kind != b"mp4a" or size < 36 or 8 + size > len(payload):
        raise NotPlainAac("not an mp4a sample entry")
    entry = payload[8 : 8 + size]
    version = struct.unpack(">H", entry[16:18])[0]
    children = 36 + {0: 0, 1: 16, 2: 36}.get(version, -36)
    if children < 36:
        raise NotPlainAac("unknown sound description version")
    offset = children
    while offset + 8 <= len(entry):
        child_size, child = struct.unpack(">I4s", entry[offset : offset + 8])
        if child_size < 8 or offset + child_size > len(entry):
            raise NotPlainAac("bad sample entry child")
        if child == b"esds":
            return _adts_header(entry[offset + 8 : offset + child_size])
        offset += child_size
    raise NotPlainAac("no esds")


def _track(reader: _Reader, trak: _Box) -> _Track:
    track = _Track()
    stack = [trak]
    while stack:
        for box in reader.boxes(stack[0].start, stack[0].end):
            if box.kind in _CONTAINERS:
                stack.append(box)
            elif box.kind == b"hdlr":
                payload = reader.leaf(box)
                track.handler = payload[8:12]
            elif box.kind == b"mdhd":
                track.timescale = _times(reader.leaf(box))[0]
            elif box.kind == b"elst":
                track.edit = _edit(reader.leaf(box))
            elif box.kind == b"stsd":
                track.header = _sample_entry(reader, box) if track.handler == b"soun" else b""
            elif box.kind in (b"stsz", b"stsc", b"stts"):
                setattr(track, box.kind.decode(), box)
            elif box.kind in (b"stco", b"co64"):
                track.chunks = box
                track.chunk_width = 4 if box.kind == b"stco" else 8
        stack.pop(0)
    return track


def _layout(reader: _Reader) -> tuple[_Track, int, int]:
    """The first sound track, the movie's timescale and its duration in those units."""
    moov = None
    for box in reader.boxes(0, reader.size):
        if box.kind == b"moof":
            raise NotPlainAac("fragmented")
        if box.kind == b"moov" and moov is None:
            moov = box
    if moov is None:
        raise NotPlainAac("no moov")
    movie, tracks = (0, 0), []
    for box in reader.boxes(moov.start, moov.end):
        if box.kind == b"mvex":
            raise NotPlainAac("fragmented")
        if box.kind == b"mvhd":
            movie = _times(reader.leaf(box))
        elif box.kind == b"trak":
            tracks.append(box)
    if not movie[1]:
        raise NotPlainAac("no movie duration")
    for trak in tracks:
        track = _track(reader, trak)  # breadth first: hdlr (in mdia) is read before stsd (in stbl)
        if track.handler == b"soun":
            if not track.header:
                raise NotPlainAac("sound track without a sample description")
            return track, *movie
    raise NotPlainAac("no sound track")


def _chunk_sizes(reader: _Reader, stsc: _Box, chunks: int) -> Iterator[int]:
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


def _durations(reader: _Reader, stts: _Box) -> Iterator[int]:
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
            copy = _copy(_Reader(handle.fileno(), os.fstat(handle.fileno()).st_size), out)
        done = True
        return copy
    finally:
        if not done:
            target.unlink(missing_ok=True)


def _copy(reader: _Reader, out: BinaryIO) -> AdtsCopy:
    track, movie_timescale, movie_duration = _layout(reader)
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


def _emit(reader: _Reader, offset: int, batch: list[int], span: int, header: bytes, written: bytearray) -> int:
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
