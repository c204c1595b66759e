"""Ogg pages (RFC 3533): read with their checksum checked, split into packets, and written for one logical stream.

The container half of cutting an Ogg Opus file without decoding it (:mod:`zoomsymbl_submitter.ogg_opus`): pages
are read one at a time (one in memory), a page before the span whose packets all end on it is skipped without
reading its body, and the part's packets are copied into pages written again (sequence numbers, CRCs). What is
not a well-formed page raises :class:`NotCopyable`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

MAX_PACKET_BYTES = 4 << 20
"""A multistream packet holds at most 255 streams × 6 frames × 1,275 bytes (~2 MB, RFC 6716 §3.2.5): one that goes
on for longer (pages of continuations) is not Opus, and is not held in memory."""
PAGE_SAMPLES = 48_000
"""A page written here holds at most 1 s of audio (ffmpeg's default ``page_duration``; Opus counts 48 kHz samples)."""
FIRST_PAGE, LAST_PAGE = 0x02, 0x04
"""Header type flags: the first (beginning of stream) and the last page (end of stream) of a logical stream."""

_PAGE = struct.Struct("<4sBBqIIIB")
_CONTINUED = 0x01
_NO_GRANULE = -1
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


class NotCopyable(ValueError):
    """The file cannot be cut by copying its packets (the reason says why); encode the part instead."""


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, initial value and final XOR 0.

    zlib computes the reflected form: fed bit-reversed bytes with its pre/post inversions undone, its
    result bit-reversed is this one, at zlib's speed (a page at a time in Python would be too slow).
    """
    reflected = zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


@dataclass(frozen=True)
class Page:
    """One Ogg page: its header fields, lacing values and body."""

    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes
    skipped: bool = False

    @property
    def ends_open(self) -> bool:
        """Its last packet goes on on the next page."""
        return bool(self.lacing) and self.lacing[-1] == 255


def read_page(source: BinaryIO, skip_before: int = -1) -> Page | None:
    """The next page of ``source`` (None at its end), checksum checked. A page with a granule position below
    ``skip_before`` whose packets all end on it comes with an empty body, neither read nor checked: nothing is
    cut from it."""
    header = source.read(_PAGE.size)
    if not header:
        return None
    if len(header) < _PAGE.size:
        raise NotCopyable("the file ends inside a page header")
    capture, version, flags, granule, serial, sequence, checksum, count = _PAGE.unpack(header)
    if capture != b"OggS" or version != 0:
        raise NotCopyable("not an Ogg page where one must start")
    lacing = source.read(count)
    if len(lacing) < count:
        raise NotCopyable("the file ends inside a page's lacing values")
    size = sum(lacing)
    if 0 <= granule < skip_before and lacing and lacing[-1] < 255:
        source.seek(size, 1)
        return Page(flags, granule, serial, sequence, lacing, b"", skipped=True)
    body = source.read(size)
    if len(body) < size:
        raise NotCopyable("the file ends inside a page")
    if ogg_crc(header[:22] + b"\0\0\0\0" + header[26:] + lacing + body) != checksum:
        raise NotCopyable(f"page {sequence}: checksum mismatch")
    return Page(flags, granule, serial, sequence, lacing, body)


def packets(page: Page, carried: bytes) -> tuple[list[bytes], bytes]:
    """The packets that end on ``page`` (the first completing ``carried``) and what it leaves open."""
    done, start, at = [], 0, 0
    pending = carried
    for value in page.lacing:
        at += value
        if value < 255:
            done.append(pending + page.body[start:at])
            pending, start = b"", at
    left = pending + page.body[start:at]
    if len(left) > MAX_PACKET_BYTES:
        raise NotCopyable(f"a packet of more than {MAX_PACKET_BYTES} bytes")
    return done, left


class PageWriter:
    """Writes packets into Ogg pages of one logical stream (RFC 3533 lacing, a page up to 255 segments)."""

    def __init__(self, target: BinaryIO, serial: int) -> None:
        self._target = target
        self._serial = serial
        self._sequence = 0
        self._segments: list[int] = []
        self._body: list[bytes] = []
        self._continued = False  # the page being filled starts inside a packet
        self._granule = _NO_GRANULE  # at the end of the last packet completed on it
        self._samples = 0
        self._audio = False  # the headers are written
        self._audio_pages = 0
        self._last: tuple[int, int, int] = (0, 0, _NO_GRANULE)  # segments, body pieces, granule before the last packet

    def header_packet(self, packet: bytes, *, first: bool = False) -> None:
        """A header packet on page(s) of its own, granule position 0."""
        self._add(packet, 0)
        self._flush(FIRST_PAGE if first else 0)

    def audio_packet(self, packet: bytes, granule: int, samples: int) -> None:
        """An audio packet ending at ``granule``. A page is closed when the next packet would not fit on it or it
        holds :data:`PAGE_SAMPLES`, and only then: the last packet stays for :meth:`finish`'s page."""
        if self._segments and (self._samples >= PAGE_SAMPLES or len(self._segments) + len(packet) // 255 >= 255):
            self._flush(0)
        self._audio = True
        self._last = (len(self._segments), len(self._body), self._granule)
        self._add(packet, granule)
        self._samples += samples

    def finish(self, granule: int) -> None:
        """Close the stream: the last page, marked last, at ``granule`` (below the packets' total: trimmed).

        The first audio page is not the last: a decoder reads where audio starts from the first page's granule
        position less its samples (RFC 7845 §4.3), which end trimming would falsify (ffmpeg then plays the
        pre-skip's samples again), so a part on one page is written on two."""
        if self._audio_pages == 0:
            segments, pieces, before = self._last
            if segments == 0:
                raise NotCopyable("a part of a single packet")
            rest = self._segments[segments:], self._body[pieces:]
            self._segments, self._body, self._granule = self._segments[:segments], self._body[:pieces], before
            self._flush(0)
            self._segments, self._body = rest
        self._granule = granule
        self._flush(LAST_PAGE)

    def _add(self, packet: bytes, granule: int) -> None:
        rest, at = len(packet), 0
        while True:
            take = min(rest, 255)
            self._segments.append(take)
            self._body.append(packet[at : at + take])
            at, rest = at + take, rest - take
            if take < 255:
                break
            if len(self._segments) == 255:  # the packet goes on on the next page
                self._flush(0, completes=False)
        self._granule = granule

    def _flush(self, flags: int, *, completes: bool = True) -> None:
        granule = self._granule if completes else _NO_GRANULE
        flags |= _CONTINUED if self._continued else 0
        lacing, body = bytes(self._segments), b"".join(self._body)
        header = _PAGE.pack(b"OggS", 0, flags, granule, self._serial, self._sequence, 0, len(lacing))
        checksum = ogg_crc(header + lacing + body)
        self._target.write(header[:22] + struct.pack("<I", checksum) + header[26:] + lacing + body)
        self._sequence += 1
        self._audio_pages += self._audio
        self._segments, self._body, self._samples = [], [], 0
        self._continued = not completes
        self._granule = _NO_GRANULE
