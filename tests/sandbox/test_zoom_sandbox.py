"""The Zoom sandbox served on a loopback port: OAuth, the recordings API and webhooks."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL
from zoomsymbl_sandbox.zoom import (
    ZoomSandbox,
    ZoomSandboxConfig,
    build_zoom_app,
    is_valid_zoom_signature,
    running_zoom_sandbox,
    typical_meeting_spec,
    url_validation_response,
)

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"
SLASH_UUID = "/ajXp112QmuoKj4854875=="
DOUBLE_SLASH_UUID = "abc//def=="
PLAIN_UUID = "4444AAAiAAAAAiAiAiiAii=="
INNER_SLASH_UUID = "Qz9kT1uY/4mRpWc0Lx8vAg=="  # one "/" inside: single encoding is enough on Zoom
NO_SEPARATE_UUID = "mixOnlyMeetingUuid0000=="


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _at(day: int) -> datetime:
    return datetime(2025, 3, day, 10, 0, tzinfo=UTC)


CONFIG = ZoomSandboxConfig(
    cache_dir=CACHE,
    meetings=(
        typical_meeting_spec(SLASH_UUID, start_time=_at(10)),
        typical_meeting_spec(DOUBLE_SLASH_UUID, start_time=_at(12)),
        typical_meeting_spec(PLAIN_UUID, start_time=_at(14)),
        # February: out of the March listings the paging tests count.
        typical_meeting_spec(INNER_SLASH_UUID, start_time=_at(10) - timedelta(days=30)),
        typical_meeting_spec(NO_SEPARATE_UUID, start_time=_at(20), separate_audio=False),
    ),
)


@dataclass
class Zoom:
    sandbox: ZoomSandbox
    http: aiohttp.ClientSession

    def url(self, raw_path: str) -> URL:
        # encoded=True: the path goes out byte for byte, so %252F is not normalised away.
        return URL(f"{self.sandbox.base_url}{raw_path}", encoded=True)

    async def token(self) -> str:
        async with self.http.post(
            self.url("/oauth/token?grant_type=account_credentials&account_id=sandbox-account-id"),
            headers=_basic("sandbox-client-id", "sandbox-client-secret"),
        ) as response:
            assert response.status == 200
            body = await response.json()
        return str(body["access_token"])

    async def get_json(self, raw_path: str, token: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.get(self.url(raw_path), headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def zoom() -> AsyncIterator[Zoom]:
    async with running_zoom_sandbox(CONFIG) as sandbox, aiohttp.ClientSession() as http:
        yield Zoom(sandbox, http)


@dataclass
class Received:
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Received]]:
    """A webhook receiver that records what it got and answers url_validation correctly."""
    received = Received()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.requests.append((dict(request.headers), body))
        event = json.loads(body)
        if event["event"] == "endpoint.url_validation":
            plain = event["payload"]["plainToken"]
            secret = request.query.get("secret", CONFIG.webhook_secret)
            return web.json_response(url_validation_response(secret, plain))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/hook")), received


async def test_oauth_issues_bearer_token_for_good_credentials(zoom: Zoom) -> None:
    async with zoom.http.post(
        zoom.url("/oauth/token?grant_type=account_credentials&account_id=sandbox-account-id"),
        headers=_basic("sandbox-client-id", "sandbox-client-secret"),
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) > 100
    assert zoom.sandbox.stats.token_issues == 1


async def test_oauth_rejects_wrong_secret(zoom: Zoom) -> None:
    # Zoom answers a wrong client id or secret with 400, not 401 (zoom_oauth.py names the pages).
    async with zoom.http.post(
        zoom.url("/oauth/token?grant_type=account_credentials&account_id=sandbox-account-id"),
        headers=_basic("sandbox-client-id", "wrong"),
    ) as response:
        assert response.status == 400
        assert await response.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert zoom.sandbox.stats.token_issues == 0


async def test_expired_token_is_refused_until_refreshed_once(zoom: Zoom) -> None:
    token = await zoom.token()
    async with zoom.http.post(zoom.url("/_sandbox/tokens/expire"), json={"kind": "access"}) as response:
        assert response.status == 200
    status, body = await zoom.get_json("/v2/users/me/recordings?from=2025-03-01&to=2025-03-31", token)
    assert (status, body) == (401, {"code": 124, "message": "Access token is expired."})
    status, _ = await zoom.get_json("/v2/users/me/recordings?from=2025-03-01&to=2025-03-31", await zoom.token())
    assert status == 200
    assert zoom.sandbox.stats.token_issues == 2


async def test_api_requires_a_bearer_token(zoom: Zoom) -> None:
    async with zoom.http.get(zoom.url("/v2/users/me/recordings")) as response:
        assert response.status == 401
        assert await response.json() == {"code": 124, "message": "Invalid access token."}


async def test_listing_pages_through_next_page_token(zoom: Zoom) -> None:
    token = await zoom.token()
    query = "/v2/users/me/recordings?from=2025-03-01&to=2025-03-31&page_size=2"
    status, first = await zoom.get_json(query, token)
    assert status == 200
    assert first["total_records"] == 4
    assert [m["uuid"] for m in first["meetings"]] == [NO_SEPARATE_UUID, PLAIN_UUID]
    assert first["next_page_token"]
    status, second = await zoom.get_json(f"{query}&next_page_token={first['next_page_token']}", token)
    assert status == 200
    assert [m["uuid"] for m in second["meetings"]] == [DOUBLE_SLASH_UUID, SLASH_UUID]
    assert second["next_page_token"] == ""


async def test_listing_filters_by_window_and_host(zoom: Zoom) -> None:
    token = await zoom.token()
    status, body = await zoom.get_json("/v2/users/host%40example.com/recordings?from=2025-03-11&to=2025-03-15", token)
    assert status == 200
    assert {m["uuid"] for m in body["meetings"]} == {DOUBLE_SLASH_UUID, PLAIN_UUID}
    status, body = await zoom.get_json("/v2/users/nobody%40example.com/recordings", token)
    assert (status, body["code"]) == (404, 1001)


async def test_a_window_over_one_month_is_answered_for_its_last_month_as_zoom_does(zoom: Zoom) -> None:
    # Zoom answers 200 for the last month, its `from` saying so (github.com/zoom/api/issues/36); the sandbox refused
    # it (400), so a client asking too much never met the answer that leaves February's meeting out unseen.
    token = await zoom.token()
    status, body = await zoom.get_json("/v2/users/me/recordings?from=2025-01-01&to=2025-03-31", token)
    assert status == 200
    assert (body["from"], body["to"]) == ("2025-02-28", "2025-03-31")
    assert {m["uuid"] for m in body["meetings"]} == {SLASH_UUID, DOUBLE_SLASH_UUID, PLAIN_UUID, NO_SEPARATE_UUID}
    status, body = await zoom.get_json("/v2/users/me/recordings?from=2025-02-01&to=2025-02-28", token)
    assert [m["uuid"] for m in body["meetings"]] == [INNER_SLASH_UUID]
    status, body = await zoom.get_json("/v2/users/me/recordings?from=2025-03-02&to=2025-03-01", token)
    assert (status, body["code"]) == (400, 300)


async def test_a_page_size_over_300_is_refused_not_capped(zoom: Zoom) -> None:
    # Zoom documents 300 as the maximum and no clamping: the sandbox refuses more (zoom_api.page_size).
    status, body = await zoom.get_json(
        "/v2/users/me/recordings?from=2025-03-01&to=2025-03-31&page_size=1000", await zoom.token()
    )
    assert (status, body["code"]) == (400, 300)
    assert "page_size" in body["message"]
    status, body = await zoom.get_json(
        "/v2/users/me/recordings?from=2025-03-01&to=2025-03-31&page_size=300", await zoom.token()
    )
    assert (status, body["page_size"]) == (200, 300)


@pytest.mark.parametrize("uuid", [SLASH_UUID, DOUBLE_SLASH_UUID, PLAIN_UUID, INNER_SLASH_UUID])
async def test_double_encoded_uuid_is_found(zoom: Zoom, uuid: str) -> None:
    encoded = quote(quote(uuid, safe=""), safe="")
    status, body = await zoom.get_json(f"/v2/meetings/{encoded}/recordings", await zoom.token())
    assert status == 200
    assert body["uuid"] == uuid
    assert "download_access_token" not in body


@pytest.mark.parametrize("uuid", [SLASH_UUID, DOUBLE_SLASH_UUID])
async def test_single_encoded_uuid_is_not_found(zoom: Zoom, uuid: str) -> None:
    status, body = await zoom.get_json(f"/v2/meetings/{quote(uuid, safe='')}/recordings", await zoom.token())
    assert (status, body) == (404, {"code": 3301, "message": "This recording does not exist."})


@pytest.mark.parametrize("uuid", [PLAIN_UUID, INNER_SLASH_UUID])
async def test_single_encoded_uuid_without_a_leading_or_double_slash_is_found(zoom: Zoom, uuid: str) -> None:
    status, body = await zoom.get_json(f"/v2/meetings/{quote(uuid, safe='')}/recordings", await zoom.token())
    assert (status, body["uuid"]) == (200, uuid)


@pytest.mark.parametrize("uuid", [INNER_SLASH_UUID, SLASH_UUID, DOUBLE_SLASH_UUID])
async def test_a_uuid_sent_with_a_raw_slash_is_not_found(zoom: Zoom, uuid: str) -> None:
    # "/" left unencoded splits the path: Zoom routes it nowhere and answers its "no recording" 404.
    raw = quote(uuid, safe="/")
    status, body = await zoom.get_json(f"/v2/meetings/{raw}/recordings", await zoom.token())
    assert (status, body) == (404, {"code": 3301, "message": "This recording does not exist."})


async def test_download_access_token_only_when_asked_for_and_it_downloads(zoom: Zoom) -> None:
    status, body = await zoom.get_json(
        f"/v2/meetings/{quote(PLAIN_UUID, safe='')}/recordings?include_fields=download_access_token",
        await zoom.token(),
    )
    assert status == 200
    audio = next(f for f in body["recording_files"] if f["recording_type"] == "audio_only")
    headers = {"Authorization": f"Bearer {body['download_access_token']}"}
    async with zoom.http.get(audio["download_url"], headers=headers) as response:
        assert response.status == 200
        assert len(await response.read()) == audio["file_size"]


async def test_meeting_object_shape(zoom: Zoom) -> None:
    status, body = await zoom.get_json(f"/v2/meetings/{quote(PLAIN_UUID, safe='')}/recordings", await zoom.token())
    assert status == 200
    assert body["account_id"] == "sandbox-account-id"
    assert (body["type"], body["start_time"], body["recording_count"]) == (2, "2025-03-14T10:00:00Z", 2)
    assert {f["file_type"] for f in body["recording_files"]} == {"M4A", "MP4"}
    names = [f["file_name"] for f in body["participant_audio_files"]]
    assert names == ["Audio only - Elisa L", "Audio only - Jean-Luc Pérez", "Audio only - Zoë 🎧 Ng"]
    starts = [f["recording_start"] for f in body["participant_audio_files"]]
    assert starts == ["2025-03-14T10:00:00Z", "2025-03-14T10:00:06Z", "2025-03-14T10:00:11Z"]
    assert all(
        f["download_url"].startswith(f"{zoom.sandbox.base_url}/rec/download/") for f in body["participant_audio_files"]
    )


async def test_participant_audio_is_absent_without_separate_audio(zoom: Zoom) -> None:
    status, body = await zoom.get_json(
        f"/v2/meetings/{quote(NO_SEPARATE_UUID, safe='')}/recordings", await zoom.token()
    )
    assert status == 200
    assert "participant_audio_files" not in body
    assert body["recording_files"][0]["recording_type"] == "audio_only"


async def test_recording_completed_webhook_is_signed_and_downloadable(
    zoom: Zoom, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    status = await zoom.sandbox.send_recording_completed(zoom.http, url, PLAIN_UUID)
    assert status == 200
    headers, raw = received.requests[0]
    assert headers["Content-Type"] == "application/json"
    timestamp = headers["x-zm-request-timestamp"]
    assert timestamp.isdigit() and len(timestamp) == 10
    assert is_valid_zoom_signature(CONFIG.webhook_secret, timestamp, raw, headers["x-zm-signature"])
    assert "Zoë 🎧 Ng".encode() in raw  # unescaped UTF-8, as Zoom sends it
    event = json.loads(raw)
    assert event["event"] == "recording.completed"
    assert event["event_ts"] > 1_600_000_000_000
    track = event["payload"]["object"]["participant_audio_files"][2]
    bearer = {"Authorization": f"Bearer {event['download_token']}"}
    async with zoom.http.get(track["download_url"], headers=bearer) as response:
        assert response.status == 200
        assert len(await response.read()) == track["file_size"]


async def test_webhook_trigger_over_http(zoom: Zoom, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    order = {"meeting_uuid": SLASH_UUID, "target_url": url, "event_ts": 1_700_000_000_123}
    async with zoom.http.post(zoom.url("/_sandbox/webhooks/recording-completed"), json=order) as response:
        assert await response.json() == {"status": 200}
    event = json.loads(received.requests[0][1])
    assert (event["event_ts"], event["payload"]["object"]["uuid"]) == (1_700_000_000_123, SLASH_UUID)


async def test_url_validation_accepts_right_answer_and_rejects_wrong_one(
    zoom: Zoom, receiver: tuple[str, Received]
) -> None:
    url, _ = receiver
    good = await zoom.sandbox.send_url_validation(zoom.http, url)
    assert (good.ok, good.status) == (True, 200)
    bad = await zoom.sandbox.send_url_validation(zoom.http, f"{url}?secret=not-the-secret")
    assert not bad.ok
    assert "encryptedToken" in bad.reason


async def test_participants_endpoint_names_and_emails(zoom: Zoom) -> None:
    encoded = quote(quote(SLASH_UUID, safe=""), safe="")
    status, body = await zoom.get_json(f"/v2/past_meetings/{encoded}/participants", await zoom.token())
    assert status == 200
    assert [(p["name"], p["user_email"]) for p in body["participants"]] == [
        ("Elisa L", "elisa@example.com"),
        ("Jean-Luc Pérez", "jean-luc@example.com"),
        ("Zoë 🎧 Ng", ""),
    ]


async def test_unbound_app_adds_meetings_at_runtime_with_urls_from_host_header() -> None:
    app = build_zoom_app(ZoomSandboxConfig(cache_dir=CACHE))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        spec = typical_meeting_spec("addedLater000000000000==", start_time=_at(5)).model_dump(mode="json")
        response = await client.post("/_sandbox/meetings", json=spec)
        assert response.status == 201
        body = await response.json()
        host = f"http://127.0.0.1:{client.port}"
        assert body["recording_files"][0]["download_url"].startswith(f"{host}/rec/download/")
        response = await client.post("/_sandbox/meetings", json={"uuid": "x", "participants": []})
        assert response.status == 400
        listed = await (await client.get("/_sandbox/meetings")).json()
        assert [m["uuid"] for m in listed["meetings"]] == ["addedLater000000000000=="]
