"""The transcriber's liveness: a model thread stuck inside a segment long after it was told to stop makes
``/healthz`` fail (the pod is restarted: a thread cannot be killed, and it holds a core); before the limit, and
once the thread ended, the pod is alive. The service's own model context (the packaged tiny.en, then a stand-in
model that holds its segment) behind the service's real routes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.service import new_app
from zoomsymbl_transcriber.app import SETTINGS, TRANSCRIBER, _model_ctx
from zoomsymbl_transcriber.settings import Settings

from tests.support.audio import sine_flac
from tests.support.eventually import eventually
from tests.whisper.test_stop import HeldModel

LIMIT = 60.0


async def test_a_model_thread_stuck_past_the_limit_fails_healthz_until_it_ends(tmp_path: Path) -> None:
    settings = Settings(stuck_thread_seconds=LIMIT)
    app = new_app("transcriber", settings.infra, consumes=True)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_model_ctx)
    tone = sine_flac(tmp_path / "tone.flac", 3)
    async with TestClient(TestServer(app)) as client:
        transcriber = app[TRANSCRIBER]
        model = HeldModel()
        transcriber._model = model  # loaded (the packaged model, by the context); now one that holds its segment
        now = [0.0]
        transcriber._clock = lambda: now[0]

        channel = asyncio.create_task(transcriber.transcribe_channel(tone, 1))
        assert await asyncio.to_thread(model.entered.wait, 30)
        channel.cancel()  # what the channel deadline or a shutdown does
        with pytest.raises(asyncio.CancelledError):
            await channel

        now[0] = LIMIT  # told to stop LIMIT seconds ago: not yet past it
        assert (await client.get("/healthz")).status == 200
        now[0] = LIMIT + 1
        sick = await client.get("/healthz")
        body: dict[str, Any] = await sick.json()
        assert sick.status == 503 and body["status"] == "unhealthy"
        assert (
            body["checks"]["model-thread"] == "a model thread told to stop 61 s ago has not (stuck_thread_seconds 60)"
        )

        model.gate.set()  # the segment returns at last: the thread ends, the pod is alive again

        async def alive() -> bool:
            return (await client.get("/healthz")).status == 200

        await eventually(alive, timeout=30, what="/healthz to answer once the thread ended")
