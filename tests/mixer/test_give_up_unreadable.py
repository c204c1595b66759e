"""A give-up whose kept ``audio_mixed_sent`` no longer validates (a newer release's, one edited by hand).

It may have gone out all the same: the meeting is not failed (a failure notice could precede its report), the
give-up ends normally (the event dead-lettered with its own reason, not "the give-up hook failed"), and the
unreadable event is logged with pydantic's reason, never the stored values. Real MongoDB, S3, ffmpeg and the
Zoom sandbox; the consumer policy as deployed on FastStream's in-memory broker.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_mixer.state import PENDING, SENT, MeetingState, UnreadableSent, audio_mixed

from tests.mixer.conftest import TYPICAL, Rig
from tests.mixer.test_give_up import refuse_metadata
from tests.mixer.test_give_up_announced import Outcome, consume, losing_acks, meeting
from tests.mixer.test_state import EVENT, record

pytestmark = pytest.mark.integration

EDITED = "hand-edited-7f3a9c"
"""A stored value the log must not repeat."""


async def spoil_sent(mongo: Mongo, meeting_uuid: str, changes: dict[str, Any]) -> None:
    key = {"tenant": "acme", "meeting_uuid": meeting_uuid}
    result = await mongo.db[MEETINGS].update_one({**key, SENT: {"$exists": True}}, {"$set": changes})
    assert result.modified_count == 1


async def test_an_unreadable_kept_announcement_is_not_failed_and_a_replay_announces_the_mix(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    event, outcome, mixer = await rig.event(TYPICAL), Outcome(), rig.mixer()
    losing_acks(mixer, outcome, lost=1)
    with pytest.raises(KafkaUnavailable):  # AudioMixed reached Kafka, its acknowledgement did not: the pod stops
        await mixer.on_recording_completed(event)
    # A newer release kept it with a field this one does not know (or someone edited it).
    await spoil_sent(rig.mongo, TYPICAL, {f"{SENT}.language_hint": EDITED, f"{SENT}.channels": EDITED})

    with monkeypatch.context() as patch, caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        refuse_metadata(patch)  # the redelivery fails for good before its own publish
        await consume(mixer, event, outcome)

    assert outcome.failures == []  # it may have gone out: no failure notice ahead of a report
    [letter] = outcome.letters
    assert letter.error_type == "ObjectRejected" and "give-up hook failed" not in letter.reason  # before: it was
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "mixed" and "failure" not in doc and doc[PENDING] is True and SENT in doc
    assert outcome.metrics.meetings.labels("unreadable_sent")._value.get() == 1
    assert outcome.metrics.meetings.labels("failed")._value.get() == 0
    [said] = [r for r in caplog.records if r.getMessage() == "kept audio_mixed_sent unreadable, meeting left at mixed"]
    why = said.__dict__["sent_error"]
    assert "language_hint" in why and "channels" in why and EDITED not in why
    assert len(outcome.sent) == 1  # nothing published at the give-up: the kept event could not be read

    await consume(mixer, event, outcome)  # an operator replays the dead letter once the bucket policy is fixed

    first, again = outcome.sent
    assert again == first  # the same AudioMixed as the one that may have gone out: the submitter takes it once
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "mixed" and PENDING not in doc and SENT not in doc


@pytest.mark.parametrize("stored", ["not an event", {"event_id": ""}, None])
async def test_the_state_reads_any_kept_shape_as_unreadable_not_as_an_error(mongo: Mongo, stored: object) -> None:
    state = MeetingState(mongo.db)
    assert await state.record_mix(EVENT, record())
    await state.mark_sent(audio_mixed(EVENT, record()))
    await spoil_sent(mongo, EVENT.meeting_uuid, {SENT: stored})

    found = await state.unconfirmed(EVENT)

    assert isinstance(found, UnreadableSent) and found.reason
    assert not await state.mark_failed(EVENT, "retry", "gave up after 5 attempts")  # kept: it may have gone out
    assert (await meeting(mongo, EVENT.meeting_uuid))["stage"] == "mixed"


@pytest.mark.parametrize(
    "edit", [{"mix.mixed_by_release": EDITED}, {"mix.duration_seconds": 1e300}], ids=["newer field", "1e300 s"]
)
async def test_a_recorded_mix_this_release_cannot_read_is_mixed_again(
    rig: Rig, edit: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Before, reading it raised: every redelivery of the recording, and every forced replay (which keeps the mix),
    was an unexpected ValidationError retried to its dead letter, and a transcript arriving later failed the same way.
    Now the recording is mixed again and the record replaced."""
    event, mixer = await rig.event(TYPICAL), rig.mixer()
    await mixer.on_recording_completed(event)
    assert await meeting(rig.mongo, TYPICAL) is not None
    await rig.mongo.db[MEETINGS].update_one({"tenant": "acme", "meeting_uuid": TYPICAL}, {"$set": edit})

    with caplog.at_level(logging.WARNING, logger="zoomsymbl.mixer"):
        await mixer.on_recording_completed(event)

    stored = await meeting(rig.mongo, TYPICAL)
    assert stored is not None and "mixed_by_release" not in stored["mix"] and stored["mix"]["duration_seconds"] < 1e6
    assert len(rig.published) == 2 and rig.published[1].duration_seconds < 1e6
    [line] = [r for r in caplog.records if r.getMessage() == "recorded mix unreadable, mixed again"]
    assert EDITED not in str(line.__dict__) and "1e+300" not in str(line.__dict__)
