"""A recording event of a generation its meeting has left is not mixed (``zoomsymbl replay --force`` ran since).

Such an event comes back by a redelivery, a replay of its dead-letter topic, a late webhook retry or a backfill.
Before, when its inputs were not the current mix's, the mixer downloaded and mixed it again, and its mix and
``objects.mixed`` replaced the newer generation's on the meeting (the page played the older audio) for an
``AudioMixed`` the submitter drops as superseded. Real Zoom sandbox, MongoDB, S3 and ffmpeg.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_mixer.handlers import MixerMetrics, on_recording_completed
from zoomsymbl_mixer.state import MeetingState

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


def forced(event: RecordingCompleted, generation: int) -> RecordingCompleted:
    """``event`` as ``zoomsymbl replay --force`` re-publishes it under ``generation``."""
    return event.model_copy(update={"generation": generation, "event_id": f"{event.event_id}-g{generation}"})


async def meeting(rig: Rig) -> dict[str, object]:
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": rig.tenant.id, "meeting_uuid": TYPICAL})
    assert doc is not None
    return doc


async def test_an_event_of_a_generation_the_meeting_left_is_neither_mixed_nor_recorded(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    first = await rig.mixer().on_recording_completed(event)
    # The operator re-runs the meeting under another channel limit: generation 1, another input, another mix.
    generation = await bump_generation(rig.mongo, rig.tenant.id, TYPICAL, "replay-1")
    wide = rig.tenant
    rig.tenant = wide.model_copy(update={"max_channels": 2})
    second = await rig.mixer().on_recording_completed(forced(event, generation))
    assert (generation, second.input_hash != first.input_hash) == (1, True)
    before, downloads, announced = await meeting(rig), rig.downloads(), len(rig.published)

    # Generation 0's event comes back (its inputs, under the tenant's settings of then, are not the current mix's).
    rig.tenant = wide
    registry = CollectorRegistry()
    metrics = MixerMetrics(registry)
    state = MeetingState(rig.mongo.db)
    outcome = await on_recording_completed(event, rig.mixer(), metrics, state)

    after = await meeting(rig)
    assert outcome is None
    assert after["objects"] == before["objects"] and after["mix"] == before["mix"]  # the page plays generation 1's
    assert (rig.downloads(), len(rig.published)) == (downloads, announced)  # nothing fetched, nothing announced
    assert 'zoomsymbl_mixer_meetings_total{outcome="superseded"} 1.0' in generate_latest(registry).decode()


async def test_an_event_of_the_meetings_own_generation_or_a_newer_one_is_mixed(rig: Rig) -> None:
    """The check does not stop what it must not: a meeting never stored, its own generation, a replay's."""
    event = await rig.event(TYPICAL)
    state = MeetingState(rig.mongo.db)
    assert await state.generation(rig.tenant.id, TYPICAL) is None
    first = await rig.mixer().on_recording_completed(event)
    assert await state.generation(rig.tenant.id, TYPICAL) == 0
    assert await rig.mixer().on_recording_completed(event) == first  # a redelivery: announced again
    generation = await bump_generation(rig.mongo, rig.tenant.id, TYPICAL, "replay-1")
    replayed = await rig.mixer().on_recording_completed(forced(event, generation))
    assert replayed.generation == 1 and await state.generation(rig.tenant.id, TYPICAL) == 1
