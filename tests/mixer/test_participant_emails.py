"""Participants' e-mails from Zoom's participants report: a blip is tried again; an answer that will not change, or
a budget spent, mixes the meeting without them and says so on the meeting (``participant_emails_unavailable``).

Real MongoDB, S3, ffmpeg and the Zoom sandbox (whose report gives Elisa's and Jean-Luc's addresses, not Zoë's).
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_mixer.emails import EMAILS_UNAVAILABLE, ParticipantEmails
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


async def no_wait(seconds: float) -> None:
    """The retry budget's backoff, not waited in a test."""


def mixer(rig: Rig) -> Mixer:
    built = rig.mixer()
    built.emails = ParticipantEmails(built.state, sleep=no_wait)
    return built


async def note(rig: Rig) -> object:
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "mixed"
    return doc.get(EMAILS_UNAVAILABLE)


async def test_a_blip_of_the_participants_report_is_tried_again_and_the_e_mails_kept(rig: Rig) -> None:
    rig.sandbox.faults.add(Fault(route="participants", kind="status", status=503, count=2))

    mixed = await mixer(rig).on_recording_completed(await rig.event(TYPICAL))

    emails = {c.participant_name: c.participant_email for c in mixed.channel_map}
    assert emails["Elisa L"] == "elisa@example.com"  # before: lost for good for this meeting
    assert await note(rig) is None


async def test_a_report_zoom_keeps_failing_mixes_the_meeting_without_e_mails_and_says_so(rig: Rig) -> None:
    rig.sandbox.faults.add(Fault(route="participants", kind="status", status=503, count=1000))

    mixed = await mixer(rig).on_recording_completed(await rig.event(TYPICAL))

    assert mixed.channels == 3 and all(c.participant_email is None for c in mixed.channel_map)
    recorded = await note(rig)
    assert isinstance(recorded, dict) and "503" in recorded["reason"]  # before: only a log line


async def test_a_refusal_is_not_asked_again_and_is_noted(rig: Rig) -> None:
    rig.sandbox.faults.add(Fault(route="participants", kind="status", status=403, count=1))  # no scope
    event = await rig.event(TYPICAL)

    first = await mixer(rig).on_recording_completed(event)

    assert all(c.participant_email is None for c in first.channel_map)  # one answer, taken: not asked again
    recorded = await note(rig)
    assert isinstance(recorded, dict) and "403" in recorded["reason"]


class CountingApi:
    """The mixer's Zoom client, counting the participants reports it asks for."""

    def __init__(self, api: object) -> None:
        self.api, self.asked = api, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.api, name)

    async def past_meeting_participants(self, uuid: str) -> tuple[tuple[str, str], ...]:
        self.asked += 1
        return await self.api.past_meeting_participants(uuid)  # type: ignore[attr-defined,no-any-return]


def counting(rig: Rig) -> tuple[Mixer, CountingApi]:
    built = mixer(rig)
    api = CountingApi(built.api_for(rig.tenant))
    built.api_for = lambda tenant: api  # type: ignore[assignment,return-value]
    return built, api


async def test_a_forced_replay_that_finds_the_mix_asks_again_for_the_e_mails_its_first_run_went_without(
    rig: Rig,
) -> None:
    """A forced replay finds the meeting's mix by its inputs and announces it again. Its first run went without the
    e-mails (Zoom's report failed throughout): the replay announced the same channel map, so the new run's report
    could never name an owner by address, however well Zoom answered now."""
    rig.sandbox.faults.add(Fault(route="participants", kind="status", status=503, count=1000))
    event = await rig.event(TYPICAL)
    first = await mixer(rig).on_recording_completed(event)
    assert all(c.participant_email is None for c in first.channel_map) and await note(rig) is not None
    rig.sandbox.faults.clear()

    generation = await bump_generation(rig.mongo, "acme", TYPICAL, "replay-1")
    built, api = counting(rig)
    again = await built.on_recording_completed(event.model_copy(update={"generation": generation}))

    assert api.asked == 1
    emails = {c.participant_name: c.participant_email for c in again.channel_map}
    assert (
        emails["Elisa L"] == "elisa@example.com" and emails["Zoë 🎧 Ng"] is None
    )  # the report gives no address for Zoë
    assert [c.channel for c in again.channel_map] == [c.channel for c in first.channel_map]
    assert again.object_key == first.object_key, "the mix itself is reused"
    assert await note(rig) is None
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None
    stored = {c["participant_name"]: c.get("participant_email") for c in doc["mix"]["channel_map"]}
    assert stored["Elisa L"] == "elisa@example.com"


async def test_a_mix_found_again_without_a_note_does_not_ask_zoom_again(rig: Rig) -> None:
    """A channel without an address because Zoom's report has none for that guest (Zoë) is not a reason to ask Zoom
    at every redelivery or replay."""
    event = await rig.event(TYPICAL)
    first = await mixer(rig).on_recording_completed(event)
    assert any(c.participant_email is None and not c.mixed for c in first.channel_map)
    assert await note(rig) is None

    built, api = counting(rig)
    again = await built.on_recording_completed(event)

    assert api.asked == 0
    assert again.channel_map == first.channel_map
