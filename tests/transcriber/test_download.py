"""The mixed file's download ends within a deadline its size sets, however slowly the storage endpoint answers.

Before, each read had the S3 client's read timeout (30 s) and the download as a whole none: an endpoint that sent a
few bytes every now and then held the worker (and, its lease renewed all along, the job) for as long as it went on.
Now past :class:`DownloadDeadline` the download stops, nothing of it stays on disk, and the job is tried again
within the attempt budget, then failed naming the deadline.

The storage is a real local HTTP server answering as S3 does (HEAD: the object's size and ETag; GET: its bytes),
trickling the bytes; the S3 client is the service's own. The rest as in the handler tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_transcriber.download import DownloadDeadline

from tests.support.http_servers import Servers
from tests.transcriber.test_handlers import KEY, POLICY, FlakyStore, Rig, StubTranscriber
from tests.transcriber.test_worker import Reports, make_worker, request, submitted

pytestmark = [pytest.mark.integration]
SIZE = 4_000
PAUSE = 0.05  # the server's pause between two bytes: the whole object would take 200 s
BUCKET = "trickle"


class Trickle:
    """S3 as a degraded endpoint serves one object: its size and ETag at once, its bytes one at a time."""

    def __init__(self) -> None:
        self.gets = 0
        self.sent = 0

    async def serve(self, request: web.Request) -> web.StreamResponse:
        headers = {"ETag": '"0123456789abcdef"', "Content-Length": str(SIZE), "Content-Type": "audio/flac"}
        if request.method == "HEAD":
            return web.Response(headers=headers)
        self.gets += 1
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        try:
            for _ in range(SIZE):
                await response.write(b"x")
                self.sent += 1
                await asyncio.sleep(PAUSE)
        except ConnectionError:  # the client went away
            pass
        return response


@pytest.fixture
async def trickle(infra: InfraSettings) -> AsyncIterator[tuple[Trickle, FlakyStore]]:
    servers, handler = Servers(), Trickle()
    server = await servers.start(handler.serve)
    endpoint = {"s3_endpoint": f"{server.host}:{server.port}", "s3_secure": False, "s3_bucket": BUCKET}
    yield handler, FlakyStore(infra.model_copy(update=endpoint), [])
    await servers.close()


async def test_a_trickling_download_is_stopped_at_its_deadline_retried_and_the_job_failed_naming_it(
    trickle: tuple[Trickle, FlakyStore], mongo: Mongo, infra: InfraSettings, tmp_path: Path
) -> None:
    handler, store = trickle
    model, reports = StubTranscriber(), Reports()
    deadline = DownloadDeadline(min_bytes_per_second=1_000_000, min_seconds=1.0)  # 4 kB: the floor, 1 s
    worker = make_worker(mongo, store, model, tmp_path, publish=reports, download=deadline)
    provider = WhisperProvider(mongo)
    order = await provider.submit(request(KEY, BUCKET, channels=1))
    on = Rig(worker, store, model, reports, provider, infra)

    await on.deliver(submitted(order.job_id))

    assert handler.gets == store.downloads == POLICY.max_attempts, "each attempt downloaded, and was stopped"
    assert 0 < handler.sent < SIZE
    state = await provider.job_status(order.job_id)
    assert state.status == "failed" and state.reason is not None
    assert "the mixed file (4,000 bytes) was not downloaded within its deadline of 1 s" in state.reason
    [letter] = on.letters
    assert letter.error_type == "DownloadOverdue"
    assert [e.reported_status for e in reports.events] == ["failed"]
    assert model.channels == [], "nothing transcribed"
    assert [p for p in worker.scratch_dir.rglob("*") if p.is_file()] == [], "nothing of the download left on disk"


def test_the_deadline_follows_the_files_size_above_its_floor() -> None:
    deadline = DownloadDeadline(min_bytes_per_second=1_000_000, min_seconds=300)
    assert deadline.seconds(10_000) == 300
    assert deadline.seconds(2_000_000_000) == 2_000
