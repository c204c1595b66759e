"""The longest file ids and meeting UUIDs the events accept must still make storable S3 keys (found by hostile input).

``RecordingFile.file_id`` and ``Event.meeting_uuid`` allow 256 characters. ``raw_key`` base64-encodes
an id that is not plain (or longer than 200 characters) and ``meeting_key`` base64-encodes every
UUID, so such ids become one key segment of up to 344 characters. S3 servers on a file system (the
local versitygw, MinIO) refuse a segment above 255 bytes with ``KeyTooLongError``; the mixer then
sees an "unexpected S3Error", retries it as if it were transient, and fails the meeting only when
its retry budget is spent (observed: "gave up after 30 attempts: unexpected S3Error in the mixer").
Real Zoom ids are far shorter, so only a forged or future payload hits this; the tests stay
``xfail(strict=True)`` until the key scheme bounds its segments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from minio.error import S3Error
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.tracks import raw_key

pytestmark = pytest.mark.integration
LONGEST = 256  # max_length of RecordingFile.file_id and Event.meeting_uuid
KNOWN_BUG = (
    "mixer tracks.raw_key / common storage.meeting_key: base64 of a 256-character id is a 344-character key "
    "segment; S3 servers on a file system refuse segments over 255 bytes (KeyTooLongError), and the mixer "
    "retries that S3Error as transient until its budget is spent"
)


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"audio"


@pytest.mark.xfail(strict=True, raises=S3Error, reason=KNOWN_BUG)
@pytest.mark.parametrize(
    ("meeting_uuid", "file_id"),
    [("short==", "\u202e" + "x" * 200), ("short==", "f" * LONGEST), ("u" * LONGEST, "f1")],
    ids=["odd 201-char file id", "plain 256-char file id", "256-char meeting uuid"],
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
