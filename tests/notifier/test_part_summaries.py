"""The summary of a split meeting: what the host reads of every part's summary, in the e-mail and on the page."""

from __future__ import annotations

from zoomsymbl_common.providers.base import Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.stored_insights import merge
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import meeting_report
from zoomsymbl_web.render import insights_sections

HOUR = 3600.0


def said(text: str, at: float) -> tuple[TranscriptMessage, ...]:
    return (TranscriptMessage("Elisa L", text, at, at + 2.0, channel=1),)


def test_every_part_of_a_split_meeting_keeps_its_summary_whichever_way_it_was_summarised() -> None:
    # Part 1: the provider's summary lines (Symbl). Part 2: no summary from the provider, so the
    # insights engine's summary by topic stood in for it.
    first = Insights(messages=said("Budget first.", 5.0), summary=("The budget for 2027 was agreed.",))
    second = Insights(
        messages=said("Hiring next.", 5.0),
        summary_topics=(SummaryTopic("Hiring", "Two engineers are hired in March.", 0.0, 600.0),),
    )
    merged = merge([(0.0, first), (HOUR, second)])

    report = meeting_report(merged, MeetingFacts(topic="Planning"), 0, ())
    summary = report.text.split("Summary\n")[1].split("\n\n")[0]
    assert "The budget for 2027 was agreed." in summary
    assert "[1:00:00–1:10:00] Hiring: Two engineers are hired in March." in summary
    assert summary.index("budget") < summary.index("Hiring"), "in the meeting's order"
    page = insights_sections(merged)
    assert "The budget for 2027 was agreed." in page and "Two engineers are hired in March." in page
