"""Participants' e-mails from Zoom's participants report: a blip is tried again; an answer that will not change, or
a budget spent, mixes the meeting without them and says so on the meeting (``participant_emails_unavailable``).

Real MongoDB, S3, ffmpeg and the Zoom sandbox (whose report gives Elisa's and Jean-Luc's addresses, not Zoë's).
"""

from __future__ import annotations

import pytest
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
