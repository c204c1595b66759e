"""The meeting page says, near the top, when Zoom no longer had some participant's audio at the mix (as the report
e-mail does): served by the web service from the meeting stored in the real MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common import stored_insights
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.records import INSIGHTS, MEETINGS, Meeting, StoredInsights

from tests.web.test_app import KEY, service

pytestmark = [pytest.mark.integration]
__all__ = ["service"]  # the fixture: the web service on the real MongoDB and S3


async def _page(service: str, mongo: Mongo, uuid: str, **fields: Any) -> str:
    meeting = Meeting(tenant="acme", meeting_uuid=uuid, stage="notified", topic="Weekly sync")
    await mongo.db[MEETINGS].insert_one({**meeting.to_document(), **fields})
    insights = Insights(messages=(TranscriptMessage("Bo", "hello", 1.0, 2.0, channel=1),))
    stored = StoredInsights(provider="assemblyai", conversation_id=f"c-{uuid}", tenant="acme", meeting_uuid=uuid,
                            job_id=f"j-{uuid}", insights=stored_insights.encode(insights),
                            stored_at=datetime.now(tz=UTC))  # fmt: skip
    await mongo.db[INSIGHTS].insert_one(stored.to_document())
    async with aiohttp.ClientSession() as session:
        async with session.get(page_url(service, make_page_token(KEY, "acme", uuid))) as resp:
            page = await resp.text()
            assert resp.status == 200, page
    return page


async def test_the_page_of_a_meeting_mixed_without_a_participant_track_says_whose_audio_is_missing(
    service: str, mongo: Mongo
) -> None:
    page = await _page(service, mongo, "missing==", missing_audio={"names": ["Ana <Lee>"], "others": 1})
    notice = (
        '<p class="notice" id="missing-audio">Incomplete: Zoom no longer had the audio of <bdi>Ana &lt;Lee&gt;</bdi>'
        " and 1 other recording file; their words are not on this page.</p>"
    )
    assert notice in page
    assert page.index("</header>") < page.index(notice) < page.index('<section id="speakers">')


async def test_a_meeting_mixed_before_the_names_were_kept_says_how_many_files(service: str, mongo: Mongo) -> None:
    page = await _page(service, mongo, "older==", mix={"missing_files": ["f1", "f2"]})
    assert "Zoom no longer had the audio of 2 recording files; their words are not on this page." in page


async def test_a_meeting_with_nothing_missing_has_no_notice(service: str, mongo: Mongo) -> None:
    page = await _page(service, mongo, "whole==", mix={"missing_files": []})
    assert "missing-audio" not in page and "Incomplete" not in page and "no longer had" not in page
