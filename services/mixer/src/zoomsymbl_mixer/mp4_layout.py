"""What an MP4 says, read a box at a time: its first sound track's tables, timing and AAC configuration.

The reader walks the box tree by its headers (ISO/IEC 14496-12), at most :data:`MAX_BOXES` of them, and
reads whole only the small boxes (:data:`MAX_LEAF_BYTES`); the sample tables are only located here and
read in windows of :data:`WINDOW_ENTRIES` by the copy (:mod:`zoomsymbl_mixer.mp4`). The ``esds``
(14496-14) and its AudioSpecificConfig (14496-3) give the fixed bytes of every ADTS header. The input is
untrusted: every size and offset is checked against its parent box and the file. Anything the copy could
not write exactly as ``ffmpeg -c copy -f adts`` does raises :class:`NotPlainAac`.

Standard library only: it runs in the copy's child process too.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

MAX_LEAF_BYTES: Final = 1 << 20
"""Largest box read whole (mvhd, mdhd, hdlr, elst, stsd): the tables are read in windows instead."""
MAX_BOXES: Final = 10_000
"""Boxes visited per file, whatever the file claims: the walk is bounded."""
WINDOW_ENTRIES: Final = 16_384
"""Table entries read at once (:meth:`Reader.ints`)."""
_CONTAINERS: Final = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"})


class NotPlainAac(Exception):
    """The file is not an MP4 this reader copies exactly; ffmpeg is used instead."""


@dataclass(frozen=True)
class Box:
    """One box: its type and where its payload lies in the file."""

    kind: bytes
    start: int  # of the payload
    end: int


@dataclass
class SoundTrack:
    """What a track's boxes said: its handler, timing, edit, ADTS header and where its sample tables lie."""

    handler: bytes = b""
    timescale: int = 0
    edit: tuple[int, int] | None = None  # (segment duration in movie units, media time)
    header: bytes = b""  # the fixed ADTS header bytes of this track's config
    stsz: Box | None = None
    stsc: Box | None = None
    chunks: Box | None = None  # stco or co64
    chunk_width: int = 4
    stts: Box | None = None


class Reader:
    """Bounded, checked reads of one open file (``pread``: no position shared with anyone)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.visited = 0

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``."""
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise NotPlainAac("file shorter than its boxes say")
        return data

    def boxes(self, start: int, end: int) -> Iterator[Box]:
        """The boxes between ``start`` and ``end`` (a parent's payload), each checked to lie within it."""
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
            yield Box(kind, offset + header, offset + size)
            offset += size
        if offset != end and end != self.size:
            raise NotPlainAac("trailing bytes in a box")

    def leaf(self, box: Box) -> bytes:
        """The payload of a small box, read whole (:data:`MAX_LEAF_BYTES` at most)."""
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


def _sample_entry(reader: Reader, box: Box) -> bytes:
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


def _track(reader: Reader, trak: Box) -> SoundTrack:
    track = SoundTrack()
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


def layout(reader: Reader) -> tuple[SoundTrack, int, int]:
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
