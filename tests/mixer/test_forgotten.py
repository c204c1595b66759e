"""A meeting erased with ``zoomsymbl forget`` stays erased: the mixer acknowledges its events and fetches nothing.

The mixer service as deployed (real Kafka in and out, MongoDB, S3, the Zoom sandbox): a tombstoned meeting's
``RecordingCompleted`` (what Kafka's retention, a replay, Zoom's retries or a backfill bring back) is logged and
counted (``zoomsymbl_mixer_meetings_total{outcome="forgotten"}``), and the meeting after it on the same
partition is mixed as usual, so the forgotten one was acknowledged, not stuck or retried (and not given up on:
that would have marked the meeting failed, a meetings document).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_common.events import AudioMixed, utcnow
from zoomsymbl_common.kafka import topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.forget_objects import listed, meeting_prefixes
from zoomsymbl_common.records import MEETINGS, TOMBSTONES, Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.state import MeetingState

from tests.mixer.conftest import NO_TRACKS, TYPICAL, Rig
from tests.mixer.test_app import read, running_mixer, send

pytestmark = pytest.mark.integration


async def test_the_tombstone_is_read_by_tenant_and_meeting(mongo: Mongo) -> None:
    await mongo.db[TOMBSTONES].insert_one(
        Tombstone(tenant="acme", meeting_uuid=TYPICAL, forgotten_at=utcnow()).to_document()
    )
    state = MeetingState(mongo.db)
    assert await state.forgotten("acme", TYPICAL)
    assert not await state.forgotten("beta", TYPICAL), "another tenant's meeting of the same UUID"
    assert not await state.forgotten("acme", NO_TRACKS)


async def test_a_forgotten_meetings_recording_is_acknowledged_and_nothing_is_fetched(
    rig: Rig, infra: InfraSettings, mongo: Mongo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forgotten = await rig.event(TYPICAL)
    await mongo.db[TOMBSTONES].insert_one(
        Tombstone(tenant="acme", meeting_uuid=TYPICAL, forgotten_at=utcnow()).to_document()
    )
    async with running_mixer(rig, infra, tmp_path, monkeypatch) as service:
        await send(infra, forgotten)
        await send(infra, await rig.event(NO_TRACKS))  # behind it on the single partition
        [raw] = await read(infra, topic_name(infra, AudioMixed.topic))
        assert AudioMixed.model_validate_json(raw).meeting_uuid == NO_TRACKS, "the next meeting is mixed as usual"
        async with aiohttp.ClientSession() as http, http.get(service.make_url("/metrics")) as response:
            metrics = await response.text()
    assert 'zoomsymbl_mixer_meetings_total{outcome="forgotten"} 1.0' in metrics
    fetched = {track.file_id for track in forgotten.participant_tracks} & set(rig.sandbox.stats.downloads)
    assert fetched == set(), "no file of the forgotten meeting was downloaded"
    assert await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL}) is None
    for prefix in meeting_prefixes("acme", TYPICAL):
        assert await listed(rig.store, prefix) == [], prefix
