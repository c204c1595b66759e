"""``zoomsymbl retention`` against the real local MongoDB and S3 with the provider sandboxes, run as an operator (or
the chart's CronJob) runs it: a separate process reading the tenants file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import forget as forget_module
from zoomsymbl_common.ops.command import EXIT_USAGE
from zoomsymbl_common.ops.forget_log import read_log
from zoomsymbl_common.ops.retention import sweep
from zoomsymbl_common.ops.retention_command import _problems
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, RECEIPTS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.common.forget_seed import Seeded, seed_meeting
from tests.common.test_ops_cli import zoomsymbl
from tests.common.test_ops_forget import AAI_KEY, env_for, provider_copies, report
from tests.support.providers import ProviderSandboxes, url

pytestmark = pytest.mark.integration
DAYS = 30


def tenants_file(path: Path, assemblyai: str, symbl: str) -> Path:
    """acme keeps meetings 30 days; beta for ever."""
    tenant = {
        "zoom_webhook_secret": "webhook-secret", "assemblyai_api_key": AAI_KEY, "assemblyai_api_base": assemblyai,
        "symbl_app_id": "sandbox-app-id", "symbl_app_secret": "sandbox-app-secret", "symbl_api_base": symbl,
    }  # fmt: skip
    tenants = [{"id": "acme", "retention_days": DAYS, **tenant}, {"id": "beta", **tenant}]
    path.write_text(json.dumps({"tenants": tenants}), encoding="utf-8")
    return path


async def aged(mongo: Mongo, seeded: Seeded, days: float) -> Seeded:
    """The meeting's document created ``days`` ago."""
    key = {"tenant": seeded.tenant, "meeting_uuid": seeded.meeting_uuid}
    await mongo.db[MEETINGS].update_one(key, {"$set": {"created_at": utcnow() - timedelta(days=days)}})
    return seeded


async def flagged(mongo: Mongo, tenant: str, key: str, days: float) -> None:
    """A record reconciliation wrote ``days`` ago for a call it never received (its parties' names in it)."""
    await mongo.db[CONVERSATIONS].insert_one({
        "tenant": tenant, "meeting_uuid": key, "source_platform": "Zoom Phone", "recording_failed": True,
        "reconciled_at": utcnow() - timedelta(days=days), "participants": [{"name": "Jane Doe"}],
    })  # fmt: skip


async def stored(mongo: Mongo, store: ObjectStore, seeded: Seeded) -> bool:
    return all(n > 0 for n in (await seeded.counts(mongo)).values()) and await seeded.objects(store) == len(seeded.keys)


def by_tenant(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["tenant"]: entry for entry in data["tenants"]}


async def test_expired_meetings_are_erased_as_forget_erases_them_and_nothing_else(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, sandboxes: ProviderSandboxes,
    receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path,
) -> None:  # fmt: skip
    aai, symbl, jobs = await provider_copies(sandboxes, receiver, tone_audio)
    old = await aged(mongo, await seed_meeting(mongo, store, "acme", "old==", tuple(jobs[:1])), DAYS + 10)
    recent = await aged(mongo, await seed_meeting(mongo, store, "acme", "recent=="), DAYS - 1)
    busy = await aged(mongo, await seed_meeting(mongo, store, "acme", "busy==", stage="submitted"), DAYS + 20)
    kept = await aged(mongo, await seed_meeting(mongo, store, "beta", "old=="), DAYS + 400)
    await flagged(mongo, "acme", "phone-call:c1", DAYS + 3)
    await flagged(mongo, "acme", "phone-call:c2", 2)
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", url(aai), url(symbl)))

    dry = await zoomsymbl("retention", "--json", env=env)
    assert dry.code == 0, dry.err
    listed = by_tenant(report(dry))
    assert listed["acme"]["meetings"] == ["busy==", "old==", "phone-call:c1"], "oldest first"
    assert (listed["acme"]["expired"], listed["acme"]["erased"], listed["acme"]["in_flight"]) == (3, 0, ["busy=="])
    assert (listed["beta"]["retention_days"], listed["beta"]["expired"]) == (None, 0)
    assert await stored(mongo, store, old), "a dry run deletes nothing"
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0

    ran = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert ran.code == 0, ran.err
    acme = by_tenant(report(ran))["acme"]
    assert (acme["expired"], acme["erased"], acme["in_flight"]) == (3, 2, ["busy=="])
    assert all(n == 0 for n in (await old.counts(mongo)).values()) and await old.objects(store) == 0
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c1"}) == 0
    forgotten = {d["meeting_uuid"] async for d in mongo.db[TOMBSTONES].find({"tenant": "acme"})}
    assert forgotten == {"old==", "phone-call:c1"}
    logged, _ = await read_log(store, "acme")
    assert {entry.meeting_uuid for entry in logged} == forgotten, "each erasure is in the log too (zoomsymbl erasures)"
    for seeded in (recent, busy, kept):
        assert await stored(mongo, store, seeded), (seeded.tenant, seeded.meeting_uuid)
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:c2"}) == 1
    async with aiohttp.ClientSession() as http:
        transcript_url = aai.make_url(f"/v2/transcript/{jobs[0].copy_id}")
        async with http.get(transcript_url, headers={"authorization": AAI_KEY}) as answer:
            assert (await answer.json())["text"] == "Deleted by user.", "the provider's copy is deleted too"
    assert "Jane Doe" not in ran.out + ran.err and AAI_KEY not in ran.out + ran.err

    again = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert again.code == 0, again.err
    assert (by_tenant(report(again))["acme"]["expired"], by_tenant(report(again))["acme"]["erased"]) == (1, 0)

    text = await zoomsymbl("retention", env=env)
    assert text.code == 0, text.err
    assert "acme: 1 expired" in text.out and "1 in flight, kept" in text.out
    assert "beta: no retention_days, every meeting kept" in text.out


async def test_a_run_erases_at_most_its_limit_oldest_first(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    for n, days in enumerate((90, 60, 45)):
        await aged(mongo, await seed_meeting(mongo, store, "acme", f"m{n}=="), days)
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))

    ran = await zoomsymbl("retention", "--tenant", "acme", "--yes", "--limit", "2", "--json", env=env)
    assert ran.code == 0, ran.err
    acme = by_tenant(report(ran))["acme"]
    assert (acme["meetings"], acme["erased"], acme["left_for_next_run"]) == (["m0==", "m1=="], 2, 1)
    assert await mongo.db[MEETINGS].distinct("meeting_uuid", {"tenant": "acme"}) == ["m2=="]


async def test_meetings_kept_in_flight_do_not_use_up_the_limit(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """Before, the oldest ``limit`` expired meetings were taken before the ones in flight were set aside: as many
    meetings stuck in flight as the limit, and every daily run erased nothing, exit 0, for ever."""
    await aged(mongo, await seed_meeting(mongo, store, "acme", "busy==", stage="submitted"), DAYS + 20)
    old = await aged(mongo, await seed_meeting(mongo, store, "acme", "old=="), DAYS + 10)
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))

    ran = await zoomsymbl("retention", "--tenant", "acme", "--yes", "--limit", "1", "--json", env=env)

    assert ran.code == 0, ran.err
    acme = by_tenant(report(ran))["acme"]
    assert (acme["meetings"], acme["in_flight"], acme["erased"]) == (["busy==", "old=="], ["busy=="], 1)
    assert acme["left_for_next_run"] == 0
    assert all(n == 0 for n in (await old.counts(mongo)).values())


async def test_a_meeting_written_to_during_its_erase_is_reported_not_counted_done(
    mongo: Mongo, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook's retry while retention erased the meeting (ingest writes its receipt without reading tombstones):
    before, the run counted the meeting erased and exited 0, and the new receipt stayed unnoticed."""
    await aged(mongo, await seed_meeting(mongo, store, "acme", "old=="), DAYS + 10)
    erase = forget_module.erase

    async def and_a_retry_meanwhile(*args: Any) -> tuple[int, int]:
        erased = await erase(*args)
        await mongo.db[RECEIPTS].insert_one({"_id": "retry.published", "tenant": "acme", "meeting_uuid": "old=="})
        return erased

    monkeypatch.setattr(forget_module, "erase", and_a_retry_meanwhile)
    acme = TenantConfig.model_validate({"id": "acme", "zoom_webhook_secret": "s", "retention_days": DAYS})

    done = await sweep(mongo, lambda _: [store], acme, utcnow(), limit=10, erase=True)

    assert (done.erased, done.stored_again) == (1, {"old==": 1})
    problem = _problems([done], erase=True)
    assert problem is not None and "zoomsymbl erasures --yes" in problem
    assert done.as_json()["stored_again"] == [{"meeting_uuid": "old==", "stored": 1}]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--limit", "0"), "--limit must be between"),
        (("--tenant", "nobody"), "tenant 'nobody' is not configured"),
        (("--tenant", "../x"), "--tenant is not a tenant id"),
    ],
)
async def test_an_impossible_request_is_refused(
    infra: InfraSettings, tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    ran = await zoomsymbl("retention", *args, env=env)
    assert ran.code == EXIT_USAGE and said in ran.err, ran.err
