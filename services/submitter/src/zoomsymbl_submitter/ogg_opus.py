"""Cutting a span out of an Ogg Opus file without decoding it (RFC 3533 pages, RFC 7845 Opus in Ogg).

A part of a long meeting must start at its cut, to the sample, or what lies before the cut is heard
(and transcribed) twice. A stream copy starts at a packet boundary before the cut; Opus in Ogg has
the field that makes a decoder start later: the ID header's *pre-skip*, the number of decoded samples
a conforming decoder discards (RFC 7845 §4.2; ffmpeg, libopusfile and browsers apply it). So a part
is the packets from :data:`PRE_ROLL` before the cut (the decoder's pre-roll, §4.6: what it needs to
converge after a seek) to the packet that holds the span's end, with

- the pre-skip set to the distance from the first packet's start to the cut (at most 65,535
  samples, 1.37 s; 320–440 ms here: :data:`PRE_ROLL`),
- granule positions counted from the first packet, and the last page's granule position at the
  span's end (end trimming, §4.5),
- pages written again (sequence numbers, CRCs; :mod:`zoomsymbl_submitter.ogg_pages`): the packets
  themselves are copied.

That is the copy's cost and no second lossy generation (``bench/bench_split.py`` measured a
re-encode at 10.5 s of CPU per hour per channel and +1.2 WER points on tiny.en). What is not an Ogg
Opus file of one logical stream whose packets' durations (their TOC bytes, RFC 6716 §3.1) agree with
its pages' granule positions raises :class:`NotCopyable`: the caller encodes the part again.

Streaming: one pass from the file's start to the span's end, one page in memory; pages entirely
before the span are skipped without parsing their packets.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO

from zoomsymbl_submitter.ogg_pages import FIRST_PAGE, LAST_PAGE, PageWriter, packets, read_page
from zoomsymbl_submitter.ogg_pages import NotCopyable as NotCopyable

RATE = 48_000
"""Opus granule positions count samples at 48 kHz whatever the input rate (RFC 7845 §4)."""
PRE_ROLL = 15_360
"""320 ms decoded before the cut, for the decoder to converge. RFC 7845 §4.6 asks for at least 80 ms; measured on
libopus's multichannel output at complexity 0 (what the mixer writes), the first 50 ms after the cut were 11–24 dB
below the signal with 80 ms (a click), 35–46 dB with 160 ms and 40–67 dB with 320 ms."""
MAX_PRE_SKIP = 65_535
MAX_HEADER_BYTES = 1 << 20
"""OpusTags larger than this (cover art?) is not what the mixer writes: refused."""
# Frame length in samples at 48 kHz of each TOC configuration (RFC 6716 §3.1, table 2).
_FRAME = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4


def packet_samples(packet: bytes) -> int:
    """The packet's duration in 48 kHz samples from its TOC byte (a multistream packet's first stream's)."""
    if not packet:
        raise NotCopyable("an empty Opus packet")
    toc = packet[0]
    frame, code = _FRAME[toc >> 3], toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    elif len(packet) < 2:
        raise NotCopyable("an Opus packet of code 3 without its frame count")
    else:
        count = packet[1] & 0x3F
    samples = frame * count
    if not 0 < samples <= 5_760:  # at most 120 ms (RFC 6716 §3.2.5)
        raise NotCopyable(f"an Opus packet of {samples} samples")
    return samples


@dataclass(frozen=True)
class Cut:
    """What was written: the part's pre-skip and its length as a decoder plays it, in 48 kHz samples."""

    pre_skip: int
    samples: int


def opus_head(packet: bytes) -> int:
    """The pre-skip of an Opus ID header (RFC 7845 §5.1); :class:`NotCopyable` if it is none."""
    if len(packet) < 19 or packet[:8] != b"OpusHead" or packet[8] >> 4 != 0:
        raise NotCopyable("the first packet is not an Opus ID header of version 0.x")
    pre_skip: int = struct.unpack_from("<H", packet, 10)[0]
    return pre_skip


def cut(source: BinaryIO, target: BinaryIO, start: int, end: int | None) -> Cut:
    """Write to ``target`` the samples [``start``, ``end``) of the Ogg Opus ``source`` (48 kHz samples as
    played, pre-skip excluded; ``end`` None: to the file's end), copying its packets."""
    head, serial = _id_header(source)
    # Where the span lies in the source's granule positions (decoded samples, pre-skip included).
    skip = opus_head(head)
    begin, finish = start + skip, None if end is None else end + skip
    threshold = max(0, begin - PRE_ROLL)
    tags = _comment_header(source, serial)

    cutter = _Cutter(target, serial, head, tags, begin, threshold)
    position = _feed(source, serial, cutter, threshold, finish)
    stop = position if finish is None else min(finish, position)
    return cutter.finish(stop)


def _id_header(source: BinaryIO) -> tuple[bytes, int]:
    """The ID header packet, alone on the first page, and the stream's serial number."""
    first = read_page(source)
    if first is None or not first.flags & FIRST_PAGE or first.ends_open:
        raise NotCopyable("the file does not start with an Ogg Opus ID header page")
    heads, _ = packets(first, b"")
    if len(heads) != 1:
        raise NotCopyable("the ID header page holds more than the ID header")
    return heads[0], first.serial


def _feed(source: BinaryIO, serial: int, cutter: _Cutter, threshold: int, finish: int | None) -> int:
    """Hand ``cutter`` each audio packet of ``source`` that starts before ``finish`` (None: the stream's end), the
    pages before ``threshold`` skipped; where the packets read end (at the stream's end: its trimmed end)."""
    carried, position, known = b"", 0, False
    while (page := read_page(source, skip_before=threshold)) is not None:
        if page.serial != serial:
            raise NotCopyable("more than one logical stream")
        if page.skipped:  # every packet on it ends before the threshold
            carried, position, known = b"", page.granule, True
            continue
        done, carried = packets(page, carried)
        if not done:
            continue
        lengths = [packet_samples(packet) for packet in done]
        if not known:  # the first audio page: its granule position less its packets' samples is where audio starts
            position, known = page.granule - sum(lengths), True
            if position < 0 and not page.flags & LAST_PAGE:
                raise NotCopyable("the first audio page starts before sample 0")
        for packet, samples in zip(done, lengths, strict=True):
            position += samples
            if finish is None or position - samples < finish:
                cutter.packet(packet, position, samples)
        if page.flags & LAST_PAGE:  # end trimming: the stream ends inside its last packet
            if not position - lengths[-1] < page.granule <= position:
                raise NotCopyable("the last page's granule position does not end in its last packet")
            position = page.granule
            break
        if page.granule != position:
            raise NotCopyable(f"page {page.sequence}: granule position {page.granule}, its packets end at {position}")
        if finish is not None and position >= finish:
            break
    return position


class _Cutter:
    """Holds the packets of the pre-roll until the cut is reached, then writes the part."""

    def __init__(self, target: BinaryIO, serial: int, head: bytes, tags: list[bytes], begin: int, threshold: int):
        self._target, self._serial, self._head, self._tags = target, serial, head, tags
        self._begin, self._threshold = begin, threshold
        self._held: deque[tuple[bytes, int, int]] = deque()  # from the last packet starting at the threshold
        self._writer: PageWriter | None = None
        self._origin = self._last_start = 0

    def packet(self, packet: bytes, end: int, samples: int) -> None:
        self._last_start = end - samples
        if self._writer is not None:
            self._writer.audio_packet(packet, end - self._origin, samples)
            return
        if end - samples <= self._threshold:
            self._held.clear()
        self._held.append((packet, end, samples))
        if end <= self._begin:  # the cut lies further on
            return
        self._origin = self._held[0][1] - self._held[0][2]
        pre_skip = self._begin - self._origin
        if pre_skip > MAX_PRE_SKIP:
            raise NotCopyable(f"a pre-skip of {pre_skip} samples")
        self._writer = PageWriter(self._target, self._serial)
        self._writer.header_packet(self._head[:10] + struct.pack("<H", pre_skip) + self._head[12:], first=True)
        for tag in self._tags:
            self._writer.header_packet(tag)
        for held, held_end, held_samples in self._held:
            self._writer.audio_packet(held, held_end - self._origin, held_samples)
        self._held.clear()

    def finish(self, stop: int) -> Cut:
        if self._writer is None or stop <= self._begin:
            raise NotCopyable("the cut lies at or past the file's end")
        if self._last_start < self._begin:
            # One packet would carry the end of the pre-skip and the end trimming: ffmpeg (5.1) then applies only
            # the trimming and plays the pre-skip's samples. A span shorter than a packet is no meeting's part.
            raise NotCopyable("a span within one packet")
        self._writer.finish(stop - self._origin)
        return Cut(self._begin - self._origin, stop - self._begin)


def _comment_header(source: BinaryIO, serial: int) -> list[bytes]:
    """The comment header packet after the ID header, checked to end its page(s) alone (RFC 7845 §3)."""
    carried, size = b"", 0
    while (page := read_page(source)) is not None:
        if page.serial != serial:
            raise NotCopyable("more than one logical stream")
        size += len(page.body)
        if size > MAX_HEADER_BYTES:
            raise NotCopyable("a comment header over 1 MiB")
        done, carried = packets(page, carried)
        if done:
            if len(done) != 1 or carried or not done[0].startswith(b"OpusTags"):
                raise NotCopyable("the comment header does not end its page alone")
            return done
    raise NotCopyable("the file ends before its comment header")
