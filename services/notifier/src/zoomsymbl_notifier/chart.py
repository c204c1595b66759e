"""The talk-time chart of the report e-mail: one horizontal bar per speaker, as a small palette PNG. Pure.

Written with zlib and struct alone (no imaging library in the notifier's image): an 8-bit palette,
one colour per bar, rows that deflate to almost nothing. The same input gives the same bytes, so a
repeated send carries the same image.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WIDTH = 240
BAR_HEIGHT = 12
GAP = 4
PADDING = 4
# Background first, then the bar colours; a legend in the HTML uses the same colours (:func:`colour`).
BACKGROUND = (255, 255, 255)
BAR_COLOURS = (
    (0x1F, 0x77, 0xB4),
    (0xFF, 0x7F, 0x0E),
    (0x2C, 0xA0, 0x2C),
    (0xD6, 0x27, 0x28),
    (0x94, 0x67, 0xBD),
    (0x8C, 0x56, 0x4B),
    (0xE3, 0x77, 0xC2),
    (0x7F, 0x7F, 0x7F),
    (0xBC, 0xBD, 0x22),
    (0x17, 0xBE, 0xCF),
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def colour(index: int) -> str:
    """The ``#rrggbb`` of bar ``index`` (colours repeat after ten bars)."""
    red, green, blue = BAR_COLOURS[index % len(BAR_COLOURS)]
    return f"#{red:02x}{green:02x}{blue:02x}"


def bar_length(value: float, longest: float, width: int = WIDTH - 2 * PADDING) -> int:
    """Pixels of a bar: proportional to ``value``, the longest value filling ``width``; any talk shows."""
    if value <= 0 or longest <= 0:
        return 0
    return max(1, min(width, round(width * value / longest)))


def size(bars: int) -> tuple[int, int]:
    """Width and height of a chart of ``bars`` bars."""
    return WIDTH, 2 * PADDING + bars * BAR_HEIGHT + max(0, bars - 1) * GAP


def talk_time_png(seconds: Sequence[float]) -> bytes | None:
    """The chart of ``seconds`` (one bar each, top to bottom, in the given order); None without any talk."""
    if not seconds or max(seconds) <= 0:
        return None
    width, height = size(len(seconds))
    blank = bytes(width)
    rows = [blank] * PADDING
    for index, value in enumerate(seconds):
        length = bar_length(value, max(seconds))
        pen = 1 + index % len(BAR_COLOURS)
        bar = bytes(PADDING) + bytes([pen]) * length + bytes(width - PADDING - length)
        rows += [bar] * BAR_HEIGHT + ([blank] * GAP if index < len(seconds) - 1 else [])
    rows += [blank] * PADDING
    # Filter type 0 (none) before every row; palette indices deflate well as they are.
    raw = b"".join(b"\x00" + row for row in rows)
    palette = b"".join(bytes(rgb) for rgb in (BACKGROUND, *BAR_COLOURS))
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit indexed colour
    return b"".join(
        (PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"PLTE", palette),
         _chunk(b"IDAT", zlib.compress(raw, 9)), _chunk(b"IEND", b""))
    )  # fmt: skip


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
