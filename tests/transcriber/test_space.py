"""The job's audio is checked against the scratch volume before it is downloaded.

Before, the download was not bounded: a mixed file larger than the volume ran an ``emptyDir`` past its
``sizeLimit`` (the pod evicted on every delivery) or filled the disk, an ``OSError`` retried until the job failed
with a disk error. Now a file the volume can never hold fails its job at once, naming both sizes; one that does not
fit now is retried, and goes through once there is room. Real MongoDB and S3; a stub model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.settings import Settings
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

pytestmark = [pytest.mark.integration]
MIB = 1 << 20


def make_worker(mongo: Mongo, store: ObjectStore, scratch: Path, limit: int) -> tuple[Worker, StubTranscriber, Reports]:
    model, reports = StubTranscriber(), Reports()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=model,
        publish=reports,
        scratch_dir=scratch,
        scratch_limit=limit,
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
    )
    return worker, model, reports


async def stored_audio(store: ObjectStore, tmp_path: Path, size: int) -> None:
    audio = tmp_path / "m1.flac"
    audio.write_bytes(os.urandom(size))  # never decoded: the stub model reads nothing
    await store.put_file(M1_KEY, str(audio))


async def test_audio_larger_than_the_scratch_volume_fails_its_job_before_any_download(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    await stored_audio(store, tmp_path, 3 * MIB)
    provider = WhisperProvider(mongo)
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    worker, model, reports = make_worker(mongo, store, tmp_path / "scratch", limit=2 * MIB)

    await worker.on_job_submitted(submitted(job.job_id))

    state = await provider.job_status(job.job_id)
    assert state.status == "failed"
    assert state.reason == (
        "the mixed file is 3.1 MB and the scratch volume holds 2.1 MB in all: raise transcriber.scratch.size"
    )
    assert model.channels == [], "nothing is transcribed"
    assert [e.reported_status for e in reports.events] == ["failed"]
    assert list(worker.scratch_dir.iterdir()) == [], "nothing was downloaded"


async def test_audio_that_does_not_fit_now_is_retried_and_goes_through_once_there_is_room(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    await stored_audio(store, tmp_path, 2 * MIB)
    provider = WhisperProvider(mongo)
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    leftover = scratch / "leftover"
    leftover.write_bytes(b"\0" * (3 * MIB))  # what another job's download holds on the volume now
    worker, model, reports = make_worker(mongo, store, scratch, limit=4 * MIB)

    with pytest.raises(
        RetryableError, match=r"the mixed file is 2\.1 MB and the scratch volume has 1\.0 MB free now"
    ) as raised:
        await worker.on_job_submitted(submitted(job.job_id))
    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert (await provider.job_status(job.job_id)).status == "in_progress", "not failed: there is room later"
    assert model.channels == [] and reports.events == []
    assert sorted(p.name for p in scratch.iterdir()) == ["leftover"], "nothing was downloaded"

    leftover.unlink()
    await worker.on_job_submitted(submitted(job.job_id))  # the redelivery

    assert (await provider.job_status(job.job_id)).status == "completed"
    assert model.channels == [1]
    assert [e.reported_status for e in reports.events] == ["completed"]


def test_the_limit_is_read_as_the_chart_writes_the_volumes_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_TRANSCRIBER_SCRATCH_LIMIT_BYTES", "10Gi")
    assert Settings().scratch_limit_bytes == 10 * (1 << 30)
    monkeypatch.setenv("ZOOMSYMBL_TRANSCRIBER_SCRATCH_LIMIT_BYTES", "5")
    with pytest.raises(ValueError, match="greater than or equal to 1048576"):
        Settings()
