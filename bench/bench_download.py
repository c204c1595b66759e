"""Benchmark: the mixer's download of one Zoom file vs a plain ``curl`` of the same file over loopback.

The Zoom sandbox runs in its own process and serves one single-speaker track of ``--hours``
(8 h: about 224 MB of AAC, the largest file one participant of a workday-long meeting produces).
Each run, in turn and alternating (``--runs`` ≥ 3):

- ``curl``: ``curl --fail -H "Authorization: Bearer …" -o scratch/file`` (the baseline: bytes to disk);
- ``fetch``: the mixer's ``Fetcher.stream`` (Bearer auth, redirect and resume logic, error-body check)
  written to a scratch file: the client code alone;
- ``step-before``: the download step up to 2026-12-03: ``Fetcher.stream`` → ``tee_to_file`` →
  ``ObjectStore.put_stream`` (one part at a time, one thread);
- ``step``: what the mixer does per file now (``TrackLoader``, a file whose size Zoom announced):
  ``Fetcher.stream`` → ``tee_to_file`` (scratch copy for ffmpeg) → ``PartUploads`` with the size: one
  streamed, chunk-signed PUT whose body is read back from the scratch file as the download writes it;
- ``step-multipart``: the step as it was before the streamed PUT (2026-12-04): the same, but each
  finished part read back and sent as a multipart upload, ``upload_parallel`` parts at once,
  ``part_bytes`` each, with the mixer's defaults (what a file of unannounced size still gets);
- ``step-<MiB>x<n>``: the multipart step with other part sizes and parallelism (how they were chosen);
- ``s3-alone``: only the S3 upload of the finished file, ``PartUploads`` with the defaults: the floor
  of any step that stores every byte in S3 on this server;
- ``s3-alone-put``: the mixer's upload of a finished file as it sends the mix now (``PartUploads.upload_file``:
  one streamed, chunk-signed PUT up to 5 GiB);
- ``s3-curl``: the same file PUT to the same S3 server by curl (``--aws-sigv4``, one request, unsigned
  payload): the server's own speed for the bytes, without any of our client code (is it the client or
  the server that bounds ``s3-alone``?).

Reports MB/s per path (median and spread) and each path's time as a multiple of curl's, paired run
by run. The sandbox is the same server for all three, so its own cost cancels out of the ratio.
With the local S3 server's PID at hand (.cache/run/s3.pid) each path also reports the bytes that
server wrote per byte of the file (``s3_server_writes``): versitygw's posix backend copies a
multipart upload's parts into the object when it completes, so any multipart path costs it twice
the writes of a single PUT (read in its source: backend/posix/posix.go, CompleteMultipartUpload).

    uv run python bench/bench_download.py [--hours 8] [--runs 3]

Writes bench/results/download.json. Needs the local servers (make infra-up) and curl.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import aiohttp
from common import CACHE, MIN_RUNS, ROOT, free_port, infra_pid, log, spread, write_result
from pydantic import SecretStr
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_mixer.app import download_policy, download_session
from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.hosts import HostPolicy
from zoomsymbl_mixer.settings import Settings
from zoomsymbl_mixer.tracks import tee_to_file
from zoomsymbl_mixer.upload import PartUploads
from zoomsymbl_sandbox.zoom import ZoomSandboxConfig, long_meeting_spec

SANDBOX = ZoomSandboxConfig()
MIX = MixConfig(scratch_dir=Path("."))  # the mixer's defaults: raw part size and parts in flight
VARIANTS = {"step-8x4": (8, 4), "step-8x2": (8, 2), "step-5x4": (5, 4), "step-5x3": (5, 3), "step-5x2": (5, 2)}
PATHS = ("curl", "fetch", "s3-alone", "s3-alone-put", "s3-curl", "step-before", "step", "step-multipart", *VARIANTS)


@contextlib.asynccontextmanager
async def zoom_sandbox(hours: float, work: Path) -> AsyncIterator[str]:
    """The Zoom sandbox as a process, recording one single-speaker meeting of ``hours``; yields its URL."""
    port = free_port()
    spec = long_meeting_spec(f"bench-download-{hours:g}h==", hours=hours, participants=1)
    config = {
        "meetings": [spec.model_dump(mode="json")],
        "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        "chunk_size": 256 * 1024,
    }
    (work / "zoom.json").write_text(json.dumps(config), encoding="utf-8")
    args = ["-m", "zoomsymbl_sandbox", "zoom", "--port", str(port), "--config", str(work / "zoom.json")]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_up(base + "/_sandbox/stats", process, limit=600)  # media are generated on first start
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _wait_up(url: str, process: asyncio.subprocess.Process, limit: float) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"sandbox exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.3)
    raise RuntimeError("sandbox never answered")


def tenant_for(base: str) -> TenantConfig:
    return TenantConfig(
        id="bench",
        zoom_webhook_secret=SecretStr(SANDBOX.webhook_secret),
        zoom_account_id=SANDBOX.account_id,
        zoom_client_id=SANDBOX.client_id,
        zoom_client_secret=SecretStr(SANDBOX.client_secret),
        zoom_api_base=f"{base}/v2",
        zoom_oauth_url=f"{base}/oauth/token",
        download_allowed_hosts=("127.0.0.1",),
        allow_private_download_hosts=True,
    )


async def the_file(base: str) -> tuple[str, int]:
    """Download URL and size of the meeting's one participant track."""
    async with aiohttp.ClientSession() as session, session.get(base + "/_sandbox/meetings") as response:
        [meeting] = (await response.json())["meetings"]
    [track] = meeting["participant_audio_files"]
    return str(track["download_url"]), int(track["file_size"])


def curl(url: str, token: SecretStr, out: Path) -> float:
    """Seconds curl takes to download ``url`` into ``out``; the header comes from a config file, not argv."""
    config = out.with_suffix(".curlrc")
    config.write_text(f'header = "Authorization: Bearer {token.get_secret_value()}"\n', encoding="utf-8")
    started = time.perf_counter()
    subprocess.run(
        ["curl", "--fail", "--silent", "--show-error", "-K", str(config), "-o", str(out), url], check=True, timeout=600
    )
    seconds = time.perf_counter() - started
    config.unlink()
    return seconds


def s3_curl(infra: InfraSettings, bucket: str, path: Path) -> float:
    """Seconds curl takes to PUT ``path`` into ``bucket`` (SigV4, unsigned payload); credentials in a config file."""
    config = path.with_suffix(".s3rc")
    user = f"{infra.s3_access_key.get_secret_value()}:{infra.s3_secret_key.get_secret_value()}"
    config.write_text(f'user = "{user}"\naws-sigv4 = "aws:amz:{infra.s3_region}:s3"\n', encoding="utf-8")
    scheme = "https" if infra.s3_secure else "http"
    url = f"{scheme}://{infra.s3_endpoint}/{bucket}/bench/{uuid.uuid4().hex}.m4a"
    unsigned = "x-amz-content-sha256: UNSIGNED-PAYLOAD"
    common = ["curl", "--fail", "--silent", "--show-error", "-K", str(config), "-H", unsigned]
    try:
        started = time.perf_counter()
        subprocess.run([*common, "-o", "/dev/null", "-T", str(path), url], check=True, timeout=600)
        seconds = time.perf_counter() - started
        subprocess.run([*common, "-o", "/dev/null", "-X", "DELETE", url], check=True, timeout=60)
    finally:
        config.unlink()
    return seconds


def s3_server_pid() -> int | None:
    """The local S3 server's PID as scripts/infra.py recorded it, when its I/O counters are readable here."""
    pid = infra_pid("s3")
    if pid is None:
        return None
    try:
        written_bytes(pid)
    except (OSError, ValueError):
        return None
    return pid


def written_bytes(pid: int) -> int:
    """Bytes ``pid`` has caused to be written to storage (``write_bytes`` of /proc/<pid>/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "write_bytes":
            return int(value)
    raise ValueError(f"/proc/{pid}/io has no write_bytes")


async def fetch(fetcher: Fetcher, url: str, token: SecretStr, size: int, out: Path) -> float:
    """Seconds the mixer's client takes to stream the file into ``out``."""
    started = time.perf_counter()
    written = 0
    async for piece in tee_to_file(fetcher.stream("bench", url, token, size), out):
        written += len(piece)
    assert written == size, (written, size)
    return time.perf_counter() - started


async def step_before(fetcher: Fetcher, store: ObjectStore, url: str, token: SecretStr, size: int, out: Path) -> float:
    """Seconds of the download step before 2026-12-03: stream, scratch copy and a one-thread S3 upload."""
    key = f"raw/bench/{uuid.uuid4().hex}.m4a"
    started = time.perf_counter()
    teed = tee_to_file(fetcher.stream("bench", url, token, size), out)
    stored = await store.put_stream(key, teed, content_type="audio/mp4", part_size=Settings().raw_part_bytes)
    seconds = time.perf_counter() - started
    assert stored == size, (stored, size)
    await store.remove(key)
    return seconds


async def step(
    fetcher: Fetcher,
    store: ObjectStore,
    url: str,
    token: SecretStr,
    size: int,
    out: Path,
    part_mib: int,
    parallel: int,
    *,
    streamed: bool = False,
) -> float:
    """Seconds of the mixer's per-file download step: stream and scratch copy, with one streamed PUT or parts."""
    key = f"raw/bench/{uuid.uuid4().hex}.m4a"
    uploads = PartUploads(store, part_bytes=part_mib << 20, parallel=parallel)
    started = time.perf_counter()
    try:
        teed = tee_to_file(fetcher.stream("bench", url, token, size), out)
        # With the size announced (as the mixer does for a file whose size Zoom gave), one streamed PUT.
        stored = await uploads.upload(key, teed, out, content_type="audio/mp4", size=size if streamed else None)
    finally:
        uploads.close()
    seconds = time.perf_counter() - started
    assert stored == size, (stored, size)
    await store.remove(key)
    return seconds


async def _sized(size: int) -> AsyncIterator[bytes]:
    """Pieces as long as the finished file (the uploader reads the bytes from the file, not from these)."""
    left = size
    while left > 0:
        yield bytes(min(left, 1 << 20))
        left -= 1 << 20


async def s3_alone(store: ObjectStore, path: Path, size: int, *, one_put: bool = False) -> float:
    """Seconds of the S3 upload alone of a finished file: in parts (the mixer's part size and parallelism), or
    with ``one_put`` as the mixer sends its mix (``upload_file``: one streamed PUT)."""
    key = f"raw/bench/{uuid.uuid4().hex}.m4a"
    uploads = PartUploads(store, part_bytes=MIX.part_bytes, parallel=MIX.upload_parallel)
    started = time.perf_counter()
    try:
        if one_put:
            stored = await uploads.upload_file(key, path, content_type="audio/mp4")
        else:
            stored = await uploads.upload(key, _sized(size), path, content_type="audio/mp4")
    finally:
        uploads.close()
    seconds = time.perf_counter() - started
    assert stored == size
    await store.remove(key)
    return seconds


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-download-", dir=CACHE if CACHE.is_dir() else None))
    bucket = f"bench-download-{uuid.uuid4().hex[:8]}"
    infra = InfraSettings().model_copy(update={"s3_bucket": bucket})
    store = ObjectStore(infra)
    await store.ensure_bucket()
    settings = Settings()
    session = download_session(settings, allow_private=True)
    seconds: dict[str, list[float]] = {p: [] for p in PATHS}
    server_writes: dict[str, list[float]] = {p: [] for p in PATHS}
    server = s3_server_pid()

    async def measure(path: str, run: Awaitable[float]) -> None:
        """The path's seconds, and the bytes the S3 server wrote meanwhile per byte of the file."""
        before = written_bytes(server) if server is not None else 0
        seconds[path].append(await run)
        if server is not None:
            server_writes[path].append((written_bytes(server) - before) / size)

    try:
        async with zoom_sandbox(args.hours, work) as base:
            url, size = await the_file(base)
            tenant = tenant_for(base)
            token = await ZoomClient(tenant, session=session).access_token()
            fetcher = Fetcher(session, HostPolicy(tenant.download_allowed_hosts, True), download_policy(settings))
            for run in range(args.runs):
                await measure("curl", asyncio.to_thread(curl, url, token, work / "curl.m4a"))
                await measure("fetch", fetch(fetcher, url, token, size, work / "fetch.m4a"))
                await measure("s3-alone", s3_alone(store, work / "curl.m4a", size))
                await measure("s3-alone-put", s3_alone(store, work / "curl.m4a", size, one_put=True))
                await measure("s3-curl", asyncio.to_thread(s3_curl, infra, bucket, work / "curl.m4a"))
                await measure("step-before", step_before(fetcher, store, url, token, size, work / "s.m4a"))
                defaults = (MIX.part_bytes >> 20, MIX.upload_parallel)
                await measure("step", step(fetcher, store, url, token, size, work / "s.m4a", *defaults, streamed=True))
                await measure("step-multipart", step(fetcher, store, url, token, size, work / "s.m4a", *defaults))
                for name, (part_mib, parallel) in VARIANTS.items():
                    await measure(name, step(fetcher, store, url, token, size, work / "s.m4a", part_mib, parallel))
                log(f"download run {run + 1}: " + ", ".join(f"{p} {seconds[p][-1]:.2f}s" for p in PATHS))
    finally:
        await session.close()
        await asyncio.to_thread(store.client.remove_bucket, bucket)
        shutil.rmtree(work, ignore_errors=True)
    return report(args, size, seconds, server_writes)


def report(
    args: argparse.Namespace, size: int, seconds: dict[str, list[float]], server_writes: dict[str, list[float]]
) -> dict[str, Any]:
    mib = size / (1 << 20)
    paths = {
        p: {
            "seconds": spread(seconds[p]),
            "mib_per_s": spread((mib / s for s in seconds[p]), 1),
            "vs_curl": spread(s / c for s, c in zip(seconds[p], seconds["curl"], strict=True)),
            # The S3 server's own floor: no step that stores every byte can beat its upload alone.
            "vs_s3_alone": spread(s / c for s, c in zip(seconds[p], seconds["s3-alone"], strict=True)),
            # ... and the server's own: one PUT of the same bytes by curl, none of our code involved.
            "vs_s3_curl": spread(s / c for s, c in zip(seconds[p], seconds["s3-curl"], strict=True)),
            # Bytes the local S3 server wrote (its /proc/<pid>/io) per byte of the file: a multipart upload
            # costs versitygw's posix backend 2 (the parts, then their copy into the object), a PUT 1.
            "s3_server_writes": spread(server_writes[p], 2),
        }
        for p in PATHS
    }
    return {
        "benchmark": "download",
        "defaults": {"part_mib": MIX.part_bytes >> 20, "parallel": MIX.upload_parallel},
        "what": "one Zoom participant track over loopback from the Zoom sandbox: curl vs the mixer's code",
        "config": {"hours": args.hours, "runs": args.runs, "file_bytes": size},
        "paths": paths,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=8.0, help="length of the track (8 h ≈ 224 MB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per path (≥3)")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error("--runs must be at least 3 (a median needs a spread)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(bench(args))
    write_result("download", result)
    print(json.dumps(result["paths"], indent=2))


if __name__ == "__main__":
    main()
