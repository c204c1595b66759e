"""The e-mail of a Zoom Phone call names its source: the call, its parties, direction and duration."""

from __future__ import annotations

from datetime import UTC, datetime

from zoomsymbl_common.events import CallParty, PhoneCall
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import Meeting
from zoomsymbl_notifier.meetings import MeetingFacts, facts_from_doc
from zoomsymbl_notifier.report import call_line, meeting_report

CALL = PhoneCall(
    recording_id="c71b360f6e774e3aa101453117b7e1a7",
    call_id="6998252113337041462",
    caller=CallParty(number="1026", did_number="+12092592844", name="Caller <Name>"),
    callee=CallParty(number="1045", name="Callee Name"),
    direction="outbound",
    duration_seconds=43,
    start_time=datetime(2021, 8, 19, 21, 12, 38, tzinfo=UTC),
)


def test_the_source_line_says_who_called_whom_which_way_and_how_long() -> None:
    assert (
        call_line(CALL)
        == "Source: Zoom Phone call, Caller <Name> (+12092592844) → Callee Name (1045), outbound, 0:00:43"
    )


def test_the_report_of_a_call_carries_the_line_in_text_and_escaped_html() -> None:
    facts = MeetingFacts(topic="Zoom Phone call: Caller → Callee", host_email="jill@example.com", call=CALL)
    report = meeting_report(Insights(), facts, 0, [])
    assert "Source: Zoom Phone call, Caller <Name> (+12092592844) → Callee Name (1045), outbound" in report.text
    assert "Caller &lt;Name&gt;" in report.html and "Caller <Name>" not in report.html
    assert report.subject == "Call summary: Zoom Phone call: Caller → Callee"


def test_a_meeting_report_has_no_call_line() -> None:
    assert "Zoom Phone call" not in meeting_report(Insights(), MeetingFacts(topic="Sync"), 0, []).text


def test_the_facts_come_from_the_meeting_record_the_mixer_wrote() -> None:
    doc = Meeting(tenant="acme", meeting_uuid="phone:x", platform="zoom_phone", call=CALL).to_document()
    assert facts_from_doc(doc).call == CALL
    assert facts_from_doc({**doc, "platform": "zoom_meeting"}).call is None
