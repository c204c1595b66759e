"""The audio route's range parsing and content types (RFC 9110 §14: one range, or the whole object)."""

from __future__ import annotations

import pytest
from zoomsymbl_web.audio import RangeNotSatisfiable, byte_range, content_type


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        (None, None),
        ("", None),
        ("bytes=0-", (0, 999)),
        ("bytes=100-199", (100, 199)),
        ("bytes=900-5000", (900, 999)),  # clipped to the object
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("Bytes = 5-6", (5, 6)),
        ("bytes=0-1,5-6", None),  # several ranges: served whole
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=-", None),
        ("bytes=9-3", None),
        ("bytes=1" + "0" * 30 + "-", None),  # absurdly long numbers are not parsed
        ("bytes=\u00b2-", None),  # a digit to str.isdigit, not to int(): was a 500
        ("bytes=\u0661\u0662-", None),  # Arabic-Indic digits: was read as bytes 12-
    ],
)
def test_a_range_header_names_one_inclusive_range_or_the_whole_object(
    header: str | None, wanted: tuple[int, int] | None
) -> None:
    assert byte_range(header, 1000) == wanted


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable, match=r"bytes \*/1000"):
        byte_range(header, 1000)


def test_content_types_follow_the_mixed_files_extension() -> None:
    assert content_type("mixed/acme/x.flac") == "audio/flac"
    assert content_type("mixed/acme/x.OPUS") == "audio/ogg"
    assert content_type("mixed/acme/x") == "application/octet-stream"
