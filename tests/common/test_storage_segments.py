"""Key segments stay under the 255 bytes file-system S3 servers accept, for every id the events allow."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.storage_keys import MAX_SEGMENT, bounded_segment, meeting_key, meeting_uuid_from_key

LONGEST = 256  # max_length of Event.meeting_uuid
PATH_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
any_uuid = st.text(min_size=1, max_size=LONGEST)


def plain_b64(uuid: str) -> str:
    return base64.urlsafe_b64encode(uuid.encode()).decode().rstrip("=")


@given(any_uuid)
def test_every_meeting_key_fits_a_segment_and_is_path_safe(uuid: str) -> None:
    key = meeting_key(uuid)
    assert len(key.encode()) <= MAX_SEGMENT + 1 < 255
    assert PATH_SAFE.match(key)


def test_the_longest_uuids_of_four_byte_characters_fit() -> None:
    key = meeting_key("\U0001f3a7" * LONGEST)  # 1024 UTF-8 bytes, 1366 characters of base64
    assert len(key) == MAX_SEGMENT + 1


@given(st.text(min_size=1, max_size=LONGEST).filter(lambda uuid: len(plain_b64(uuid)) <= MAX_SEGMENT))
def test_uuids_that_fit_keep_their_base64_key(uuid: str) -> None:
    """Objects stored before segments were bounded keep their keys."""
    assert meeting_key(uuid) == plain_b64(uuid)
    assert meeting_uuid_from_key(meeting_key(uuid)) == uuid


def test_a_long_uuid_has_a_stable_readable_digest_key() -> None:
    """Pinned: a replay in another process (or release) must find the object the first run stored."""
    key = meeting_key("u" * LONGEST)
    prefix, digest = key.rsplit("-", 1)
    assert plain_b64("u" * LONGEST).startswith(prefix)
    assert digest == "599d6c365d3e3bb7d07292ad686e5ebcad34140f22bd2a502e404f6b43c03eda"
    with pytest.raises(ValueError, match="digest"):
        meeting_uuid_from_key(key)


@given(any_uuid, any_uuid)
def test_meeting_keys_stay_collision_free(a: str, b: str) -> None:
    assert (meeting_key(a) == meeting_key(b)) == (a == b)


def test_long_uuids_sharing_a_long_prefix_differ() -> None:
    base = "x" * 250
    keys = {meeting_key(base + tail) for tail in ("", "a", "b", "ab", "ba")}
    assert len(keys) == 5


def test_a_digest_segment_never_equals_a_segment_that_fits() -> None:
    fits = "A" * MAX_SEGMENT
    assert bounded_segment(fits) == fits
    assert len(bounded_segment(fits + "A")) == MAX_SEGMENT + 1
