"""The Symbl sandbox follows Symbl's contract and derives its answers from the real submitted audio."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver, make_tone_audio

from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes

ClientFactory = Callable[..., Any]
SPEAKERS = [
    {"channel": 1, "speaker": {"name": "Elisa L", "email": "elisa@example.com"}},
    {"channel": 2, "speaker": {"name": "Bob K", "email": "bob@example.com"}},
]


@pytest.fixture
def make_symbl(sandboxes: ProviderSandboxes) -> ClientFactory:
    """A test client on a new Symbl sandbox; keyword arguments override its config."""

    async def make(**config: Any) -> TestClient[Any, Any]:
        return await sandboxes.client(await sandboxes.symbl(**({"timings": JobTimings(0.2, 0.2)} | config)))

    return make


async def _token(client: TestClient[Any, Any]) -> dict[str, str]:
    body = {"type": "application", "appId": "sandbox-app-id", "appSecret": "sandbox-app-secret"}
    resp = await client.post("/oauth2/token:generate", json=body)
    assert resp.status == 200
    return {"x-api-key": (await resp.json())["accessToken"]}


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def _submit(
    client: TestClient[Any, Any],
    audio: Path,
    auth: dict[str, str],
    content_type: str | None = None,
    **query: str,
) -> tuple[int, dict[str, Any]]:
    """POST Audio; without ``content_type`` no Content-Type at all, as Symbl's docs ask for FLAC."""
    params = {"name": "weekly sync", "enableSeparateRecognitionPerChannel": "true"}
    params["channelMetadata"] = json.dumps(SPEAKERS)
    headers = auth | ({"Content-Type": content_type} if content_type else {})
    resp = await client.post(
        "/v1/process/audio",
        params=params | query,
        data=_read(audio),
        headers=headers,
        skip_auto_headers=() if content_type else ("Content-Type",),
    )
    return resp.status, await resp.json()


async def _wait_status(client: TestClient[Any, Any], auth: dict[str, str], job_id: str, status: str) -> None:
    async def current() -> str:
        body: dict[str, str] = await (await client.get(f"/v1/job/{job_id}", headers=auth)).json()
        return body["status"]

    await eventually(current, lambda seen: seen == status, what=f"job {job_id} to be {status!r}")


async def test_token_is_issued_counted_and_required(make_symbl: ClientFactory) -> None:
    client = await make_symbl(token_expires_in_s=3600)
    bad = await client.post("/oauth2/token:generate", json={"type": "application", "appId": "x", "appSecret": "y"})
    assert bad.status == 401
    assert "message" in await bad.json()
    assert (await client.get("/v1/job/nope")).status == 401
    auth = await _token(client)
    assert (await client.get("/v1/job/nope", headers=auth)).status == 404
    bearer = {"Authorization": f"Bearer {auth['x-api-key']}"}
    assert (await client.get("/v1/job/nope", headers=bearer)).status == 404
    unknown = await client.get("/v1/nothing-here", headers=auth)
    assert (unknown.status, await unknown.json()) == (404, {"message": "Not Found"})
    stats = await (await client.get("/_sandbox/stats")).json()
    assert stats["token_issues"] == 1


async def test_expired_token_is_refused(make_symbl: ClientFactory) -> None:
    client = await make_symbl(token_expires_in_s=0)
    resp = await client.post(
        "/oauth2/token:generate",
        json={"type": "application", "appId": "sandbox-app-id", "appSecret": "sandbox-app-secret"},
    )
    assert (await resp.json())["expiresIn"] == 0
    auth = {"x-api-key": (await resp.json())["accessToken"]}
    assert (await client.get("/v1/job/nope", headers=auth)).status == 401


async def test_job_walks_states_and_messages_follow_the_audio(
    make_symbl: ClientFactory, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    client = await make_symbl()
    auth = await _token(client)
    status, created = await _submit(client, tone_audio, auth, webhookUrl=f"{receiver.base_url}/symbl")
    assert status == 201, created
    assert (await (await client.get(f"/v1/job/{created['jobId']}", headers=auth)).json())["status"] == "scheduled"
    await receiver.wait_for(
        lambda cbs: any(c.payload == {"jobId": created["jobId"], "status": "completed"} for c in cbs)
    )
    assert [c.payload["status"] for c in receiver.callbacks] == ["in_progress", "completed"]  # type: ignore[index]
    conv = created["conversationId"]
    messages = (await (await client.get(f"/v1/conversations/{conv}/messages", headers=auth)).json())["messages"]
    assert [m["from"]["name"] for m in messages] == ["Elisa L", "Bob K"]
    assert [m["from"]["userId"] for m in messages] == ["elisa@example.com", "bob@example.com"]
    assert messages[0]["timeOffset"] == pytest.approx(0.5, abs=0.1)
    assert messages[1]["timeOffset"] == pytest.approx(2.0, abs=0.1)
    assert messages[1]["duration"] == pytest.approx(1.0, abs=0.1)
    assert messages[1]["text"] == "Segment 1 on channel 2 (1.0 s)"


async def test_insights_reference_the_messages(
    make_symbl: ClientFactory, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    client = await make_symbl()
    auth = await _token(client)
    _, created = await _submit(client, tone_audio, auth)
    await _wait_status(client, auth, created["jobId"], "completed")
    base = f"/v1/conversations/{created['conversationId']}"
    message_ids = {m["id"] for m in (await (await client.get(f"{base}/messages", headers=auth)).json())["messages"]}
    for path, key in [("topics", "topics"), ("questions", "questions"), ("action-items", "actionItems")]:
        items = (await (await client.get(f"{base}/{path}", headers=auth)).json())[key]
        assert len(items) == 2, path
        assert all(set(item["messageIds"]) <= message_ids for item in items)
    follow_ups = (await (await client.get(f"{base}/follow-ups", headers=auth)).json())["followUps"]
    assert follow_ups[0]["assignee"]["email"] == "bob@example.com"
    meta = await (await client.get(base, headers=auth)).json()
    assert [m["name"] for m in meta["members"]] == ["Elisa L", "Bob K"]


async def test_summary_is_404_until_generated(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl(summary_not_ready_calls=2)
    auth = await _token(client)
    _, created = await _submit(client, tone_audio, auth, enableSummary="true")
    url = f"/v1/conversations/{created['conversationId']}/summary"
    assert (await client.get(url, headers=auth)).status == 400  # not processed yet
    await _wait_status(client, auth, created["jobId"], "completed")
    for _ in range(2):
        resp = await client.get(url, headers=auth)
        assert resp.status == 404
        assert await resp.json() == {"message": "Summary is being generated"}
    summary = (await (await client.get(url, headers=auth)).json())["summary"]
    assert [item["text"] for item in summary] == [
        "Elisa L spoke for 1.0 s in 1 segments.",
        "Bob K spoke for 1.0 s in 1 segments.",
    ]
    exp = await client.post(
        f"/v1/conversations/{created['conversationId']}/experiences",
        json={"name": "verbose-text-summary"},
        headers=auth,
    )
    page_url = (await exp.json())["url"]
    assert page_url.startswith("http://127.0.0.1:")
    page = await client.get(page_url.split(str(client.server.port), 1)[1])
    assert "Bob K" in await page.text()


@pytest.mark.parametrize(
    "metadata",
    [
        SPEAKERS[:1],
        [*SPEAKERS, {"channel": 3, "speaker": {"name": "Eve", "email": ""}}],
        [SPEAKERS[0], SPEAKERS[0]],
        [{"channel": 0, "speaker": {"name": "Zero"}}, SPEAKERS[1]],
    ],
)
async def test_channel_metadata_must_match_the_file(
    make_symbl: ClientFactory, tone_audio: Path, metadata: list[dict[str, Any]]
) -> None:
    client = await make_symbl()
    status, body = await _submit(client, tone_audio, await _token(client), channelMetadata=json.dumps(metadata))
    assert status == 400
    assert "channel" in body["message"]


async def test_bad_audio_is_rejected(make_symbl: ClientFactory, tone_audio: Path, tmp_path: Path) -> None:
    client = await make_symbl(max_duration_s=3.0)
    auth = await _token(client)
    status, body = await _submit(client, tone_audio, auth)
    assert (status, "maximum" in body["message"]) == (400, True)
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"this is not audio" * 100)
    status, body = await _submit(client, junk, auth)
    assert status == 400
    assert not list((tmp_path / "symbl").iterdir())  # rejected uploads are not kept


async def test_concurrency_cap_answers_429_and_is_recorded(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl(max_concurrent_jobs=1)
    auth = await _token(client)
    first, _ = await _submit(client, tone_audio, auth, name="meeting-a")
    second, body = await _submit(client, tone_audio, auth, name="meeting-b")
    assert (first, second, body) == (201, 429, {"message": "Too many requests"})
    stats = await (await client.get("/_sandbox/stats")).json()
    assert stats["max_concurrency"] == 1
    assert stats["submissions_by_name"] == {"meeting-a": 1}
    assert stats["rejections"] == {"429": 1}
    assert stats["max_submits_in_1s_window"] == 2


async def test_simultaneous_submits_never_exceed_the_cap(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl(max_concurrent_jobs=2)
    auth = await _token(client)
    results = await asyncio.gather(*(_submit(client, tone_audio, auth, name=f"m{i}") for i in range(5)))
    assert sorted(status for status, _ in results) == [201, 201, 429, 429, 429]
    stats = await (await client.get("/_sandbox/stats")).json()
    assert (stats["max_concurrency"], stats["in_flight"], stats["submit_attempts"]) == (2, 2, 5)


async def test_rate_limit_answers_429(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl(rate_limit_per_s=0.5, rate_burst=1, max_concurrent_jobs=5)
    auth = await _token(client)
    statuses = [(await _submit(client, tone_audio, auth, name=f"m{i}"))[0] for i in range(2)]
    assert statuses == [201, 429]


async def test_failed_job_reports_failed(
    make_symbl: ClientFactory, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    client = await make_symbl(callback_id_field="id")
    auth = await _token(client)
    _, created = await _submit(client, tone_audio, auth, name="demo [fail]", webhookUrl=receiver.base_url)
    await receiver.wait_for(lambda cbs: len(cbs) == 2)
    assert receiver.callbacks[-1].payload == {"id": created["jobId"], "status": "failed"}
    messages = await client.get(f"/v1/conversations/{created['conversationId']}/messages", headers=auth)
    assert messages.status == 400


async def test_injected_faults(make_symbl: ClientFactory, receiver: CallbackReceiver, tone_audio: Path) -> None:
    client = await make_symbl(max_concurrent_jobs=5)
    auth = await _token(client)
    faults = {"reject_next": 1, "reject_status": 500, "drop_callbacks": 1, "duplicate_callbacks": 1}
    assert (await client.post("/_sandbox/faults", json=faults)).status == 200
    assert (await client.post("/_sandbox/faults", json={"nonsense": 1})).status == 400
    assert (await _submit(client, tone_audio, auth))[0] == 500
    status, created = await _submit(client, tone_audio, auth, webhookUrl=receiver.base_url)
    assert status == 201
    await _wait_status(client, auth, created["jobId"], "completed")
    await receiver.wait_for(lambda cbs: len(cbs) == 2)
    # in_progress was lost; completed arrived twice.
    assert [c.payload["status"] for c in receiver.callbacks] == ["completed", "completed"]  # type: ignore[index]
    stats = await (await client.get("/_sandbox/stats")).json()
    assert stats["callbacks"] == {"dropped": 1, "sent": 1, "duplicate": 1}


async def test_audio_by_url(make_symbl: ClientFactory, receiver: CallbackReceiver, tone_audio: Path) -> None:
    client = await make_symbl()
    auth = await _token(client)
    body = {
        "url": receiver.file_url("meeting.flac", tone_audio),
        "name": "by url",
        "channelMetadata": SPEAKERS,
        "enableSeparateRecognitionPerChannel": True,
    }
    resp = await client.post("/v1/process/audio/url", json=body, headers=auth)
    assert resp.status == 201
    created = await resp.json()
    await _wait_status(client, auth, created["jobId"], "completed")
    messages = await client.get(f"/v1/conversations/{created['conversationId']}/messages", headers=auth)
    assert len((await messages.json())["messages"]) == 2
    remote = await client.post("/v1/process/audio/url", json=body | {"url": "http://example.com/a.flac"}, headers=auth)
    assert remote.status == 400


async def test_a_summary_exists_only_when_enable_summary_was_given(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl(summary_not_ready_calls=1)
    auth = await _token(client)
    _, plain = await _submit(client, tone_audio, auth, name="no summary asked")
    _, asked = await _submit(client, tone_audio, auth, name="summary asked", enableSummary="true")
    for created in (plain, asked):
        await _wait_status(client, auth, created["jobId"], "completed")

    def url(created: dict[str, Any]) -> str:
        return f"/v1/conversations/{created['conversationId']}/summary"

    for _ in range(3):  # never generated, however often it is asked for
        resp = await client.get(url(plain), headers=auth)
        assert (resp.status, await resp.json()) == (200, {"summary": []})
    assert (await client.get(url(asked), headers=auth)).status == 404  # being generated
    summary = (await (await client.get(url(asked), headers=auth)).json())["summary"]
    assert [item["text"] for item in summary] == [
        "Elisa L spoke for 1.0 s in 1 segments.",
        "Bob K spoke for 1.0 s in 1 segments.",
    ]


@pytest.mark.parametrize("content_type", ["audio/flac", "application/octet-stream", "audio/ogg", "video/mp4"])
async def test_a_content_type_symbl_does_not_list_is_refused(
    make_symbl: ClientFactory, tone_audio: Path, content_type: str
) -> None:
    client = await make_symbl()
    status, body = await _submit(client, tone_audio, await _token(client), content_type)
    assert status == 400
    assert f"Content-Type {content_type!r} is not accepted" in body["message"]
    stats = await (await client.get("/_sandbox/stats")).json()
    assert stats["submissions_by_name"] == {}


async def test_a_declared_format_must_be_the_files(make_symbl: ClientFactory, tone_audio: Path, tmp_path: Path) -> None:
    client = await make_symbl(max_concurrent_jobs=5)
    auth = await _token(client)
    status, body = await _submit(client, tone_audio, auth, "audio/wav")
    assert (status, body["message"]) == (400, "Content-Type declares 'wav' audio but the file holds 'flac'")
    wav = make_tone_audio(tmp_path / "meeting.wav", [[(0.5, 1.5)], [(2.0, 3.0)]], duration_s=3.5)
    for media in ("audio/wav", "audio/wave", None):
        status, body = await _submit(client, wav, auth, media, name=f"wav as {media}")
        assert status == 201, body
    status, _ = await _submit(client, tone_audio, auth, None, name="flac, detected")
    assert status == 201


async def test_more_than_two_channels_are_refused(make_symbl: ClientFactory, tmp_path: Path) -> None:
    client = await make_symbl()
    auth = await _token(client)
    three = make_tone_audio(tmp_path / "three.flac", [[(0.5, 1.0)], [(1.5, 2.0)], [(2.5, 3.0)]], duration_s=3.5)
    status, body = await _submit(client, three, auth, enableSeparateRecognitionPerChannel="false")
    assert (status, body["message"]) == (400, "audio has 3 channels; mono and dual-channel audio files are supported")
    metadata = [*SPEAKERS, {"channel": 3, "speaker": {"name": "Chen W"}}]
    status, body = await _submit(client, three, auth, channelMetadata=json.dumps(metadata))
    assert status == 400
    assert body["message"] == "channelMetadata names channel 3; mono and dual-channel audio files are supported"


async def test_diarization_takes_priority_over_channel_metadata(make_symbl: ClientFactory, tone_audio: Path) -> None:
    client = await make_symbl()
    auth = await _token(client)
    _, created = await _submit(client, tone_audio, auth, enableSpeakerDiarization="true", diarizationSpeakerCount="2")
    await _wait_status(client, auth, created["jobId"], "completed")
    url = f"/v1/conversations/{created['conversationId']}/messages"
    messages = (await (await client.get(url, headers=auth)).json())["messages"]
    assert [m["from"]["name"] for m in messages] == ["Speaker 1", "Speaker 2"]
