"""``python -m zoomsymbl_ingest`` as a real process: kill -9 loses nothing, SIGTERM drains.

The backfill (``zoomsymbl backfill``) is tested in test_backfill_command.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_common.settings import InfraSettings

from tests.ingest.support import (
    DOWNLOAD_TOKEN,
    SECRET,
    free_port,
    meeting_object,
    read_events,
    recording_body,
    signed_headers,
)
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration
Process = asyncio.subprocess.Process


def ingest_env(infra: InfraSettings, port: int, **tenant: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    env.update(
        {
            "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
            "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
            "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
            "ZOOMSYMBL_INGEST_HTTP_HOST": "127.0.0.1",
            "ZOOMSYMBL_INGEST_HTTP_PORT": str(port),
            "ZOOMSYMBL_TENANT_ID": "acme",
            "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": SECRET,
        }
    )
    env.update({f"ZOOMSYMBL_TENANT_{k.upper()}": v for k, v in tenant.items()})
    return env


@asynccontextmanager
async def ingest_process(env: dict[str, str], log: Path) -> AsyncIterator[Process]:
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zoomsymbl_ingest", env=env, stdout=sink, stderr=sink
        )
    try:
        await wait_ready(int(env["ZOOMSYMBL_INGEST_HTTP_PORT"]), process)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 30)


async def wait_ready(port: int, process: Process, limit: float = 30.0) -> None:
    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            assert process.returncode is None, "ingest exited during start-up"
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout=limit, what="ingest's /readyz to answer 200")


async def deliver(port: int, body: bytes) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/webhooks/zoom", data=body, headers=signed_headers(body)) as response,
    ):
        return response.status


async def test_killed_and_restarted_between_requests_nothing_is_lost(infra: InfraSettings, tmp_path: Path) -> None:
    port = free_port()
    env = ingest_env(infra, port)
    log = tmp_path / "ingest.log"
    first, second = recording_body(meeting_object("before-kill==")), recording_body(meeting_object("after-kill=="))
    async with ingest_process(env, log) as process:
        assert await deliver(port, first) == 200
        process.kill()  # SIGKILL: no shutdown hook runs
        await process.wait()
    async with ingest_process(env, log) as process:
        assert await deliver(port, second) == 200
        assert await deliver(port, first) == 200  # Zoom's retry of the first
        process.send_signal(signal.SIGTERM)  # graceful: drain, flush, exit 0
        assert await asyncio.wait_for(process.wait(), 40) == 0
    events = await read_events(infra, expect=2)
    assert {e.meeting_uuid for e in events} == {"after-kill==", "before-kill=="}
    # The receipt's "published" mark is written behind the 200, so a kill -9 right after it may lose
    # the mark: the retry then publishes the recording again, with the same event_id (consumers drop
    # it). What must hold: nothing lost, and never a second event_id for one recording.
    assert len({e.event_id for e in events if e.meeting_uuid == "before-kill=="}) == 1
    text = log.read_text(encoding="utf-8")
    published = text.count("recording published")
    assert published == 3 or (published == 2 and "recording already published" in text)
    assert DOWNLOAD_TOKEN not in text
    assert SECRET not in text
