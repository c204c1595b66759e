"""The longest file ids and meeting UUIDs the events accept must still make storable S3 keys (found by hostile input).

``RecordingFile.file_id`` and ``Event.meeting_uuid`` allow 256 characters. Base64 of such an id is a
key segment of up to 344 characters, and S3 servers on a file system (the local versitygw, MinIO)
refuse a segment above 255 bytes with ``KeyTooLongError``; the mixer used to retry that as if it were
transient until its budget was spent. ``meeting_key`` and ``raw_key`` now bound every segment (a
digest form above ``MAX_SEGMENT`` characters), and a refused key is poison, not a retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.tracks import raw_key

pytestmark = pytest.mark.integration
LONGEST = 256  # max_length of RecordingFile.file_id and Event.meeting_uuid


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"audio"


@pytest.mark.parametrize(
    ("meeting_uuid", "file_id"),
    [
        ("short==", "\u202e" + "x" * 200),
        ("short==", "f" * LONGEST),
        ("u" * LONGEST, "f1"),
        ("\U0001f3a7" * LONGEST, "\U0001f3a7" * LONGEST),
    ],
    ids=["odd 201-char file id", "plain 256-char file id", "256-char meeting uuid", "256 four-byte chars each"],
)
async def test_the_longest_ids_the_events_allow_can_be_stored(
    store: ObjectStore, meeting_uuid: str, file_id: str
) -> None:
    file = RecordingFile(file_id=file_id, download_url="https://zoom.us/rec/download/x", file_extension="M4A")
    key = raw_key("acme", meeting_uuid, file)
    assert await store.put_stream(key, one_chunk()) == len(b"audio")


async def test_ids_of_real_zoom_length_are_stored(store: ObjectStore) -> None:
    """The control: a Zoom-sized UUID and file id (with characters that need encoding) work."""
    file = RecordingFile(
        file_id="a1b2c3d4-e5f6-7890-abcd-ef0123456789", download_url="https://zoom.us/x", file_extension="M4A"
    )
    key = raw_key("acme", "4444AAAiAAAAAiAiAiiAii==/+", file)
    assert await store.put_stream(key, one_chunk()) == len(b"audio")
