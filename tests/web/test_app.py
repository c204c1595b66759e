"""The web service against the real MongoDB and S3: a stored meeting's page, its audio, its parts, its downloads,
and, in headless Chromium, what a visitor reads of insights the e-mail calls incomplete."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common import stored_insights
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import (
    CONVERSATIONS,
    INSIGHTS,
    MEETINGS,
    ConversationMetadata,
    Failure,
    Meeting,
    MeetingObjects,
    SpeakerMetrics,
    StoredInsights,
    StoredObject,
)
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.app import build_app
from zoomsymbl_web.meeting import MeetingPages, MeetingView, NotReady
from zoomsymbl_web.settings import Settings

from tests.support.webdriver import browser_paths, chromium
from tests.web.test_render import PART_FAILED, WINDOW_FAILED, incomplete_parts

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]

KEY = "integration-page-key-0123456789"
AUDIO = b"fLaC" + bytes(range(256)) * 8


def _part(index: int, offset: float, speaker: str, channel: int, text: str) -> StoredInsights:
    message = {"speaker": speaker, "text": text, "start_seconds": 5.0, "end_seconds": 9.0, "channel": channel}
    return StoredInsights(
        provider="assemblyai",
        conversation_id=f"conv-{index}",
        tenant="acme",
        meeting_uuid="abc/==",
        generation=1,
        job_id=f"job-{index}",
        part_index=index,
        part_offset_seconds=offset,
        insights={
            "messages": [message],
            "action_items": [{"text": f"task of part {index}", "assignee": speaker, "start_seconds": 6.0}],
            "extra": {"source": "AssemblyAI (test)"},
        },
        stored_at=datetime.now(tz=UTC),
    )


@pytest.fixture
async def service(infra: InfraSettings, mongo: Mongo, store: ObjectStore) -> AsyncIterator[str]:
    settings = Settings(page_key=SecretStr(KEY), infra=infra)
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret="w" * 20)])
    server = TestServer(build_app(settings, tenants), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def _store_meeting(mongo: Mongo, store: ObjectStore) -> None:
    key = "mixed/acme/abc.flac"
    await store.put_stream(key, _chunks(AUDIO), content_type="audio/flac")
    meeting = Meeting(
        tenant="acme",
        meeting_uuid="abc/==",
        generation=1,
        stage="notified",
        topic="Quarterly <review>",
        host_email="host@example.test",
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=3 * 3600.0,
        objects=MeetingObjects(mixed=StoredObject(bucket=store.bucket, key=key, size=len(AUDIO))),
    )
    conversation = ConversationMetadata(
        tenant="acme",
        meeting_uuid="abc/==",
        source_platform="Zoom Meeting",
        speakers=[
            SpeakerMetrics(channel=1, name="Ana", talk_seconds=4.0, silence_ratio=0.9, talk_over_ratio=0.01),
            SpeakerMetrics(channel=2, name="Bo", talk_seconds=4.0, silence_ratio=0.8, talk_over_ratio=0.02),
        ],
    )
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    await mongo.db[CONVERSATIONS].insert_one(conversation.to_document())
    # Part 1 of the split recording starts 2 hours in; a stale generation must not show.
    parts = [_part(1, 7200.0, "Bo", 2, "second part"), _part(0, 0.0, "Ana", 1, "first part")]
    stale = _part(2, 0.0, "Old", 3, "stale generation").model_copy(update={"generation": 0, "conversation_id": "c-old"})
    await mongo.db[INSIGHTS].insert_many([p.to_document() for p in [*parts, stale]])


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_the_page_of_a_stored_meeting_plays_its_audio_and_offsets_its_parts(
    service: str, mongo: Mongo, store: ObjectStore
) -> None:
    await _store_meeting(mongo, store)
    url = page_url(service, make_page_token(KEY, "acme", "abc/=="))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{service}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        async with session.get(url) as resp:
            page = await resp.text()
            assert resp.status == 200, page
            csp = resp.headers["Content-Security-Policy"]
        assert "Quarterly &lt;review&gt;" in page and "AssemblyAI (test)" in page
        assert page.count('<tr class="speaker">') == 2
        assert "stale generation" not in page
        # The second part's line and action item sit 2 h later in the meeting than in their part.
        assert '<li data-t="7205.000" tabindex="0"><time>2:00:05</time><bdi class="who">Bo</bdi>' in page
        assert page.index("first part") < page.index("second part")
        assert re.search(r'data-t="7206\.000"[^>]*><time>2:00:06</time>', page)
        found = re.search(r'<audio id="audio" controls preload="metadata" src="([^"]+)"', page)
        assert found is not None
        # No audio_public_url (the chart's default): the page streams the audio under its own token.
        audio_url = found.group(1)
        assert audio_url == url.removeprefix(service) + "/audio" and "media-src 'self';" in csp
        async with session.get(service + audio_url) as resp:
            assert resp.status == 200 and await resp.read() == AUDIO
            assert (resp.headers["Content-Type"], resp.headers["Accept-Ranges"]) == ("audio/flac", "bytes")
        async with session.get(service + audio_url, headers={"Range": "bytes=100-199"}) as resp:
            assert resp.status == 206 and await resp.read() == AUDIO[100:200]
            assert resp.headers["Content-Range"] == f"bytes 100-199/{len(AUDIO)}"
        async with session.get(service + audio_url, headers={"Range": "bytes=-10"}) as resp:
            assert resp.status == 206 and await resp.read() == AUDIO[-10:]
        async with session.get(service + audio_url, headers={"Range": f"bytes={len(AUDIO)}-"}) as resp:
            assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
        # A resumed download names the file it has (If-Range); nothing here can match it: the whole file, 200.
        resume = {"Range": "bytes=100-", "If-Range": '"an-etag-of-some-earlier-answer"'}
        async with session.get(service + audio_url, headers=resume) as resp:
            assert resp.status == 200 and await resp.read() == AUDIO and "Content-Range" not in resp.headers
        async with session.get(service + audio_url.replace("/m/", "/m/x", 1)) as resp:
            assert resp.status == 403
        async with session.get(url + "/transcript.srt") as resp:
            srt = await resp.text()
        assert "02:00:05,000 --> 02:00:09,000\nBo: second part" in srt
        async with session.get(url.replace("/m/", "/m/x", 1)) as resp:
            assert resp.status == 403


async def test_a_meeting_still_being_processed_gets_a_plain_page(service: str, mongo: Mongo) -> None:
    meeting = Meeting(tenant="acme", meeting_uuid="busy", stage="submitted", topic="Busy one")
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    async with aiohttp.ClientSession() as session:
        async with session.get(page_url(service, make_page_token(KEY, "acme", "busy"))) as resp:
            body = await resp.text()
            assert resp.status == 200
    assert "still being processed" in body and "<audio" not in body


async def test_a_failed_meetings_page_says_the_stage_and_reason_of_the_hosts_notice(service: str, mongo: Mongo) -> None:
    """A meeting the submitter failed, stored as the submitter stores it: its page, served from MongoDB, says where
    and why as the host's notice does (the reason scrubbed and one line), not only "could not be processed"."""
    failure = Failure.build("submitter", "submit", "AssemblyAI answered HTTP 400:\n'bad audio' (Bearer s3cr3t-k3y)")
    meeting = Meeting(tenant="acme", meeting_uuid="failed==", stage="submitted", topic="Failed <one>")
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "failed=="}, {"$set": failure.fields()})
    async with aiohttp.ClientSession() as session:
        async with session.get(page_url(service, make_page_token(KEY, "acme", "failed=="))) as resp:
            body = await resp.text()
            assert resp.status == 200
    assert "<title>Failed &lt;one&gt;</title>" in body and "<p>This meeting could not be processed.</p>" in body
    assert "Stage: <bdi>submitting the audio for transcription (submitter: submit)</bdi>" in body
    assert "Reason: <bdi>AssemblyAI answered HTTP 400: &#x27;bad audio&#x27; (Bearer [redacted])</bdi>" in body
    assert "s3cr3t-k3y" not in body and "None" not in body


async def test_page_data_is_reused_within_a_generation_and_read_again_after_a_replay(
    mongo: Mongo, store: ObjectStore
) -> None:
    await _store_meeting(mongo, store)
    pages = MeetingPages(mongo, cache_size=1)
    first = await pages.lookup("acme", "abc/==")
    assert isinstance(first, MeetingView) and len(first.insights.messages) == 2
    await mongo.db[INSIGHTS].delete_one({"conversation_id": "conv-1"})
    assert await pages.lookup("acme", "abc/==") is first  # the same generation, unchanged: from memory
    # A replay raises the generation (and writes the meeting): the cache no longer answers.
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "abc/=="}, {"$set": {"generation": 2, "stage": "received"}})
    replayed = await pages.lookup("acme", "abc/==")
    assert isinstance(replayed, NotReady) and replayed.stage == "received"
    uncached = MeetingPages(mongo, cache_size=0)
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "abc/=="}, {"$set": {"generation": 1, "stage": "notified"}})
    again = await uncached.lookup("acme", "abc/==")
    assert isinstance(again, MeetingView) and len(again.insights.messages) == 1


async def test_an_erased_meetings_page_data_leaves_the_cache(mongo: Mongo, store: ObjectStore) -> None:
    """``zoomsymbl forget`` or ``retention`` erased the meeting: its page answers "not found", and the transcript and
    insights the page kept in memory go too (they stayed until eight other pages pushed them out)."""
    await _store_meeting(mongo, store)
    pages = MeetingPages(mongo, cache_size=8)
    assert isinstance(await pages.lookup("acme", "abc/=="), MeetingView)
    assert any(slot[:2] == ("acme", "abc/==") for slot in pages._cache)
    await mongo.db[MEETINGS].delete_many({"meeting_uuid": "abc/=="})
    assert await pages.lookup("acme", "abc/==") is None
    assert not any(slot[:2] == ("acme", "abc/==") for slot in pages._cache)


async def test_the_audio_route_reads_no_transcript_when_the_page_is_not_in_memory(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A player sends one range request per seek: when the page was not in memory (more meetings viewed than the
    cache holds, another replica), each one read and decoded the whole transcript and insights to find the audio."""
    await _store_meeting(mongo, store)
    decoded: list[Mapping[str, Any]] = []
    decode = stored_insights.decode

    def counted(raw: Mapping[str, Any]) -> Insights:
        decoded.append(raw)
        return decode(raw)

    monkeypatch.setattr(stored_insights, "decode", counted)
    settings = Settings(page_key=SecretStr(KEY), infra=infra, page_cache_size=0)
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret="w" * 20)])
    server = TestServer(build_app(settings, tenants), host="127.0.0.1")
    await server.start_server()
    url = page_url(str(server.make_url("")).rstrip("/"), make_page_token(KEY, "acme", "abc/=="))
    try:
        async with aiohttp.ClientSession() as session:
            for first in (0, 100, 1000):
                async with session.get(f"{url}/audio", headers={"Range": f"bytes={first}-"}) as resp:
                    assert resp.status == 206 and await resp.read() == AUDIO[first:]
            assert decoded == [], "no range request decoded the transcript"
            # Not ready yet (a replay started): no audio, as there is no page.
            await mongo.db[MEETINGS].update_one({"meeting_uuid": "abc/=="}, {"$set": {"generation": 3}})
            async with session.get(f"{url}/audio") as resp:
                assert resp.status == 200 and "still being processed" in await resp.text()
            await mongo.db[MEETINGS].update_one({"meeting_uuid": "abc/=="}, {"$set": {"generation": 1}})
            async with session.get(url) as resp:
                assert resp.status == 200
            assert decoded != [], "the page itself reads them"
    finally:
        await server.close()


async def test_an_erased_meetings_audio_request_also_drops_its_page_data(mongo: Mongo, store: ObjectStore) -> None:
    await _store_meeting(mongo, store)
    pages = MeetingPages(mongo, cache_size=8)
    assert isinstance(await pages.lookup("acme", "abc/=="), MeetingView)
    await mongo.db[MEETINGS].delete_many({"meeting_uuid": "abc/=="})
    assert await pages.audio_of("acme", "abc/==") is None
    assert not any(slot[:2] == ("acme", "abc/==") for slot in pages._cache)


async def test_audio_gone_from_s3_or_shorter_than_recorded_is_answered_honestly(
    service: str, mongo: Mongo, store: ObjectStore
) -> None:
    """Real S3: the object is opened before the status line (gone: 404, not an empty 200), and a file shorter
    than the meeting document says ends the connection instead of leaving the player waiting."""
    await _store_meeting(mongo, store)
    url = page_url(service, make_page_token(KEY, "acme", "abc/==")) + "/audio"
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "abc/=="}, {"$set": {"objects.mixed.size": len(AUDIO) + 100}})
    async with aiohttp.ClientSession() as session:
        async with session.head(url) as resp:
            assert resp.status == 200 and resp.headers["Content-Length"] == str(len(AUDIO) + 100)
        async with session.get(url) as resp:
            assert resp.status == 200
            async with asyncio.timeout(10):
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()
        store.client.remove_object(store.bucket, "mixed/acme/abc.flac")
        async with session.get(url) as resp:
            assert resp.status == 404 and "no longer in the archive" in await resp.text()


# What a visitor sees of an element: nothing when it is hidden, has no box or is missing.
SEEN = """
const el = document.querySelector(arguments[0]);
if (!el || !el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) { return null; }
const box = el.getBoundingClientRect();
return box.width > 0 && box.height > 0 ? el.innerText : null;
"""


async def _store_incomplete_meeting(mongo: Mongo) -> None:
    """A split meeting as the notifier stores it: part 1's engine answered for some windows of the transcript only
    (its action items, and ``insights_incomplete``), part 2's for none (its sections unavailable)."""
    first, second = incomplete_parts()
    meeting = Meeting(tenant="acme", meeting_uuid="partial==", generation=0, stage="notified", topic="Weekly sync")
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    parts = [
        StoredInsights(
            provider="assemblyai",
            conversation_id=f"partial-{index}",
            tenant="acme",
            meeting_uuid="partial==",
            job_id=f"partial-job-{index}",
            part_index=index,
            part_offset_seconds=3600.0 * index,
            insights=stored_insights.encode(insights),
            stored_at=datetime.now(tz=UTC),
        )
        for index, insights in enumerate((first, second))
    ]
    await mongo.db[INSIGHTS].insert_many([p.to_document() for p in parts])


async def test_a_visitor_reads_that_the_insights_are_incomplete(service: str, mongo: Mongo) -> None:
    """The e-mail says "Incomplete: …" and marks the section a part is missing from; the page served from the stored
    meeting must show a visitor the same, near the insights, not part 1's action items as if they were all."""
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    await _store_incomplete_meeting(mongo)
    url = page_url(service, make_page_token(KEY, "acme", "partial=="))
    async with chromium(ROOT / ".cache" / "browser" / "chromedriver-incomplete.log") as browser:
        await browser.go(url)
        assert await browser.run("return document.title") == "Weekly sync"
        notice = await browser.run(SEEN, "#incomplete")
        assert notice == (
            f"Incomplete: {WINDOW_FAILED}. The sections below miss what those parts hold; the transcript has it all."
        )
        between = "return document.querySelector('#speakers ~ #incomplete ~ #summary ~ #action-items') !== null"
        assert await browser.run(between), "the notice sits between the speakers and the insights"
        assert await browser.run(SEEN, "#action-items li:last-child") == f"(incomplete: {PART_FAILED})"
        assert "Send the deck" in await browser.run(SEEN, "#action-items li:first-child")
        assert await browser.run(SEEN, "#questions li") == f"(unavailable: {PART_FAILED})"
