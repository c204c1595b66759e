"""The encoder's settings are part of a mix's input hash: a replay after changing them mixes again, one without reuses.

Real MongoDB, S3, ffmpeg and the Zoom sandbox (``tests/mixer/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_mixer.mixing import mixed_object_key
from zoomsymbl_mixer.selection import input_hash, selections

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "changed",
    [{"opus_bitrate_per_channel": 24_000}, {"opus_complexity": 5}],
    ids=["bitrate", "complexity"],
)
async def test_a_changed_opus_setting_makes_a_new_mix_and_the_same_settings_reuse_it(
    rig: Rig, changed: dict[str, int]
) -> None:
    event = await rig.event(TYPICAL)
    first = await rig.mixer(output_format="opus").on_recording_completed(event)
    again = await rig.mixer(output_format="opus").on_recording_completed(event)
    assert again == first  # the same settings: the recorded mix, announced again

    other = await rig.mixer(output_format="opus", **changed).on_recording_completed(event)
    # Before: the same input hash, so the mix of the old settings was announced again and no new file made.
    assert other.input_hash != first.input_hash
    assert other.object_key != first.object_key and other.size_bytes != first.size_bytes
    assert await rig.store.size(other.object_key) == other.size_bytes


@pytest.mark.parametrize(("fmt", "mixed_again"), [("flac", False), ("opus", True)])
async def test_a_mix_recorded_before_the_encoder_was_hashed_is_reused_only_when_lossless(
    rig: Rig, fmt: str, mixed_again: bool, tmp_path: Path
) -> None:
    """A mix recorded by an earlier release carries the hash without the encoder's settings: FLAC (or WAV) is what any
    Opus settings make too, so a redelivery announces it again; an Opus one may be of another bitrate, mixed again."""
    event = await rig.event(TYPICAL)
    mixer = rig.mixer(output_format=fmt)
    first = await mixer.on_recording_completed(event)
    tenant = rig.tenant
    files = [f for c in selections(event) for f in c.files]
    earlier = input_hash(files, {"format": fmt, "max_channels": tenant.max_channels, "silence": [-50, 0.3]})
    assert earlier != first.input_hash
    # As the earlier release recorded it: its hash, and the key made of that hash.
    earlier_key = mixed_object_key("acme", TYPICAL, earlier, 0, fmt)
    await rig.store.get_file(first.object_key, str(tmp_path / "earlier"))
    await rig.store.put_file(earlier_key, str(tmp_path / "earlier"))
    await rig.mongo.db[MEETINGS].update_one(
        {"tenant": "acme", "meeting_uuid": TYPICAL},
        {"$set": {"mix.input_hash": earlier, "mix.object_key": earlier_key}},
    )
    downloads = rig.downloads()

    again = await rig.mixer(output_format=fmt).on_recording_completed(event)

    if mixed_again:
        assert (again.input_hash, again.object_key) == (first.input_hash, first.object_key)
    else:
        assert (again.input_hash, again.object_key) == (earlier, earlier_key)
    assert rig.downloads() == downloads  # the raw tracks come from S3 either way
