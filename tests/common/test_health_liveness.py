"""``/healthz`` fails while a liveness check names a problem only a restart clears, and answers again after it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.health import add_liveness_check
from zoomsymbl_common.service import new_app
from zoomsymbl_common.settings import InfraSettings


async def test_healthz_answers_503_naming_each_problem_while_there_is_one() -> None:
    problem: list[str | None] = [None]
    app = new_app("mixer", InfraSettings())
    add_liveness_check(app, "stuck-thing", lambda: problem[0])
    add_liveness_check(app, "fine-thing", lambda: None)
    async with TestClient(TestServer(app)) as client:
        healthy = await client.get("/healthz")
        assert healthy.status == 200 and await healthy.json() == {"status": "ok"}

        problem[0] = "stuck for 901 s"
        sick = await client.get("/healthz")
        body: dict[str, Any] = await sick.json()
        assert sick.status == 503
        assert body == {"status": "unhealthy", "checks": {"stuck-thing": "stuck for 901 s"}}
        ready = await client.get("/readyz")
        assert ready.status == 200, "readiness is about servers; liveness alone restarts the pod"

        problem[0] = None
        assert (await client.get("/healthz")).status == 200
