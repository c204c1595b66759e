from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.storage_keys import meeting_key, meeting_uuid_from_key


@given(st.text(min_size=1, max_size=80).filter(lambda uuid: len(uuid.encode()) <= 150))
def test_meeting_key_is_reversible(uuid: str) -> None:
    """Reversible while the base64 fits a segment (150 UTF-8 bytes); longer UUIDs get a one-way digest."""
    assert meeting_uuid_from_key(meeting_key(uuid)) == uuid


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_meeting_key_is_collision_free(a: str, b: str) -> None:
    assert (meeting_key(a) == meeting_key(b)) == (a == b)


def test_meeting_key_is_path_safe_for_zoom_uuids() -> None:
    for uuid in ("/ajXp112QmuoKj4854875==", "abc//def==", "a+b/c=="):
        key = meeting_key(uuid)
        assert "/" not in key and "+" not in key and "=" not in key and ".." not in key
