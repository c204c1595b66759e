"""A meeting as the held-leftovers tests find it: run again (generation 1) after its first plan's two parts were
submitted, generation 0's jobs finished since, the parts still in S3."""

from __future__ import annotations

from pathlib import Path

from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key, mix_tag
from zoomsymbl_submitter.meetings import MeetingStore

from tests.submitter.support import audio_mixed


async def held_meeting(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path, index: int, *, noted: bool = True
) -> tuple[str, str]:
    """Meeting ``index``, its parts kept for generation 0's jobs noted as its cleanup notes them unless not
    ``noted``; the prefix of its objects, and its current mix (the page plays it, generation 1's job reads it)."""
    uuid = f"uuid/{index}=="
    prefix = f"mixed/acme/{meeting_key(uuid)}."
    current = f"{prefix}{mix_tag(f'hash-{index}b', 1)}.flac"
    parts = [f"{prefix}{mix_tag(f'hash-{index}a', 0)}.cut-0123456789ab.part{n}.flac" for n in (1, 2)]
    audio = tmp_path / "audio.flac"
    audio.write_bytes(b"fLaC audio")
    for key in (current, *parts):
        await store.put_file(key, str(audio))
    page = {"bucket": infra.s3_bucket, "key": current, "size": 10}
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": uuid, "generation": 1,
                                         "stage": "submitted", "objects": {"mixed": page}})  # fmt: skip
    reads = [(0, key, "completed") for key in parts] + [(1, current, "scheduled")]
    await mongo.db[JOBS].insert_many([
        {"_id": f"{uuid}|{generation}|{key}", "tenant": "acme", "meeting_uuid": uuid, "generation": generation,
         "input_hash": f"hash-{index}{'ab'[generation]}", "object_key": key, "status": status}
        for generation, key, status in reads
    ])  # fmt: skip
    if noted:
        event = audio_mixed(index, infra, current, 10, meeting_uuid=uuid, generation=1, input_hash=f"hash-{index}b")
        assert await MeetingStore(mongo).record_held(event, parts)
    return prefix, current


async def objects(store: ObjectStore, prefix: str) -> set[str]:
    """The keys of the meeting's objects."""
    return {name for name, _ in await listed(store, prefix)}
