"""A cut whose largest part is still too large is deleted before the file is cut again: no plan names it, no job
reads it, and nothing else would delete it when the meeting never completes its submission."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter import parts as parts_module
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.parts import PartPlanner, SplitSettings

from tests.submitter.test_parts import FLAC, Plans, limits, noise_file, upload

pytestmark = pytest.mark.integration


async def test_a_cut_again_leaves_only_the_plans_parts_next_to_the_mixed_file(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path
) -> None:
    # Noise for 8 s, then 12 s of silence: the first of two equal parts holds nearly every byte of the FLAC.
    source = await noise_file(tmp_path / "m.flac", 2, 8.0, FLAC)
    event = await upload(store, infra, source, "mixed/acme/dense.flac", "flac", 2)
    limit = int(event.size_bytes * 0.7)
    planner = PartPlanner(AudioSource(infra), (Plans().load, Plans().save), SplitSettings(search_seconds=0.5))

    parts = await planner.parts(event, limits(upload=limit, url=limit))

    assert len(parts) > 2, "cut again: the first cut's first part was too large"
    assert sorted(await store.keys("mixed/acme/dense.")) == sorted([event.object_key, *(p.object_key for p in parts)])


async def test_a_file_that_cannot_be_cut_within_the_limit_leaves_no_part_behind(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts_module, "SPLIT_ROUNDS", 1)  # one cut, too large: the meeting fails at ``split``
    source = await noise_file(tmp_path / "m.flac", 2, 8.0, FLAC)
    event = await upload(store, infra, source, "mixed/acme/uncuttable.flac", "flac", 2)
    limit = int(event.size_bytes * 0.7)
    planner = PartPlanner(AudioSource(infra), (Plans().load, Plans().save), SplitSettings(search_seconds=0.5))

    with pytest.raises(PoisonInputError) as raised:
        await planner.parts(event, limits(upload=limit, url=limit))

    assert raised.value.stage == "split"
    assert await store.keys("mixed/acme/uncuttable.") == [event.object_key], "the mixed file only: no part left"
