"""The page's data as read from the stored documents: what a document out of range must not break."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from zoomsymbl_common import stored_insights
from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.records import ConversationMetadata, Meeting, StoredInsights
from zoomsymbl_web import exports, render
from zoomsymbl_web.meeting import MeetingView, view_of
from zoomsymbl_web.timeline import Said, rows


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _stored() -> StoredInsights:
    insights = Insights(messages=(TranscriptMessage("Ana", "hello", 10.0, 14.0, channel=1),))
    return StoredInsights(
        provider="assemblyai",
        conversation_id="conv",
        tenant="acme",
        meeting_uuid="u==",
        job_id="job",
        insights=stored_insights.encode(insights),
        stored_at=datetime(2026, 12, 5, tzinfo=UTC),
    )


def _page(view: MeetingView) -> str:
    said = (Said(m.speaker, m.start_seconds, m.end_seconds, m.channel) for m in view.insights.messages)
    timeline = rows(view.speakers, said, view.duration_seconds)
    return render.meeting_page(view, timeline, token="t.1.s", audio_url=None, nonce="N", limit=100)


@pytest.mark.parametrize("talk", [float("inf"), 1e300])
@pytest.mark.parametrize("where", ["conversation", "meeting"])
def test_a_stored_talk_time_out_of_range_reads_as_unmeasured(talk: float, where: str) -> None:
    """The stored records take infinity (it passes ``ge=0``) and 1e300 as a talk time; MongoDB stores both, and
    events carried them before they refused them. The page raised OverflowError (a 500 for every visit) or showed a
    300-digit time, and insights.json held ``Infinity``, which no strict JSON reader takes. Such a time is now not
    measured: the row shows the transcript's talk time (4 s) and the JSON says null."""
    meeting = Meeting(
        tenant="acme",
        meeting_uuid="u==",
        stage="notified",
        speaker_stats=[{"channel": 1, "talk_seconds": talk}] if where == "meeting" else [],
        channel_map=[{"channel": 1, "participant_name": "Ana"}],
    )
    conversation = ConversationMetadata.model_validate(
        {
            "tenant": "acme",
            "meeting_uuid": "u==",
            "source_platform": "Zoom Meeting",
            "speakers": [{"channel": 1, "name": "Ana", "talk_seconds": talk}],
        }
    )
    view = view_of(meeting, conversation if where == "conversation" else None, [_stored()])
    assert isinstance(view, MeetingView)
    page = _page(view)
    row = re.search(r'<tr class="speaker">.*?</tr>', page)
    assert row is not None and "<td class=n>0:00:04</td><td class=n>100%</td>" in row[0]
    document = _strict_json(exports.insights_json(view))
    assert isinstance(document, dict) and document["speakers"][0]["talk_seconds"] is None
