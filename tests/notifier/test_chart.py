"""The talk-time chart: a valid PNG read back chunk by chunk and pixel by pixel, small and deterministic."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from zoomsymbl_notifier.chart import BAR_HEIGHT, GAP, PADDING, PNG_SIGNATURE, WIDTH, bar_length, colour, talk_time_png


@dataclass
class Png:
    width: int
    height: int
    palette: list[tuple[int, int, int]]
    rows: list[bytes]  # palette indices, one byte per pixel


def read_png(data: bytes) -> Png:
    """Parse ``data`` strictly: signature, chunk CRCs, IHDR of an 8-bit palette image, unfiltered rows."""
    assert data[:8] == PNG_SIGNATURE
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC of {kind!r}"
        chunks.append((kind, body))
        at += 12 + length
    assert at == len(data)
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"PLTE" in kinds
    width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour_type, compression, filtering, interlace) == (8, 3, 0, 0, 0)
    plte = dict(chunks)[b"PLTE"]
    palette = [(plte[i], plte[i + 1], plte[i + 2]) for i in range(0, len(plte), 3)]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1), "IDAT is not width * height rows with their filter byte"
    rows = [raw[y * (width + 1) : (y + 1) * (width + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows), "rows are stored unfiltered"
    return Png(width, height, palette, [row[1:] for row in rows])


def bar_rows(png: Png, bars: int) -> list[bytes]:
    """The middle pixel row of each bar."""
    return [png.rows[PADDING + i * (BAR_HEIGHT + GAP) + BAR_HEIGHT // 2] for i in range(bars)]


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def test_the_chart_is_a_valid_png_of_the_expected_size() -> None:
    data = talk_time_png([120.0, 60.0, 30.0])
    assert data is not None
    png = read_png(data)
    assert (png.width, png.height) == (WIDTH, 2 * PADDING + 3 * BAR_HEIGHT + 2 * GAP)
    assert len(png.rows) == png.height and all(len(row) == png.width for row in png.rows)
    assert png.rows[0] == bytes(png.width), "a blank margin above the bars"


def test_bar_lengths_are_proportional_to_talk_time_and_drawn_in_the_legend_colours() -> None:
    seconds = [232.0, 116.0, 58.0, 0.0]  # 232 px is the full bar width: exact halves and quarters
    data = talk_time_png(seconds)
    assert data is not None
    png = read_png(data)
    lengths = []
    for index, row in enumerate(bar_rows(png, len(seconds))):
        painted = [x for x, pixel in enumerate(row) if pixel != 0]
        lengths.append(len(painted))
        if painted:
            assert painted == list(range(PADDING, PADDING + len(painted))), "a bar is one run from the left margin"
            assert {row[x] for x in painted} == {row[PADDING]}
            assert hex_colour(png.palette[row[PADDING]]) == colour(index)
    assert lengths == [232, 116, 58, 0]


def test_any_talk_shows_as_at_least_one_pixel() -> None:
    assert bar_length(0.1, 10_000.0) == 1
    assert bar_length(0.0, 10.0) == 0


def test_the_same_input_gives_the_same_bytes_and_another_input_other_bytes() -> None:
    assert talk_time_png([3.0, 2.0]) == talk_time_png([3.0, 2.0])
    assert talk_time_png([3.0, 2.0]) != talk_time_png([3.0, 1.0])


def test_thirty_two_speakers_stay_under_ten_kilobytes() -> None:
    seconds = [float(14_400 - 431 * i) for i in range(32)]  # a 4-hour meeting, every bar a different length
    data = talk_time_png(seconds)
    assert data is not None and len(data) < 10_000
    png = read_png(data)
    assert len({row.count(row[PADDING]) for row in bar_rows(png, 32)}) == 32


def test_no_chart_without_any_talk() -> None:
    assert talk_time_png([]) is None
    assert talk_time_png([0.0, 0.0]) is None
