"""Outside text made harmless for a terminal (human output) and for JSON."""

from __future__ import annotations

import json

import pytest
from zoomsymbl_common.ops.output import json_text, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Weekly sync", "Weekly sync"),
        ("Zoë 🎧 Ng", "Zoë 🎧 Ng"),
        ("a\x1b[2Jb", "ab"),  # CSI: clear screen
        ("a\x1b[38;5;196mred\x1b[0m", "ared"),
        ("\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07", "click"),  # OSC 8 hyperlink, BEL-terminated
        ("\x1b]0;new title\x1b\\x", "x"),  # OSC, ST-terminated
        ("a\x1b]52;c;ZXZpbA==", "a"),  # unterminated OSC (clipboard write) up to the end
        ("\x1bPq#0;2;0;0;0\x1b\\ok", "ok"),  # DCS (sixel)
        ("a\x1bcb", "ab"),  # ESC c: reset
        ("line\r\nforged", "line\\r\\nforged"),
        ("bell\x07 nul\x00 del\x7f", "bell\\x07 nul\\x00 del\\x7f"),
        ("c1 csi\x9b2J", "c1 csi\\x9b2J"),
        ("\u202etxt.exe", "\\u202etxt.exe"),
    ],
)
def test_printable_drops_escape_sequences_and_shows_other_controls(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_json_escapes_every_control_and_round_trips() -> None:
    raw = "t\x1b[2J\x9b\u202e"
    text = json_text({"topic": raw})
    assert text.isascii() and "\x1b" not in text
    assert json.loads(text) == {"topic": raw}
