"""Why a section is unavailable or the report incomplete may quote what the provider or the insights engine's server
answered (``answered HTTP 400: '…'``): those words reach the report defanged, as a failure notice's reason does.

Before: the notes ``(unavailable: …)`` / ``(incomplete: …)``, the ``Incomplete:`` line and the ``Source:`` line of a
report completed from Zoom's transcript (it quotes why the provider failed) were only cleaned to one line: a
server's error text naming ``www.evil.example`` or ``joe@evil.example`` became a link in our e-mail.
"""

from __future__ import annotations

import re

import pytest
from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.providers.zoom_transcript import fallback_source
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import meeting_report

FACTS = MeetingFacts(topic="Weekly sync", duration_seconds=600.0)
QUOTED = (
    "insights engine chat completion answered HTTP 400: 'quota spent, top up at www.evil.example or joe@evil.example'"
)
LINKABLE = re.compile(r"www\.|evil\.example", re.IGNORECASE)
MESSAGES = (TranscriptMessage("Elisa", "Hello.", 0.0, 2.0),)


@pytest.mark.parametrize(
    "insights",
    [
        Insights(messages=MESSAGES, unavailable={"questions": QUOTED}),
        Insights(messages=MESSAGES, decisions=(InsightItem("Ship it."),), unavailable={"decisions": QUOTED}),
        Insights(messages=MESSAGES, extra={INCOMPLETE: QUOTED}),
        Insights(messages=MESSAGES, extra={"source": fallback_source(QUOTED)}),
    ],
    ids=["unavailable", "incomplete-section", "incomplete-report", "fallback-source"],
)
def test_a_servers_words_in_a_note_are_no_link(insights: Insights) -> None:
    report = meeting_report(insights, FACTS, 0, ())
    assert "top up at" in report.text, "the reason is still said"
    assert not LINKABLE.search(report.text)
    assert not LINKABLE.search(report.html)
