"""The page's data as read from the stored documents: what a document out of range must not break."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from zoomsymbl_common import stored_insights
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.records import (
    INSIGHTS,
    MEETINGS,
    ConversationMetadata,
    Job,
    MalformedRecord,
    Meeting,
    StoredInsights,
)
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web import exports, render
from zoomsymbl_web.app import build_app
from zoomsymbl_web.meeting import MeetingView, view_of
from zoomsymbl_web.settings import Settings
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
    timeline = rows(view.speakers, said, view.axis_seconds)
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


def test_the_speaker_timeline_spans_the_recording_not_the_meeting() -> None:
    """A recording started 10 minutes into a 40-minute meeting: the mix (and the words' times) span 30 minutes, the
    meeting's duration 40. The timeline was scaled to the meeting: a word in the recording's second half was drawn
    at 22-45 % of the track while the player's scrubber stood at 50-100 %. Now the bars span the recording; the
    page's Duration is still the meeting's."""
    meeting = Meeting(
        tenant="acme",
        meeting_uuid="u==",
        stage="notified",
        duration_seconds=2400.0,
        channel_map=[{"channel": 1, "participant_name": "Ana"}],
    )
    conversation = ConversationMetadata.model_validate(
        {"tenant": "acme", "meeting_uuid": "u==", "source_platform": "Zoom Meeting", "media": {"length_seconds": 1800}}
    )
    stored = _stored()
    said = Insights(messages=(TranscriptMessage("Ana", "second half", 900.0, 1800.0, channel=1),))
    stored = stored.model_copy(update={"insights": stored_insights.encode(said)})
    view = view_of(meeting, conversation, [stored])
    assert isinstance(view, MeetingView)
    page = _page(view)
    bar = re.search(r'<svg class="track[^>]*viewBox="0 0 (\d+) 10".*?<rect x="([0-9.]+)" width="([0-9.]+)"', page)
    assert bar is not None
    track, x, width = (float(v) for v in bar.groups())
    assert (x / track, width / track) == (0.5, 0.5)
    assert "<dt>Duration</dt><dd><bdi>0:40:00</bdi></dd>" in page
    # Without the mix's length (older records) the meeting's length is the axis, as before.
    older = view_of(meeting, None, [stored])
    assert isinstance(older, MeetingView) and older.axis_seconds == 2400.0


@pytest.mark.parametrize("offset", [float("inf"), 1e300])
def test_a_stored_part_offset_out_of_range_is_an_unreadable_record(offset: float) -> None:
    """The records took infinity (it passes ``ge=0``) and 1e300 as a part's offset in the meeting, which the events
    refuse. Every time of that part moved with it: the page and each download raised OverflowError (aiohttp's bare
    500 with a traceback at ERROR, on every visit) or showed 300-digit times, and insights.json held ``Infinity``.
    Nothing of the part can be placed in the meeting: the document is unreadable (the plain 500 page), and so is a
    job's of the same offset, which the notifier merges by."""
    document = _stored().model_copy(update={"part_offset_seconds": offset}).to_document()
    with pytest.raises(MalformedRecord, match="part_offset_seconds"):
        StoredInsights.from_document(document)
    job = {"_id": "k", "idempotency_key": "k", "job_ref": "r", "tenant": "acme", "meeting_uuid": "u==",
           "provider": "assemblyai", "status": "in_progress", "part_offset_seconds": 7200.0}  # fmt: skip
    assert Job.from_document(job).part_offset_seconds == 7200.0
    with pytest.raises(MalformedRecord, match="part_offset_seconds"):
        Job.from_document(job | {"part_offset_seconds": offset})


@pytest.mark.integration
async def test_a_stored_part_offset_out_of_range_gets_the_plain_500_page(infra: InfraSettings, mongo: Mongo) -> None:
    """As stored and served: the page and its downloads answer the plain 500 (1e300: the local FerretDB refuses to
    store infinity, which MongoDB stores), not a page of 300-digit times."""
    meeting = Meeting(tenant="acme", meeting_uuid="u==", stage="notified")
    part = _stored().model_copy(update={"part_offset_seconds": 1e300})
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    await mongo.db[INSIGHTS].insert_one(part.to_document())
    key = "out-of-range-page-key-0123456789"
    app = build_app(
        Settings(page_key=SecretStr(key), infra=infra), Tenants([TenantConfig(id="acme", zoom_webhook_secret="w" * 20)])
    )
    async with TestClient(TestServer(app)) as client:
        token = make_page_token(key, "acme", "u==")
        for suffix in ("", "/transcript.vtt", "/transcript.srt", "/transcript.txt", "/insights.json"):
            resp = await client.get(f"/m/{token}{suffix}")
            body = await resp.text()
            assert resp.status == 500 and resp.content_type == "text/html", (suffix, body)
            assert "records cannot be read" in body and "Traceback" not in body
