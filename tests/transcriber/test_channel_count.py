"""A mixed file whose channel count is not the work order's fails its job at once, naming both counts.

Before, a work order naming more channels than the file got silence for the missing ones (ffmpeg's pan of a channel
the file lacks is silent, no error) and a file with more channels than the work order had its extra channels never
transcribed: a partial transcript, reported completed. Real MongoDB, S3 and ffprobe; a stub model.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.channels import file_channels, probe_args
from zoomsymbl_whisper.decoder import ffmpeg_channel_args

from tests.hostile_media import MANIFESTS, make_canary, write_manifest
from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, Reports, make_worker, request, submitted

pytestmark = [pytest.mark.integration]


def tones(path: Path, channels: int) -> Path:
    """2 s of a different tone on each of ``channels`` channels (FLAC)."""
    inputs = [a for c in range(channels) for a in ("-f", "lavfi", "-i", f"sine=frequency={300 + 100 * c}:duration=2")]
    graph = (
        "".join(f"[{c}:a]" for c in range(channels)) + f"amerge=inputs={channels}[o]"
        if channels > 1
        else "[0:a]anull[o]"
    )
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *inputs, "-filter_complex", graph, "-map", "[o]",
         "-c:a", "flac", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(("in_file", "ordered"), [(3, 2), (1, 2), (2, 2)])
async def test_a_file_whose_channels_are_not_the_work_orders_fails_before_any_channel_is_transcribed(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, in_file: int, ordered: int
) -> None:
    await store.put_file(M1_KEY, str(tones(tmp_path / "m1.flac", in_file)))
    provider = WhisperProvider(mongo)
    job = await provider.submit(request(M1_KEY, store.bucket, channels=ordered))
    model, reports = StubTranscriber(), Reports()
    worker = make_worker(mongo, store, model, tmp_path, publish=reports, scratch_dir=tmp_path / "scratch")
    await worker.on_job_submitted(submitted(job.job_id))

    state = await provider.job_status(job.job_id)
    if in_file == ordered:
        assert state.status == "completed" and model.channels == [1, 2]
        assert [e.reported_status for e in reports.events] == ["completed"]
        return
    assert state.status == "failed"
    assert state.reason == (
        f"the mixed file has {in_file} channels, its work order {ordered}: "
        "a transcript would miss speakers or transcribe silence"
    )
    assert model.channels == [], "no channel is transcribed"
    assert [e.reported_status for e in reports.events] == ["failed"]
    assert list(worker.scratch_dir.iterdir()) == []


async def test_the_probe_reads_the_first_audio_streams_channels_and_nothing_for_what_is_not_audio(
    tmp_path: Path,
) -> None:
    assert await file_channels(tones(tmp_path / "three.flac", 3)) == 3
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"<html>not audio</html>" * 100)
    assert await file_channels(junk) is None  # left to the decoder, which fails the job with ffmpeg's message


def test_the_probe_opens_only_a_local_file_in_an_audio_container_as_the_decoder_does() -> None:
    path = Path("/s/mixed.flac")
    probe, decoder = probe_args(path), ffmpeg_channel_args(path, 1)
    guard = decoder[decoder.index("-protocol_whitelist") : decoder.index("-i")]
    assert probe[probe.index("-protocol_whitelist") : probe.index("-protocol_whitelist") + 4] == guard
    assert probe[-1] == "file:/s/mixed.flac" and "-i" not in probe


@pytest.mark.parametrize("kind", MANIFESTS)
async def test_a_mixed_file_that_is_a_manifest_is_probed_without_opening_what_it_names(
    tmp_path: Path, kind: str
) -> None:
    canary = make_canary(tmp_path)
    source = write_manifest(tmp_path / "mixed.flac", kind, canary)
    # Following it would block on the canary (a FIFO nobody writes) until this timeout.
    env = {"PATH": os.environ["PATH"]}

    def probe() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(probe_args(source), capture_output=True, timeout=20, env=env, check=False)

    done = await asyncio.to_thread(probe)
    assert done.returncode != 0 and b"not on whitelist" in done.stderr and done.stdout == b""
    assert await file_channels(source, timeout=20) is None
