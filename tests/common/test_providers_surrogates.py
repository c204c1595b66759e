"""A lone UTF-16 surrogate in a provider's answer: valid JSON, but no UTF-8 (so no BSON) holds it.

Python's JSON parser reads ``"a\\ud800b"`` as a string holding the code point U+D800. Stored as it came, the
notifier's ``InsightsStore.put`` raised ``UnicodeEncodeError``; every retry ran the insights engine again and
the meeting failed instead of getting its report. Every text a provider's answer yields now has its lone
surrogates replaced by U+FFFD (``providers.base.encodable``), where the answer is parsed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import bson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common import stored_insights
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.providers import base, whisper, zoom_transcript
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider, parse_topics, parse_utterances
from zoomsymbl_common.providers.assemblyai_understanding import action_items, summary_topics
from zoomsymbl_common.providers.base import Insights, JobState, SubmittedJob, TranscriptMessage, bound_transcript
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.providers.symbl_insights import parse_items, parse_messages, parse_summary

from tests.support.http_servers import Servers
from tests.support.providers import submit_request

LONE = "\ud800"
HIGH_THEN_LOW_REVERSED = "\udfff\ud800"  # a pair in the wrong order is two lone surrogates
ANSWERED = f"a{LONE}b{HIGH_THEN_LOW_REVERSED}c"
"""A provider's text as Python's parser reads it from ``"a\\ud800b\\udfff\\ud800c"``."""
REPLACED = "a\ufffdb\ufffd\ufffdc"
Routes = dict[str, Any]


def answer(value: object) -> Any:
    """``value`` as it arrives: sent as JSON text (surrogates as ``\\uXXXX`` escapes) and parsed again."""
    return json.loads(json.dumps(value))


def stored(insights: Insights) -> bytes:
    """The BSON of ``insights`` as the notifier's store writes it (raises on text no UTF-8 holds)."""
    return bson.encode(stored_insights.encode(insights))


def texts(value: object) -> list[str]:
    """Every string inside ``value`` (dataclasses, tuples, dicts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in texts(k) + texts(v)]
    if isinstance(value, tuple | list):
        return [t for v in value for t in texts(v)]
    if dataclasses.is_dataclass(value):
        return [t for f in dataclasses.fields(value) for t in texts(getattr(value, f.name))]
    return []


def assert_encodable(insights: Insights) -> None:
    assert stored(insights)
    found = texts(insights)
    assert found
    assert not [t for t in found if any("\ud800" <= c <= "\udfff" for c in t)]


def test_the_helper_replaces_each_lone_surrogate_and_leaves_other_text_alone() -> None:
    assert answer(ANSWERED) == ANSWERED  # the parser hands the surrogates on
    assert base.encodable(ANSWERED) == REPLACED
    real = "Zoë Ø 李小龙 \U0001f600"  # a surrogate pair in the answer is one character once parsed
    assert answer(real) == real
    assert base.encodable(real) is real
    assert base.encodable(None) is None
    assert base.encodable("") == ""


def test_symbl_messages_items_and_summary_are_stored() -> None:
    messages = parse_messages(
        answer(
            [
                {
                    "text": ANSWERED,
                    "timeOffset": 1,
                    "duration": 2,
                    "from": {"name": f"Ann{LONE}", "userId": f"ann{LONE}@example.com"},
                }
            ]
        )
    )
    items = parse_items(answer([{"text": ANSWERED, "assignee": {"name": f"Bo{LONE}"}, "dueBy": f"2026{LONE}"}]))
    summary = parse_summary(answer([{"text": ANSWERED}]))
    one_string = parse_summary(answer(ANSWERED))

    assert [(m.text, m.speaker, m.email) for m in messages] == [(REPLACED, "Ann\ufffd", "ann\ufffd@example.com")]
    assert [(i.text, i.assignee, i.due) for i in items] == [(REPLACED, "Bo\ufffd", "2026\ufffd")]
    assert summary == one_string == (REPLACED,)
    assert_encodable(
        Insights(
            messages=messages, topics=items, questions=items, action_items=items, follow_ups=items, summary=summary
        )
    )


def test_assemblyai_utterances_topics_summary_and_action_items_are_stored() -> None:
    utterances = parse_utterances(answer([{"text": ANSWERED, "start": 0, "end": 900, "speaker": f"A{LONE}"}]))
    topics = parse_topics(answer({"summary": {f"Business>Finance{LONE}": 0.9}}))
    understanding = answer(
        {
            "response": {
                "summarization": {"summary": [{"headline": f"Plan{LONE}", "text": ANSWERED, "start": 0}]},
                "action_items": {
                    "action_items": [
                        {
                            "text": ANSWERED,
                            "assignee": f"Bo{LONE}",
                            "speaker": f"Ann{LONE}",
                            "quote": ANSWERED,
                            "due": f"Friday{LONE}",
                        }
                    ]
                },
            }
        }
    )
    summary, _ = summary_topics(understanding)
    actions, _ = action_items(understanding)

    assert [(m.speaker, m.text) for m in utterances] == [("Speaker A\ufffd", REPLACED)]
    assert [t.text for t in topics] == ["Finance\ufffd"]
    assert [(t.headline, t.text) for t in summary] == [("Plan\ufffd", REPLACED)]
    assert [(a.text, a.assignee, a.speaker, a.quote, a.due) for a in actions] == [
        (REPLACED, "Bo\ufffd", "Ann\ufffd", REPLACED, "Friday\ufffd")
    ]
    assert_encodable(Insights(messages=utterances, topics=topics, summary_topics=summary, action_items=actions))


def test_every_transcript_path_replaces_them_in_the_shared_bound() -> None:
    # Whisper's and Zoom's readers end in bound_transcript too (their stored utterances cannot hold one: below).
    messages = bound_transcript([TranscriptMessage(f"Ann{LONE}", ANSWERED, 0.0, 1.0, email=f"a{LONE}@example.com")])
    assert [(m.speaker, m.text, m.email) for m in messages] == [("Ann\ufffd", REPLACED, "a\ufffd@example.com")]
    assert_encodable(Insights(messages=messages))


@pytest.mark.parametrize("read", [whisper.messages_from, zoom_transcript.messages_from], ids=["whisper", "zoom"])
def test_a_stored_utterance_no_utf8_holds_is_skipped_and_the_others_kept(
    read: Callable[[dict[str, Any]], tuple[TranscriptMessage, ...]],
) -> None:
    rows = [
        {"channel": 1, "start": 0.0, "end": 1.0, "text": ANSWERED, "speaker": "Ann"},
        {"channel": 1, "start": 1.0, "end": 2.0, "text": "kept", "speaker": "Ann"},
    ]
    messages = read({"utterances": rows})
    assert [m.text for m in messages] == ["kept"]
    assert_encodable(Insights(messages=messages))


def test_a_job_s_failure_reason_is_replaced_too() -> None:
    assert JobState("failed", reason=answer(ANSWERED)).reason == REPLACED


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Routes], Awaitable[TestServer]]]:
    """Starts a server answering each path of ``routes`` with its JSON (sent as text, as a provider would)."""
    servers = Servers()

    async def start(routes: Routes) -> TestServer:
        async def handler(request: web.Request) -> web.Response:
            if request.path not in routes:
                return web.json_response({"error": "not found"}, status=404)
            return web.Response(text=json.dumps(routes[request.path]), content_type="application/json")

        return await servers.start(handler)

    yield start
    await servers.close()


async def test_assemblyai_insights_over_http_are_stored(
    session: aiohttp.ClientSession, serve: Callable[[Routes], Awaitable[TestServer]]
) -> None:
    transcript = {
        "id": "t1",
        "status": "completed",
        "utterances": [{"text": ANSWERED, "start": 0, "end": 900, "channel": "1"}],
        "iab_categories_result": {"summary": {f"News>Tech{LONE}": 0.5}},
        "speech_understanding": {
            "response": {
                "summarization": {"summary": [{"headline": f"H{LONE}", "text": ANSWERED, "start": 0, "end": 900}]},
                "action_items": {"action_items": [{"text": ANSWERED, "assignee": f"Bo{LONE}"}]},
            }
        },
    }
    server = await serve({"/v2/transcript/t1": transcript})
    provider = AssemblyAIProvider(session, api_key="k", api_base=str(server.make_url("")))

    insights = await provider.fetch_insights(SubmittedJob("t1", "t1"))

    assert insights.messages[0].text == REPLACED
    assert {t.text for t in insights.topics} == {"Tech\ufffd", "H\ufffd"}
    assert_encodable(insights)


async def test_symbl_insights_over_http_are_stored(
    session: aiohttp.ClientSession, serve: Callable[[Routes], Awaitable[TestServer]]
) -> None:
    base = "/v1/conversations/c1"
    item = {"text": ANSWERED, "assignee": {"name": f"Bo{LONE}"}}
    server = await serve(
        {
            "/oauth2/token:generate": {"accessToken": "token", "expiresIn": 86_400},
            f"{base}/messages": {"messages": [{"text": ANSWERED, "timeOffset": 0, "from": {"name": f"A{LONE}"}}]},
            f"{base}/topics": {"topics": [item]},
            f"{base}/questions": {"questions": [item]},
            f"{base}/action-items": {"actionItems": [item]},
            f"{base}/follow-ups": {"followUps": [item]},
            f"{base}/summary": {"summary": [{"text": ANSWERED}]},
            f"{base}/experiences": {"url": f"https://meetinginsights.symbl.ai/{LONE}"},
        }
    )
    provider = SymblProvider(session, app_id="id", app_secret=SecretStr("s"), api_base=str(server.make_url("")))

    insights = await provider.fetch_insights(SubmittedJob("j1", "c1"))

    assert insights.summary == (REPLACED,)
    assert insights.summary_url is None  # a link with a control character is none
    assert_encodable(insights)


async def test_a_job_id_no_utf8_holds_is_poison_not_replaced(
    session: aiohttp.ClientSession, serve: Callable[[Routes], Awaitable[TestServer]]
) -> None:
    # A replaced id would name no job at the provider; stored as it came, it cannot be stored at all.
    server = await serve(
        {
            "/v2/transcript": {"id": f"t{LONE}"},
            "/oauth2/token:generate": {"accessToken": "token", "expiresIn": 86_400},
            "/v1/process/audio/url": {"jobId": f"j{LONE}", "conversationId": "c1"},
        }
    )
    base = str(server.make_url(""))
    request = submit_request(b"", "https://hooks.example/cb", audio=None, audio_url=SecretStr("https://s3.example/a"))
    assemblyai = AssemblyAIProvider(session, api_key="k", api_base=base)
    symbl = SymblProvider(session, app_id="id", app_secret=SecretStr("s"), api_base=base)

    with pytest.raises(PoisonInputError, match="no UTF-8 holds"):
        await assemblyai.submit(request)
    with pytest.raises(PoisonInputError, match="no UTF-8 holds"):
        await symbl.submit(request)
