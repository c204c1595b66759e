"""``zoomsymbl forget`` and a multipart upload of the meeting never completed: the mixer uploads a long participant
track in parts (zoomsymbl_mixer.multipart), and a mixer killed mid-upload (OOM, a node lost) leaves the parts it
sent, the participant's audio, stored in S3 under the meeting's raw prefix without any object listing showing them.
Forget counts such an upload and aborts it, which deletes its parts (S3 AbortMultipartUpload)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import forget_uploads
from zoomsymbl_common.ops.forget_objects import delete, meeting_prefixes
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.common.forget_seed import seed_meeting
from tests.common.test_ops_cli import zoomsymbl
from tests.common.test_ops_forget import env_for, report
from tests.common.test_ops_retention import tenants_file

pytestmark = pytest.mark.integration
PART = 5 * 1024 * 1024  # S3's smallest part but the last


async def _abandoned_upload(store: ObjectStore, key: str) -> None:
    """A multipart upload of ``key`` with one part sent, then nothing: its uploader was killed."""

    def start() -> None:
        upload_id = store.client._create_multipart_upload(store.bucket, key, {"Content-Type": "audio/mp4"})
        store.client._upload_part(store.bucket, key, b"\0" * PART, None, upload_id, 1)

    await asyncio.to_thread(start)


async def _uploads(store: ObjectStore, prefix: str) -> list[str]:
    found = await asyncio.to_thread(store.client._list_multipart_uploads, store.bucket, prefix=prefix, max_uploads=100)
    return [upload.object_name for upload in found.uploads]


async def test_forget_aborts_an_unfinished_multipart_upload_of_the_meeting(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    await seed_meeting(mongo, store, "acme", "m1==")
    await seed_meeting(mongo, store, "acme", "m2==")
    raw = meeting_prefixes("acme", "m1==")[0]
    other = meeting_prefixes("acme", "m2==")[0]
    await _abandoned_upload(store, f"{raw}track-9.m4a")
    await _abandoned_upload(store, f"{other}track-9.m4a")
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))

    dry = report(await zoomsymbl("forget", "--tenant", "acme", "--meeting", "m1==", "--json", env=env))
    before = {entry["prefix"]: entry["objects"] for entry in dry["objects"] if entry["bucket"] == store.bucket}
    ran = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "m1==", "--yes", "--json", env=env)

    assert ran.code == 0, ran.err
    assert await _uploads(store, raw) == [], "the parts of the participant's track are still stored"
    assert await _uploads(store, other) == [f"{other}track-9.m4a"], "another meeting's upload is left alone"
    erased = report(ran)
    assert erased["deleted"]["objects"] == sum(before.values())
    assert before[raw] >= 1 + 1, "the dry run counts the unfinished upload with the raw prefix's objects"


async def test_a_page_ending_inside_one_keys_uploads_never_leaves_one_behind_silently(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of the real server's listing ends inside one key's uploads (a mixer killed three times uploading one
    track). Listed on from the upload the page names, every upload is aborted. versitygw 1.7.0 refuses its own
    markers there (it looks for the upload-id-marker among the uploads of the key after key-marker): the erase then
    stops on that refusal, nothing aborted, rather than reporting success with an upload left behind."""
    monkeypatch.setattr(forget_uploads, "UPLOAD_PAGE", 2)
    raw = meeting_prefixes("acme", "m1==")[0]

    def start(key: str) -> None:
        store.client._create_multipart_upload(store.bucket, key, {"Content-Type": "audio/mp4"})

    for key in (f"{raw}track-1.m4a",) * 3 + (f"{raw}track-2.m4a",):
        await asyncio.to_thread(start, key)

    try:
        outcome: int | ObjectRejected = await delete(store, raw)
    except ObjectRejected as refused:
        outcome = refused
    left = await _uploads(store, raw)

    if isinstance(outcome, ObjectRejected):
        assert (outcome.code, len(left)) == ("InvalidArgument", 4), "a refused listing aborts nothing"
    else:
        assert (outcome, left) == (4, []), "an upload of the key the first page ended inside is still stored"
