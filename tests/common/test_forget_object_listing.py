"""The plain object listing ``forget`` deletes by (an unversioned bucket): its answer may not reach past the meeting.

The versioned listing and the upload listing skip an entry outside the meeting's prefix
(``test_forget_version_listing.py``, ``test_forget_upload_listing.py``); the plain one took minio's answer as it
came, so a storage server or proxy that ignored ``prefix`` had ``forget`` delete every tenant's objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from zoomsymbl_common.ops.forget_objects import delete, listed, meeting_prefixes
from zoomsymbl_common.storage import ObjectStore

pytestmark = pytest.mark.integration


async def test_an_entry_outside_the_meetings_prefix_is_neither_counted_nor_deleted(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _ = meeting_prefixes("acme", "m1")
    ours, theirs = raw + "track.m4a", "raw/beta/b3RoZXI/track.m4a"
    for key in (ours, theirs):

        async def body() -> AsyncIterator[bytes]:
            yield b"audio"

        await store.put_stream(key, body(), content_type="audio/mp4")
    list_objects = store.client.list_objects

    def prefix_ignored(bucket: str, prefix: str | None = None, recursive: bool = False, **kwargs: Any) -> Any:
        return list_objects(bucket, prefix="", recursive=True, **kwargs)

    monkeypatch.setattr(store.client, "list_objects", prefix_ignored)
    assert [key for key, _ in await listed(store, raw)] == [ours]
    assert await delete(store, raw) == 1
    monkeypatch.undo()

    assert [item.object_name for item in list_objects(store.bucket, recursive=True)] == [theirs]
