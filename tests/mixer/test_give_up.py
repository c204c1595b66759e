"""Giving up after the mix was recorded: a meeting never announced fails loudly, one announced is left alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.events import MeetingFailed, RecordingCompleted
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.handlers import MixerMetrics, give_up
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_mixer.state import MeetingState

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


def refuse_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 refuses the meeting's metadata.json for good (the mix and the raw tracks go up as usual)."""
    put = ObjectStore.put_stream

    async def refusing(self: ObjectStore, key: str, chunks: AsyncIterator[bytes], **kwargs: Any) -> int:
        if key == metadata_key("acme", TYPICAL):
            raise ObjectRejected(self.bucket, key, "AccessDenied", "bucket policy")
        return await put(self, key, chunks, **kwargs)

    monkeypatch.setattr(ObjectStore, "put_stream", refusing)


async def gives_up(rig: Rig, event: RecordingCompleted, exc: ObjectRejected) -> list[MeetingFailed]:
    """What the consumer does with poison: ``give_up`` with the error's stage and reason; the failures announced."""
    announced: list[MeetingFailed] = []

    async def publish(failed: MeetingFailed) -> None:
        announced.append(failed)

    state = MeetingState(rig.mongo.db)
    on_give_up = give_up(state, MixerMetrics(CollectorRegistry()), publish, rig.mixer().announce)
    await on_give_up(event, exc.stage, exc.reason)
    return announced


async def stage(rig: Rig) -> dict[str, Any]:
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None
    return doc


async def test_a_meeting_whose_mix_was_recorded_but_never_announced_is_failed_and_the_host_told(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    refuse_metadata(monkeypatch)
    with pytest.raises(ObjectRejected) as caught:
        await rig.mixer().on_recording_completed(event)
    assert (await stage(rig))["stage"] == "mixed"  # recorded before the metadata upload failed
    assert rig.published == []  # AudioMixed never went out: nobody downstream will move the meeting

    announced = await gives_up(rig, event, caught.value)

    doc = await stage(rig)
    assert doc["stage"] == "failed"
    assert (doc["failure"]["service"], doc["failure"]["stage"]) == ("mixer", "upload")
    assert "AccessDenied" in doc["failure"]["reason"]
    assert [(f.meeting_uuid, f.service, f.stage) for f in announced] == [(TYPICAL, "mixer", "upload")]
    assert "metadata.json" in announced[0].reason


async def test_a_stale_give_up_leaves_a_meeting_whose_mix_was_announced_alone(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    mixer = rig.mixer()
    mixed = await mixer.on_recording_completed(event)
    assert rig.published == [mixed]
    # A redelivered duplicate re-announces the mix and fails on the metadata upload: the submitter has the
    # meeting already (it may not have moved it to "submitted" yet), so it must not be failed under it.
    refuse_metadata(monkeypatch)
    with pytest.raises(ObjectRejected) as caught:
        await mixer.on_recording_completed(event)

    announced = await gives_up(rig, event, caught.value)

    doc = await stage(rig)
    assert doc["stage"] == "mixed" and "failure" not in doc
    assert announced == []


async def test_a_retry_after_the_failure_mixes_and_announces_the_meeting(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    with monkeypatch.context() as patch:
        refuse_metadata(patch)
        with pytest.raises(ObjectRejected) as caught:
            await rig.mixer().on_recording_completed(event)
    assert [f.stage for f in await gives_up(rig, event, caught.value)] == ["upload"]
    mixed = await rig.mixer().on_recording_completed(event)  # a replay once the bucket policy is fixed
    assert rig.published == [mixed]
    doc = await stage(rig)
    assert doc["stage"] == "mixed" and "failure" not in doc
