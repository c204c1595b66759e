"""The erasure log and ``zoomsymbl erasures``: every erasure is also an object in S3, so a MongoDB restored from a
backup older than it (or rebuilt empty) gets its tombstones back and what came back erased again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.at_once import READS_AT_ONCE
from zoomsymbl_common.ops.forget_log import LOG_PREFIX, log_key, parse_entry, read_log
from zoomsymbl_common.records import TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.common.forget_seed import seed_meeting
from tests.common.test_ops_cli import zoomsymbl
from tests.common.test_ops_forget import env_for, report, tenants_file

pytestmark = [pytest.mark.integration]

UUID = "erased/and+restored=="
NOWHERE = "http://127.0.0.1:9"
DAY_ONE = datetime(2026, 1, 1, tzinfo=UTC)


def states(data: dict[str, Any]) -> dict[str, str]:
    return {item["meeting_uuid"]: item["state"] for item in data["items"]}


async def forgotten_ahead(infra: InfraSettings, tmp_path: Path) -> dict[str, str]:
    """The command's environment, after ``forget --ahead --yes`` of :data:`UUID` (a tombstone and its entry)."""
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE))
    ahead = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--ahead", env=env)
    assert ahead.code == 0, ahead.err
    return env


async def put(store: ObjectStore, key: str, body: bytes) -> None:
    async def chunks() -> Any:
        yield body

    await store.put_stream(key, chunks())


async def test_a_restore_older_than_an_erasure_is_made_whole_again(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE))
    await seed_meeting(mongo, store, "acme", UUID)
    erased = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--force", env=env)
    assert erased.code == 0, erased.err
    [entry], malformed = await read_log(store)
    first = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert first is not None and malformed == []
    assert (entry.tenant, entry.meeting_uuid) == ("acme", UUID)
    assert abs((entry.forgotten_at - first["forgotten_at"]).total_seconds()) < 0.01
    body = b"".join([chunk async for chunk in store.get_stream(log_key("acme", UUID, entry.forgotten_at))])
    assert set(json.loads(body)) == {"tenant", "meeting_uuid", "forgotten_at"}, "nothing of the meeting's content"

    whole = await zoomsymbl("erasures", "--json", env=env)
    assert whole.code == 0 and whole.err == "", whole.err
    assert states(report(whole)) == {UUID: "in place"}

    # A backup from before the erasure is restored: the meeting's documents and objects, no tombstone.
    await mongo.db[TOMBSTONES].delete_many({})
    restored = await seed_meeting(mongo, store, "acme", UUID)
    dry = await zoomsymbl("erasures", "--json", env=env)
    assert dry.code == 0 and "1 erasure(s) to make whole: run again with --yes" in dry.err
    [item] = report(dry)["items"]
    assert item["state"] == "tombstone missing" and item["stored"] > 0
    assert all(n > 0 for n in (await restored.counts(mongo)).values()), "a dry run changes nothing"

    fixed = await zoomsymbl("erasures", "--yes", "--json", env=env)
    assert fixed.code == 0, fixed.err
    [item] = report(fixed)["items"]
    assert (item["done"], item["stored"]) == ("erased again", 0)
    assert all(n == 0 for n in (await restored.counts(mongo)).values()) and await restored.objects(store) == 0
    back = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert back is not None and back["forgotten_at"] == first["forgotten_at"], "its first date, not the repair's"
    assert states(report(await zoomsymbl("erasures", "--json", env=env))) == {UUID: "in place"}


async def test_tombstones_older_than_the_log_are_logged_and_stray_objects_reported(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    env = await forgotten_ahead(infra, tmp_path)
    [entry] = (await read_log(store))[0]
    assert entry.meeting_uuid == UUID, "a tombstone ahead is logged too"
    await store.remove(log_key("acme", UUID, entry.forgotten_at))  # as a tombstone written before the log existed
    await put(store, f"{LOG_PREFIX}acme/not-an-entry.json", b"{not json")
    await put(
        store,
        log_key("beta", "other==", entry.forgotten_at),
        json.dumps({"tenant": "acme", "meeting_uuid": UUID, "forgotten_at": "2026-01-01T00:00:00+00:00"}).encode(),
    )

    listed = await zoomsymbl("erasures", "--json", env=env)
    assert listed.code == 1, "unreadable entries are a failure to look at"
    data = report(listed)
    assert states(data) == {UUID: "not logged"}
    assert sorted(data["malformed"]) == sorted(
        [f"{LOG_PREFIX}acme/not-an-entry.json", log_key("beta", "other==", entry.forgotten_at)]
    )
    assert "unreadable" in listed.err and "run again with --yes" in listed.err

    await store.remove(f"{LOG_PREFIX}acme/not-an-entry.json")
    await store.remove(log_key("beta", "other==", entry.forgotten_at))
    logged = await zoomsymbl("erasures", "--tenant", "acme", "--yes", "--json", env=env)
    assert logged.code == 0, logged.err
    assert report(logged)["items"][0]["done"] == "logged"
    assert [e.meeting_uuid for e in (await read_log(store, "acme"))[0]] == [UUID]
    assert states(report(await zoomsymbl("erasures", "--json", env=env))) == {UUID: "in place"}


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"\xff",
        b"[]",
        b'{"tenant": "Acme!", "meeting_uuid": "m", "forgotten_at": "2026-01-01T00:00:00+00:00"}',
        b'{"tenant": "acme", "meeting_uuid": "m", "forgotten_at": "2026-01-01T00:00:00"}',  # no zone
        b'{"tenant": "acme", "meeting_uuid": "", "forgotten_at": "2026-01-01T00:00:00+00:00"}',
    ],
)
def test_an_object_that_is_not_an_entry_is_refused(body: bytes | None) -> None:
    assert parse_entry(log_key("acme", "m", DAY_ONE), body) is None


def test_an_entry_is_read_only_under_its_own_key() -> None:
    body = b'{"tenant": "acme", "meeting_uuid": "m", "forgotten_at": "2026-01-01T00:00:00+00:00"}'
    assert parse_entry(log_key("acme", "m", DAY_ONE), body) is not None
    assert parse_entry(log_key("acme", "n", DAY_ONE), body) is None
    assert parse_entry(log_key("acme", "m", DAY_ONE + timedelta(days=1)), body) is None, "under another day"


async def test_a_bucket_nothing_was_ever_erased_in_has_an_empty_log(infra: InfraSettings) -> None:
    fresh = ObjectStore(infra.model_copy(update={"s3_bucket": f"{infra.s3_bucket}-never"}))
    assert await read_log(fresh) == ([], [])


async def test_since_takes_only_the_erasures_of_that_day_or_later(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    env = await forgotten_ahead(infra, tmp_path)
    await put(store, f"{LOG_PREFIX}acme/2020-01-01/stray.json", b"{not json")  # an older day: not read with --since
    today = datetime.now(UTC)
    recent = await zoomsymbl("erasures", "--since", (today - timedelta(days=1)).isoformat(), "--json", env=env)
    assert recent.code == 0, recent.err
    assert states(report(recent)) == {UUID: "in place"} and report(recent)["malformed"] == []
    later = await zoomsymbl("erasures", "--since", (today + timedelta(days=1)).isoformat(), "--json", env=env)
    assert later.code == 0 and report(later)["items"] == []
    everything = await zoomsymbl("erasures", "--json", env=env)
    assert everything.code == 1 and report(everything)["malformed"] == [f"{LOG_PREFIX}acme/2020-01-01/stray.json"]


async def test_many_erasures_are_surveyed_and_read_back_in_their_order(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """More erasures than the command surveys at once (READS_AT_ONCE): listed, logged and read back oldest first."""
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE))
    count = 2 * READS_AT_ONCE + 3
    # Written newest first, so the order the command gives is its own, not the collection's.
    meetings = [(f"many-{index:02d}==", DAY_ONE + timedelta(hours=index)) for index in range(count)]
    await mongo.db[TOMBSTONES].insert_many(
        [{"tenant": "acme", "meeting_uuid": uuid, "forgotten_at": when} for uuid, when in reversed(meetings)]
    )

    listed = await zoomsymbl("erasures", "--json", env=env)
    assert listed.code == 0, listed.err
    assert [(item["meeting_uuid"], item["state"]) for item in report(listed)["items"]] == [
        (uuid, "not logged") for uuid, _ in meetings
    ]
    logged = await zoomsymbl("erasures", "--yes", "--json", env=env)
    assert logged.code == 0, logged.err
    assert [item.get("done") for item in report(logged)["items"]] == ["logged"] * count
    entries, malformed = await read_log(store, "acme")
    assert malformed == []
    assert [(entry.meeting_uuid, entry.forgotten_at) for entry in entries] == meetings
    again = await zoomsymbl("erasures", "--json", env=env)
    assert set(states(report(again)).values()) == {"in place"}
