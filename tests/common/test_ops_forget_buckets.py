"""A bucket name stored in MongoDB that no S3 bucket can have, in ``zoomsymbl forget`` and ``zoomsymbl retention``.

The name comes from the meeting's documents (its mixed file's ``objects.mixed.bucket``, a job's ``bucket``). minio-py
refuses some such names with a ``ValueError`` before any request, the storage server refuses others
(``InvalidBucketName``): either ended the command with a traceback, and ``retention`` stopped at that meeting, every
expired meeting after it left for ever. Now that meeting is reported with the reason and left whole (objects of it
may be in that bucket: nothing names them once its documents are gone), and the run goes on: exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.command import EXIT_FAILED
from zoomsymbl_common.records import JOBS, MEETINGS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.common.forget_seed import Seeded, seed_meeting
from tests.common.test_ops_cli import assert_one_clear_line, zoomsymbl
from tests.common.test_ops_forget import env_for, report
from tests.common.test_ops_retention import DAYS, aged, by_tenant, stored
from tests.common.test_ops_retention import tenants_file as retention_tenants

pytestmark = pytest.mark.integration
# Refused by minio-py before any request (capitals, spaces), with a terminal escape in it for good measure.
CLIENT_REFUSED = "Recordings \x1b[2J2024"
# Accepted by minio-py, refused by the storage server (an underscore): InvalidBucketName.
SERVER_REFUSED = "recordings_2024"
NOWHERE = "http://127.0.0.1:9"


async def _tombstones(mongo: Mongo, seeded: Seeded) -> int:
    return int(
        await mongo.db[TOMBSTONES].count_documents({"tenant": seeded.tenant, "meeting_uuid": seeded.meeting_uuid})
    )


async def test_forget_of_a_meeting_naming_a_bucket_no_s3_has_is_exit_1_and_deletes_nothing(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    seeded = await seed_meeting(mongo, store, "acme", "bad==")
    key = {"tenant": "acme", "meeting_uuid": "bad=="}
    await mongo.db[MEETINGS].update_one(key, {"$set": {"objects.mixed.bucket": CLIENT_REFUSED}})
    env = env_for(infra, retention_tenants(tmp_path / "tenants.json", NOWHERE, NOWHERE))

    for args in ((), ("--yes",)):
        ran = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "bad==", *args, "--json", env=env)
        assert ran.code == EXIT_FAILED, ran.err
        assert_one_clear_line(ran, "not erased, nothing deleted", "cannot be read", "invalid bucket name")
        data = report(ran)
        assert data["mode"] == ("failed" if args else "dry run")
        assert [entry["bucket"] for entry in data["unusable_buckets"]] == [CLIENT_REFUSED]
        assert "\x1b" not in ran.out + ran.err, "the stored name is shown, its escape sequence is not"
        assert await stored(mongo, store, seeded), "nothing of the meeting was deleted"
        assert await _tombstones(mongo, seeded) == 0, "no tombstone: nothing was erased"

    text = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "bad==", env=env)
    assert text.code == EXIT_FAILED
    assert "buckets that cannot be read: 1" in text.out and "Recordings 2024" in text.out, text.out


async def test_retention_leaves_that_meeting_whole_and_erases_the_others(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    bad = await aged(mongo, await seed_meeting(mongo, store, "acme", "bad=="), DAYS + 20)  # the oldest: first
    await mongo.db[JOBS].update_many({"tenant": "acme", "meeting_uuid": "bad=="}, {"$set": {"bucket": SERVER_REFUSED}})
    old = await aged(mongo, await seed_meeting(mongo, store, "acme", "old=="), DAYS + 10)
    env = env_for(infra, retention_tenants(tmp_path / "tenants.json", NOWHERE, NOWHERE))

    dry = await zoomsymbl("retention", "--json", env=env)
    assert dry.code == EXIT_FAILED, dry.err
    assert_one_clear_line(dry, "1 expired meeting(s) would not be erased")
    listed = by_tenant(report(dry))["acme"]
    assert [entry["meeting_uuid"] for entry in listed["failed"]] == ["bad=="]
    assert "InvalidBucketName" in listed["failed"][0]["reason"]

    ran = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert ran.code == EXIT_FAILED, ran.err
    assert_one_clear_line(ran, "1 expired meeting(s) not erased", "cannot be read")
    swept = by_tenant(report(ran))["acme"]
    assert (swept["expired"], swept["erased"]) == (2, 1)
    assert [entry["meeting_uuid"] for entry in swept["failed"]] == ["bad=="]
    assert await stored(mongo, store, bad) and await _tombstones(mongo, bad) == 0, "left whole"
    assert sum((await old.counts(mongo)).values()) == 0 and await old.objects(store) == 0, "the run went on"
    assert await _tombstones(mongo, old) == 1

    text = await zoomsymbl("retention", "--yes", env=env)
    assert text.code == EXIT_FAILED
    assert "1 not erased (a bucket cannot be read)" in text.out and "not erased: bad==: bucket" in text.out, text.out
