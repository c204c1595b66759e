"""Cutting Ogg Opus by copying packets behind a pre-skip: files libopus wrote (through ffmpeg), decoded by
ffmpeg, which applies the pre-skip and the end trimming as RFC 7845 asks of every decoder."""

from __future__ import annotations

import io
import itertools
import math
import struct
import subprocess
from array import array
from pathlib import Path

import pytest
from zoomsymbl_submitter import ogg_opus, ogg_pages
from zoomsymbl_submitter.ogg_opus import PRE_ROLL, RATE, NotCopyable, cut
from zoomsymbl_submitter.ogg_pages import PageWriter, ogg_crc, read_page

SECONDS = 12
TONES = (330.0, 550.0, 770.0, 990.0)  # one per channel: a swapped channel is heard as the wrong tone


def reference_crc(data: bytes) -> int:
    """RFC 3533's checksum bit by bit: polynomial 0x04C11DB7, initial value 0, no reflection, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four channels, each its own tone with its own pauses, as the mixer writes them (mapping family 255)."""
    path = tmp_path_factory.mktemp("ogg") / "m.opus"
    waves = "|".join(f"0.3*sin(2*PI*{f}*t)*gt(mod(t+{i * 0.37},2),0.4)" for i, f in enumerate(TONES))
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    args += ["-f", "lavfi", "-i", f"aevalsrc='{waves}':s=48000:d={SECONDS}:c=4c"]
    args += ["-c:a", "libopus", "-mapping_family", "255", "-b:a", "128000", "-compression_level", "0", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path


def decoded(path: Path | bytes) -> list[array[int]]:
    """Each channel's 16-bit samples as ffmpeg plays the file."""
    source = ["-i", str(path)] if isinstance(path, Path) else ["-f", "ogg", "-i", "pipe:0"]
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *source, "-f", "s16le", "-"]
    given = path if isinstance(path, bytes) else None
    out = subprocess.run(args, input=given, capture_output=True, check=True, timeout=60).stdout
    samples = array("h", out)
    channels = len(TONES)
    return [samples[c::channels] for c in range(channels)]


def cut_bytes(path: Path, start: int, end: int | None) -> tuple[ogg_opus.Cut, bytes]:
    target = io.BytesIO()
    with path.open("rb") as source:
        made = cut(source, target, start, end)
    return made, target.getvalue()


def pages_of(data: bytes) -> list[ogg_pages.Page]:
    source, pages = io.BytesIO(data), []
    while (page := read_page(source)) is not None:
        pages.append(page)
    return pages


def audio_packets(data: bytes) -> list[bytes]:
    carried, found = b"", []
    for page in pages_of(data)[2:]:
        done, carried = ogg_pages.packets(page, carried)
        found.extend(done)
    return found


TONE_POWER = (0.3 * 32767) ** 2 / 2


def error_db(got: array[int], want: array[int]) -> float:
    """How far ``got`` is from ``want``, in dB below a tone's power (a span may fall in a channel's pause)."""
    noise = sum((a - b) ** 2 for a, b in zip(got, want, strict=True)) / len(want)
    return 10 * math.log10(max(noise, 1e-3) / TONE_POWER)


def test_the_checksum_is_rfc_3533s() -> None:
    for data in (b"", b"OggS", bytes(range(256)) * 3, b"\xff" * 1000):
        assert ogg_crc(data) == reference_crc(data)


@pytest.mark.parametrize(
    ("start", "end"), [(0.0, 4.0), (4.0, 8.31), (8.31, None), (2.0, 2.97), (5.0, 5.05), (9.1, 9.2)]
)
def test_a_cut_plays_exactly_its_span_of_the_file(meeting: Path, start: float, end: float | None) -> None:
    whole = decoded(meeting)
    first, last = round(start * RATE), None if end is None else round(end * RATE)
    made, part = cut_bytes(meeting, first, last)

    played = decoded(part)
    want = [channel[first:last] for channel in whole]
    assert [len(c) for c in played] == [len(c) for c in want] == [made.samples] * len(TONES)
    for got, expected in zip(played, want, strict=True):  # the same sound on the same channel
        assert error_db(got, expected) < -30
        assert error_db(got[:2400], expected[:2400]) < -30  # from the cut on: the decoder has converged
    if start > 0:  # the decoder ran the pre-roll before the cut; at most one packet more
        assert PRE_ROLL <= made.pre_skip <= PRE_ROLL + 5_760


def test_the_parts_of_a_file_are_the_file_and_copy_its_packets(meeting: Path) -> None:
    edges: list[int | None] = [0, round(3.333 * RATE), round(7.777 * RATE), None]
    parts = [cut_bytes(meeting, a or 0, b) for a, b in itertools.pairwise(edges)]
    whole = decoded(meeting)
    assert sum(made.samples for made, _ in parts) == len(whole[0])
    source = audio_packets(meeting.read_bytes())
    for _made, data in parts:
        packets = audio_packets(data)
        at = source.index(packets[0])  # a run of the file's own packets, not encoded again
        assert packets == source[at : at + len(packets)]
    # The first part starts where the file does, with its pre-skip.
    with meeting.open("rb") as whole_file:
        head = read_page(whole_file)
    assert head is not None and parts[0][0].pre_skip == ogg_opus.opus_head(head.body)


def test_a_part_is_a_valid_ogg_stream(meeting: Path) -> None:
    _, data = cut_bytes(meeting, round(4.2 * RATE), round(9.1 * RATE))
    pages = pages_of(data)  # every checksum checked on reading
    assert [page.sequence for page in pages] == list(range(len(pages)))
    assert pages[0].flags == 0x02 and pages[-1].flags & 0x04 and not any(p.flags & 0x04 for p in pages[:-1])
    assert pages[0].body[:8] == b"OpusHead" and pages[1].body[:8] == b"OpusTags"
    assert [p.granule for p in pages[:2]] == [0, 0]
    granules = [p.granule for p in pages[2:]]
    assert granules == sorted(granules) and all(g > 0 for g in granules)
    assert len({p.serial for p in pages}) == 1


def test_packets_larger_than_a_page_span_pages() -> None:
    # A TOC byte of a 20 ms CELT frame (config 31, code 0), then bytes: sizes around the lacing's edges.
    sizes = [1, 254, 255, 256, 510, 255 * 255, 255 * 255 + 1, 70_000, 3]
    packets = [bytes([31 << 3]) + bytes([i % 251]) * (size - 1) for i, size in enumerate(sizes)]
    target = io.BytesIO()
    writer = PageWriter(target, serial=7)
    writer.header_packet(b"OpusHead" + bytes(11), first=True)
    for n, packet in enumerate(packets, start=1):
        writer.audio_packet(packet, n * 960, 960)
    writer.finish(len(packets) * 960 - 100)
    pages = pages_of(target.getvalue())
    carried, found = b"", []
    for page in pages[1:]:
        assert page.granule == -1 or page.granule % 960 == 0 or page.flags & 0x04
        done, carried = ogg_pages.packets(page, carried)
        found.extend(done)
    assert found == packets and carried == b""
    assert pages[-1].granule == len(packets) * 960 - 100 and pages[-1].flags & 0x04


def test_a_file_that_cannot_be_copied_says_why(meeting: Path, tmp_path: Path) -> None:
    data = meeting.read_bytes()

    def refused(blob: bytes, start: int = RATE, end: int | None = 2 * RATE) -> str:
        with pytest.raises(NotCopyable) as caught:
            cut(io.BytesIO(blob), io.BytesIO(), start, end)
        return str(caught.value)

    assert "Ogg" in refused(b"fLaC" + bytes(100))
    assert "ends inside" in refused(data[: len(data) // 2], start=RATE, end=None)
    assert "within one packet" in refused(data, start=5 * RATE, end=5 * RATE + 480)
    broken = bytearray(data)
    broken[len(data) // 3] ^= 0x55
    assert "checksum" in refused(bytes(broken), start=RATE, end=None)
    assert "past the file's end" in refused(data, start=SECONDS * RATE + 100, end=None)
    # Two logical streams one after the other (a chained file).
    other = bytearray(data)
    struct.pack_into("<I", other, 14, 0x1234)  # the first page's serial, its checksum mended
    struct.pack_into("<I", other, 22, 0)
    page_end = 27 + other[26] + sum(other[27 : 27 + other[26]])
    struct.pack_into("<I", other, 22, reference_crc(bytes(other[:page_end])))
    assert "logical stream" in refused(bytes(other))
    # A page whose granule position disagrees with its packets' durations.
    pages = pages_of(data)
    offset, lying = 0, 4
    for page in pages[:lying]:
        offset += 27 + len(page.lacing) + len(page.body)
    wrong = bytearray(data)
    struct.pack_into("<q", wrong, offset + 6, pages[lying].granule + 480)
    struct.pack_into("<I", wrong, offset + 22, 0)
    size = 27 + len(pages[lying].lacing) + len(pages[lying].body)
    struct.pack_into("<I", wrong, offset + 22, ogg_crc(bytes(wrong[offset : offset + size])))
    assert "granule position" in refused(bytes(wrong), start=0, end=None)


def test_a_packet_that_never_ends_is_refused_before_it_fills_memory() -> None:
    """Pages of continuations (every lacing value 255) after valid headers: refused once past an Opus packet's most."""
    target = io.BytesIO()
    writer = PageWriter(target, serial=3)
    writer.header_packet(b"OpusHead" + bytes([1, 2, 0x38, 0x01]) + bytes(7), first=True)
    writer.header_packet(b"OpusTags" + bytes(8))
    endless = target.getvalue()
    for sequence in range(2, 2 + 80):  # 80 pages of 65,025 bytes: 5.2 MB of one packet
        header = struct.pack("<4sBBqIIIB", b"OggS", 0, 0x01 if sequence > 2 else 0, -1, 3, sequence, 0, 255)
        body = bytes(255 * 255)
        page = header + bytes([255] * 255) + body
        page = page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]
        endless += page
    with pytest.raises(NotCopyable, match="a packet of more than"):
        cut(io.BytesIO(endless), io.BytesIO(), RATE, 2 * RATE)


def test_pages_before_the_cut_are_skipped_unread(meeting: Path) -> None:
    data = meeting.read_bytes()
    source = io.BytesIO(data)
    pages = [read_page(source) for _ in range(2)]  # the headers
    skipped = read_page(source, skip_before=10 * RATE)
    assert skipped is not None and skipped.skipped and skipped.body == b""
    assert source.tell() == sum(27 + len(p.lacing) + len(p.body) for p in pages if p) + 27 + len(skipped.lacing) + sum(
        skipped.lacing
    )
