"""The Zoom sandbox against Zoom's published contract where it used to be more lenient, or answer otherwise.

Each test names what the sandbox did before the 2026-12-05 comparison; the pages are in the modules' docstrings:
zoom_oauth.py (the token endpoint's refusals), zoom_limits.py (``X-RateLimit-Type: QPS``), zoom_api.py
(``page_size`` over 300 refused, the phone recordings window), zoom_call_history.py (its window).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_sandbox.zoom import Fault, PhoneCallSpec, ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_api import earliest_phone_day
from zoomsymbl_sandbox.zoom_specs import MeetingSpec, PastCallSpec

from tests.ingest.support import quick_meeting, sandbox_config

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
LINES = (("caller", "Hello, is this support?"), ("callee", "Yes, how can I help?"))  # cached, as test_zoom_phone's


@dataclass
class Zoom:
    sandbox: ZoomSandbox
    http: aiohttp.ClientSession
    clock: FakeClock

    async def token_answer(self, client_secret: str | None = None, **params: str) -> tuple[int, Any]:
        config = self.sandbox.config
        basic = base64.b64encode(f"{config.client_id}:{client_secret or config.client_secret}".encode()).decode()
        query = {"grant_type": "account_credentials", "account_id": config.account_id, **params}
        url = f"{self.sandbox.base_url}/oauth/token"
        async with self.http.post(url, params=query, headers={"Authorization": f"Basic {basic}"}) as response:
            return response.status, await response.json()

    async def get(self, path: str, **params: str) -> tuple[int, dict[str, str], Any]:
        status, token = await self.token_answer()
        assert status == 200
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        async with self.http.get(f"{self.sandbox.base_url}/v2{path}", params=params, headers=bearer) as response:
            return response.status, dict(response.headers), await response.json()


async def running(*meetings: MeetingSpec, **config: Any) -> AsyncIterator[Zoom]:
    clock = FakeClock(NOW)
    async with running_zoom_sandbox(sandbox_config(*meetings, **config), clock=lambda: clock().timestamp()) as sandbox:
        async with aiohttp.ClientSession() as http:
            yield Zoom(sandbox, http, clock)


@pytest.fixture
async def zoom() -> AsyncIterator[Zoom]:
    async for each in running(per_second_limits={"Medium": 1}, daily_limits={"Heavy": 1}):
        yield each


async def test_a_wrong_client_secret_is_a_400_invalid_client_as_zoom_answers_it(zoom: Zoom) -> None:
    # Before: 401. Zoom answers 400 {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}.
    assert await zoom.token_answer("not-the-secret") == (
        400,
        {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
    )
    assert await zoom.token_answer(account_id="someone-elses-account") == (
        400,
        {"reason": "Invalid request : Account ID is invalid", "error": "invalid_request"},
    )
    assert await zoom.token_answer(grant_type="client_credentials") == (
        400,
        {"reason": "unsupported grant type", "error": "unsupported_grant_type"},
    )
    assert zoom.sandbox.stats.token_issues == 0


async def test_a_deactivated_app_gets_no_token() -> None:
    # "Tokens stop working when the app is deactivated" (Zoom's S2S OAuth page); before, there was no such app.
    async for zoom in running(app_active=False):
        status, body = await zoom.token_answer()
        assert (status, body) == (400, {"reason": "The app has been disabled", "error": "invalid_client"})
        assert zoom.sandbox.stats.token_issues == 0


async def test_a_per_second_429_says_qps_with_zooms_headers(zoom: Zoom) -> None:
    # Before: X-RateLimit-Type: Per-second-limit (the older pages' word); Zoom's page says QPS.
    assert (await zoom.get("/users"))[0] == 200
    status, headers, body = await zoom.get("/users")
    assert status == 429
    assert {k: v for k, v in headers.items() if k.startswith("X-RateLimit")} == {
        "X-RateLimit-Category": "Medium",
        "X-RateLimit-Type": "QPS",
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
    }
    assert "Retry-After" not in headers
    assert body == {
        "code": 429,
        "message": "You have reached the maximum per-second rate limit for this API. Try again later.",
    }


async def test_a_daily_429_says_daily_limit_and_the_next_utc_midnight(zoom: Zoom) -> None:
    assert (await zoom.get("/metrics/meetings", type="past"))[0] == 200
    status, headers, body = await zoom.get("/metrics/meetings", type="past")
    assert status == 429
    assert (headers["X-RateLimit-Type"], headers["X-RateLimit-Category"]) == ("Daily-limit", "Resource-intensive")
    assert headers["Retry-After"] == "2026-12-04T00:00:00Z"
    assert body["message"] == (
        "You have reached the maximum daily rate limit for this API. "
        "Refer to the response header for details on when you can make another request."
    )


async def test_an_injected_429_is_a_qps_429_of_the_routes_label(zoom: Zoom) -> None:
    # Before: every injected 429 said "Heavy" and "Per-second-limit", whatever the route.
    zoom.sandbox.faults.add(Fault(route="get_recordings", kind="status", status=429, retry_after=2))
    status, headers, _ = await zoom.get("/meetings/none/recordings")
    assert status == 429
    assert (headers["X-RateLimit-Category"], headers["X-RateLimit-Type"], headers["Retry-After"]) == (
        "Light",
        "QPS",
        "2",
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users", {}),
        ("/users/me/recordings", {}),
        ("/phone/recordings", {}),
        ("/phone/call_history", {}),
        ("/metrics/meetings", {"type": "past"}),
        ("/past_meetings/m%3D%3D/participants", {}),
    ],
)
@pytest.mark.parametrize("size", ["301", "1000"])
async def test_a_page_size_over_300_is_refused_on_every_listing(path: str, params: dict[str, str], size: str) -> None:
    # Before: capped at 300 (200) everywhere but the call history; Zoom documents a maximum of 300 and no clamping.
    async for zoom in running(quick_meeting("m==")):
        status, _, body = await zoom.get(path, **params, page_size=size)
        assert (status, body["code"]) == (400, 300)
        assert "page_size" in body["message"]


def phone_call(recording_id: str, days_ago: int) -> PhoneCallSpec:
    start = NOW - timedelta(days=days_ago, hours=1)
    return PhoneCallSpec(recording_id=recording_id, call_id=f"id-{recording_id}", start_time=start, lines=LINES)


@pytest.fixture
async def phone() -> AsyncIterator[Zoom]:
    async for zoom in running():
        for days in (0, 20, 40):
            await zoom.sandbox.add_phone_call(phone_call(f"ago{days}", days))
        yield zoom


async def test_phone_recordings_default_to_the_last_30_days(phone: Zoom) -> None:
    # "If unspecified, returns data from the past 30 days." Before: yesterday and today only.
    status, _, body = await phone.get("/phone/recordings")
    assert status == 200
    assert (body["from"], body["to"]) == ((TODAY - timedelta(days=30)).isoformat(), TODAY.isoformat())
    assert [r["id"] for r in body["recordings"]] == ["ago0", "ago20"]


async def test_phone_recordings_need_to_with_from(phone: Zoom) -> None:
    # "to: Required only when from is specified." Before: a lone `from` listed up to today.
    status, _, body = await phone.get("/phone/recordings", **{"from": "2026-11-20"})
    assert (status, body["code"]) == (400, 300)
    assert "'to' field is required" in body["message"]


async def test_a_phone_range_longer_than_zoom_serves_is_answered_for_its_last_part(phone: Zoom) -> None:
    # "The response only includes one month of data at a time": 200, the answer's `from` saying where it starts.
    # Before: 400, so a client asking too much never met the answer that hides the rest.
    asked = (TODAY - timedelta(days=45), TODAY)
    status, _, body = await phone.get("/phone/recordings", **{"from": asked[0].isoformat(), "to": asked[1].isoformat()})
    assert status == 200
    assert (body["from"], body["to"]) == (earliest_phone_day(TODAY).isoformat(), TODAY.isoformat())
    assert [r["id"] for r in body["recordings"]] == ["ago0", "ago20"], "the call 40 days back is not in it"


@pytest.mark.parametrize(
    ("to", "earliest"),
    [
        (date(2026, 12, 3), date(2026, 11, 3)),  # a month (30 days) back
        (date(2026, 1, 31), date(2026, 1, 1)),  # 30 days back is later than a month (31 days) back
        (date(2026, 3, 1), date(2026, 2, 1)),  # a month (28 days) back is later than 30 days back
    ],
)
def test_the_phone_window_holds_30_days_and_a_month_whichever_is_shorter(to: date, earliest: date) -> None:
    assert earliest_phone_day(to) == earliest


async def test_a_call_history_range_longer_than_a_month_is_answered_for_its_last_month() -> None:
    # Before: 400 "must not exceed one month"; Zoom's call-logs listing answered 200 for the last month.
    past = tuple(
        PastCallSpec.model_validate(
            {"call_id": f"c{days}", "owner_email": "ann@example.com", "start_time": NOW - timedelta(days=days)}
        )
        for days in (1, 40)
    )
    async for zoom in running(past_calls=past):
        status, _, body = await zoom.get("/phone/call_history", **{"from": "2026-10-01", "to": "2026-12-03"})
        assert status == 200
        assert (body["from"], body["to"]) == ("2026-11-03", "2026-12-03")
        assert [c["call_id"] for c in body["call_history"]] == ["c1"]
