"""Printing what came from outside (Zoom topics, e-mail addresses, provider messages) safely.

A meeting topic is chosen by whoever scheduled the meeting; printed raw, ``\\x1b[2J`` clears the
operator's screen and ``\\x1b]8;;https://evil/\\x07`` turns the next text into a hidden link.
Human output therefore drops every terminal escape sequence and shows every other control
character as a visible escape (``\\x07``, ``\\n``, ``\\u202e``); ``--json`` output escapes them
the JSON way (``\\u001b``), as :func:`json_text` does. A stored reason (a provider's error text) may be a
thousand characters: :func:`shortened` keeps the start of it for one line on a terminal.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

# ESC followed by: CSI "[" params final; OSC "]" / DCS "P" / SOS "X" / PM "^" / APC "_" up to BEL or ST
# (or the end of the text, for an unterminated one); or one character (ESC c, ESC 7, ...).
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|\Z)"
    r"|\x1b[ -~]?",
    re.DOTALL,
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Bidirectional overrides and isolates reorder what follows them on screen ("Trojan source"); the line and
# paragraph separators break a line where a reader (a pager, a log viewer) takes them for a new line.
_BIDI = frozenset(
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029)
)


def _visible(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if char in _BIDI:
        return f"\\u{code:04x}"
    return char


def printable(value: object) -> str:
    """``value`` as text that cannot drive a terminal: escape sequences dropped, other controls made visible."""
    text = _ESCAPE_SEQUENCE.sub("", str(value))
    return "".join(_visible(c) for c in text)


def shortened(value: object, limit: int) -> str:
    """:func:`printable` ``value`` in at most ``limit`` characters, then ``... (N more characters)`` when it is longer.

    Cut between characters of the text, never inside a visible escape (``\\x07`` stays whole); ``N`` counts what is
    left of the text once its terminal escape sequences are dropped.
    """
    text = _ESCAPE_SEQUENCE.sub("", str(value))
    shown: list[str] = []
    width = 0
    for index, char in enumerate(text):
        visible = _visible(char)
        if width + len(visible) > limit:
            return "".join(shown) + f"... ({len(text) - index} more characters)"
        shown.append(visible)
        width += len(visible)
    return "".join(shown)


def json_ready(value: Any) -> Any:
    """``value`` with datetimes as ISO strings, bytes as their length, NaN and infinities as None (JSON has none of
    them: ``NaN`` would break ``jq``) and other objects as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def json_text(value: Any) -> str:
    """One JSON document; every control and non-ASCII character escaped (``\\u001b``), so it is safe on a terminal."""
    return json.dumps(json_ready(value), ensure_ascii=True, sort_keys=False)


def moment_text(moment: datetime | float | None) -> str:
    """A stored time as ISO 8601 to the second (``-`` when absent); a float is Unix seconds as a limiter slot stores
    them, ``?`` when it is no time (NaN, ±inf, past the year 9999)."""
    if moment is None:
        return "-"
    if isinstance(moment, float):
        try:  # Unix seconds as stored (a limiter slot's): NaN, ±inf or years past 9999 read as nothing
            return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")
        except (ValueError, OverflowError, OSError):
            return "?"
    return moment.isoformat(timespec="seconds")
