"""A transcriber killed mid-job (an OOM kill, SIGKILL at the end of the grace period) leaves no audio behind for ever.

Before, the job's audio was ``{scratch_dir}/{job_id}.audio``, removed only by the run itself: each kill left a whole
meeting's file in the pod's ``emptyDir``, which survives container restarts, until its ``sizeLimit`` got the pod
evicted. Now each job works in a locked folder of its own and start-up removes the folders nobody holds; a live job's
folder in the same volume is left alone. Real MongoDB and S3; a real worker process killed with SIGKILL; stub models.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.service import new_app
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.app import SETTINGS, _kafka_ctx, _scratch_ctx, build_app
from zoomsymbl_transcriber.settings import Settings

from tests.support.eventually import eventually
from tests.transcriber.test_lease import HeldChannel, worker
from tests.transcriber.test_worker import M1_KEY, request, submitted

pytestmark = [pytest.mark.integration]

DOOMED = """
import asyncio, sys
from pathlib import Path
from zoomsymbl_common.events import JobSubmitted
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.worker import Worker

database, bucket, scratch, job_id, started = sys.argv[1:6]

class Held:
    def language_for(self, tag):
        return "en"

    async def transcribe_channel(self, path, channel, *, language=None):
        Path(started).write_text(str(path))
        await asyncio.Event().wait()  # until the process is killed

async def report(event):
    pass

async def main():
    infra = InfraSettings().model_copy(update={"mongo_database": database, "s3_bucket": bucket})
    store = ObjectStore(infra)
    worker = Worker(mongo=make_mongo(infra), store_for=lambda b: store, transcriber=Held(), publish=report,
                    scratch_dir=Path(scratch), owner="doomed", lease_seconds=900, model_name="stub", decoding="test")
    await worker.on_job_submitted(JobSubmitted(event_id="ev", tenant="acme", meeting_uuid="m1", provider="whisper",
                                               job_id=job_id, conversation_id=job_id))

asyncio.run(main())
"""


async def start_up(scratch: Path) -> None:
    """The transcriber's start-up on ``scratch`` (its scratch context: the one that needs no server)."""
    app = new_app("transcriber", Settings().infra, consumes=True)
    app[SETTINGS] = Settings(scratch_dir=scratch)
    app.cleanup_ctx.append(_scratch_ctx)
    async with TestClient(TestServer(app)):
        pass


async def test_the_audio_of_a_killed_worker_is_removed_at_start_up_and_a_live_jobs_is_left_alone(
    mongo: Mongo, store: ObjectStore, infra: InfraSettings, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    audio = tmp_path / "audio.flac"
    audio.write_bytes(b"not read by the stub models")
    await store.put_file(M1_KEY, str(audio))
    provider = WhisperProvider(mongo)
    killed_job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    live_job = await provider.submit(request(M1_KEY, store.bucket, channels=1))

    started = tmp_path / "started"
    script = tmp_path / "doomed.py"
    script.write_text(DOOMED)
    args = [sys.executable, str(script), infra.mongo_database, infra.s3_bucket, str(scratch), killed_job.job_id]
    child = await asyncio.create_subprocess_exec(*args, str(started), env=os.environ.copy())

    async def reached_its_channel() -> bool:
        return started.is_file() and started.read_text() != ""

    try:
        await eventually(reached_its_channel, timeout=60, what="the doomed worker to reach its channel")
    finally:
        child.send_signal(signal.SIGKILL)  # no clean-up runs
        await asyncio.wait_for(child.wait(), 30)
    left = Path(started.read_text())
    assert left.is_file() and left.stat().st_size > 0, "the killed run left its audio behind"

    model = HeldChannel()
    running = asyncio.create_task(
        worker(mongo, store, model, "scratch", tmp_path).on_job_submitted(submitted(live_job.job_id))
    )
    try:
        await asyncio.wait_for(model.started.wait(), 30)
        live_audio = [p for p in scratch.rglob("*") if p.is_file() and p != left and p.name != ".in-use"]
        assert len(live_audio) == 1

        await start_up(scratch)  # another transcriber starts on the same volume

        assert not left.exists()
        assert live_audio[0].is_file(), "a live job's audio is left alone"
    finally:
        model.finish.set()
        await asyncio.wait_for(running, 30)
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": live_job.job_id})
    assert doc is not None and doc["status"] == "completed"
    assert list(scratch.iterdir()) == [], "nothing is left once the live job ended"


def test_the_scratch_is_swept_before_any_work_order_is_taken() -> None:
    contexts = list(build_app(Settings()).cleanup_ctx)
    assert contexts.index(_scratch_ctx) < contexts.index(_kafka_ctx)
