"""``zoomsymbl retention``: a provider copy one run could not delete is deleted by the next run (docs/forget.md,
"Retention"), though the meeting's documents, which the expiry is read from, are gone by then."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.command import EXIT_FAILED
from zoomsymbl_common.records import TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.common.forget_seed import seed_meeting
from tests.common.test_ops_cli import closed_port, zoomsymbl
from tests.common.test_ops_forget import env_for, provider_copies, report
from tests.common.test_ops_retention import DAYS, aged, by_tenant, tenants_file
from tests.support.providers import ProviderSandboxes, url

pytestmark = pytest.mark.integration


async def test_a_provider_copy_left_by_one_run_is_deleted_by_the_next(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, sandboxes: ProviderSandboxes,
    receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path,
) -> None:  # fmt: skip
    aai, symbl, jobs = await provider_copies(sandboxes, receiver, tone_audio)
    old = await aged(mongo, await seed_meeting(mongo, store, "acme", "old==", tuple(jobs[:1])), DAYS + 10)
    tenants = tmp_path / "tenants.json"
    env = env_for(infra, tenants_file(tenants, f"http://127.0.0.1:{closed_port()}", url(symbl)))

    first = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert first.code == EXIT_FAILED, first.err
    assert by_tenant(report(first))["acme"]["provider_copies_left"] == [f"assemblyai {jobs[0].copy_id}"]
    assert all(n == 0 for n in (await old.counts(mongo)).values()), "the local erase happened anyway"
    left = {"provider": "assemblyai", "copy_id": jobs[0].copy_id}
    tombstone = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": "old=="})
    assert tombstone is not None and tombstone["provider_copies"] == [left]

    dry = await zoomsymbl("retention", "--json", env=env)
    assert dry.code == 0, dry.err
    assert by_tenant(report(dry))["acme"]["meetings"] == ["old=="], "the unfinished erase is listed"

    tenants_file(tenants, url(aai), url(symbl))  # the provider is back
    second = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert second.code == 0, second.err
    acme = by_tenant(report(second))["acme"]
    assert (acme["meetings"], acme["erased"], acme["provider_copies_left"]) == (["old=="], 1, [])
    tombstone = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": "old=="})
    assert tombstone is not None and tombstone["provider_copies"] == [], "the next run asked the provider again"

    third = await zoomsymbl("retention", "--yes", "--json", env=env)
    assert third.code == 0, third.err
    assert by_tenant(report(third))["acme"]["expired"] == 0, "a finished erase is not picked up again"
