"""Benchmark: the whole mixer step vs the bare ffmpeg merge of the same files, and how it scales.

The Zoom sandbox runs in its own process and serves synthetic AAC-LC 32 kHz mono tracks over
loopback. Every scenario runs in a fresh worker process, so its peak RSS is its own:

- headline: one meeting of ``--headline-minutes`` with 8 participants; the mixer step (download
  from the sandbox with S2S OAuth, tee to S3 and scratch, ffprobe, merge with analytics, upload
  the mix, record in MongoDB) is timed, then the bare ``ffmpeg`` merge of the same local files
  (same filter graph and encoder, no analytics, nothing else) in the same worker, before it in
  even runs and after it in odd ones; ratio target ≤ 1.25;
- participants: 2, 8 and 32 participants at ``--sweep-minutes``;
- duration: 16 participants at ``--sweep-minutes`` vs ``--long-minutes``.

The headline runs ``--runs`` times in fresh processes and reports the median ratio, in wall time
and in CPU time (process + ffmpeg children), because this machine may be shared. Each result gives
wall and CPU seconds, the realtime factor (meeting seconds / wall seconds), the peak RSS of the
mixer process (kernel high-water mark) and of its ffmpeg children (their VmHWM, read every 200 ms), and the
sizes moved.

    uv run python bench/bench_mixer.py                       # quick: 10 min headline, 3/20 min sweeps
    uv run python bench/bench_mixer.py --headline-minutes 60 --sweep-minutes 10 --long-minutes 240

Prints JSON on stdout and writes bench/results/mixer.json. Needs the local servers (make infra-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from common import MIN_RUNS, log, spread, write_result
from pydantic import SecretStr
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, RecordingFile
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.zoom_payload import recording_completed
from zoomsymbl_mixer.app import download_policy, download_session, mix_config
from zoomsymbl_mixer.channels import Track, plan_mix
from zoomsymbl_mixer.credentials import RecordingsApi
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.ffmpeg import merge_args, resolve_format
from zoomsymbl_mixer.ffprobe import Probe, parse_probe, probe_args
from zoomsymbl_mixer.hosts import HostPolicy
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_mixer.settings import Settings
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_mixer.tracks import tee_to_file
from zoomsymbl_sandbox.zoom import ZoomSandboxConfig, long_meeting_spec, running_zoom_sandbox

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "zoom-sandbox"
SANDBOX = ZoomSandboxConfig()


def meeting_uuid(minutes: float, participants: int) -> str:
    return f"bench-{minutes:g}min-{participants}p=="


def scenarios(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every scenario of this run: name, minutes, participants, and whether to time the bare merge."""
    # An unreported first run pages ffmpeg, the servers' code and their connections in.
    found = [{"name": "warmup", "minutes": 1, "participants": 8, "bare": False}]
    found += [
        {"name": "headline", "minutes": args.headline_minutes, "participants": 8, "bare": True, "run": run}
        for run in range(1, args.runs + 1)
    ]
    found += [
        {"name": f"participants-{n}", "minutes": args.sweep_minutes, "participants": n, "bare": False}
        for n in (2, 8, 32)
    ]
    found += [
        {"name": f"duration-{m:g}min", "minutes": m, "participants": 16, "bare": False}
        for m in (args.sweep_minutes, args.long_minutes)
    ]
    return found


# ------------------------------------------------------------------ the sandbox process


async def serve_sandbox(meetings: list[list[float]]) -> None:
    specs = tuple(long_meeting_spec(meeting_uuid(m, int(p)), hours=m / 60, participants=int(p)) for m, p in meetings)
    config = SANDBOX.model_copy(update={"cache_dir": CACHE, "meetings": specs, "chunk_size": 256 * 1024})
    async with running_zoom_sandbox(config) as sandbox:
        print(json.dumps({"base_url": sandbox.base_url}), flush=True)
        await asyncio.Event().wait()


# ------------------------------------------------------------------ the worker process


def tenant_for(base_url: str) -> TenantConfig:
    return TenantConfig(
        id="bench",
        zoom_webhook_secret=SecretStr(SANDBOX.webhook_secret),
        zoom_account_id=SANDBOX.account_id,
        zoom_client_id=SANDBOX.client_id,
        zoom_client_secret=SecretStr(SANDBOX.client_secret),
        zoom_api_base=f"{base_url}/v2",
        zoom_oauth_url=f"{base_url}/oauth/token",
        download_allowed_hosts=("127.0.0.1",),
        allow_private_download_hosts=True,
    )


def cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (ffmpeg, ffprobe)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def peak_mib() -> float:
    """This process's peak RSS (the kernel's high-water mark) in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class ChildSampler:
    """Peak RSS of this process's children (ffmpeg, ffprobe): their ``VmHWM``, read every 200 ms.

    ``RUSAGE_CHILDREN`` cannot be used: a child counts the parent's pages until it execs. The
    children are found through ``/proc/self/task/*/children`` rather than a scan of every process,
    so the sampler itself costs next to nothing.
    """

    def __init__(self) -> None:
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _children() -> set[str]:
        pids: set[str] = set()
        for tasks in Path("/proc/self/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids.update(tasks.read_text().split())
        return pids

    @staticmethod
    def _hwm_bytes(pid: str) -> int:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    async def _run(self) -> None:
        while True:
            self.peak = max([self.peak, *(self._hwm_bytes(pid) for pid in self._children())])
            await asyncio.sleep(0.2)

    def __enter__(self) -> ChildSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def peak_mib(self) -> float:
        return round(self.peak / (1 << 20), 1)


async def local_copies(
    session: aiohttp.ClientSession, tenant: TenantConfig, event: RecordingCompleted, work: Path
) -> list[tuple[Path, Probe]]:
    """The participant files on local disk for the bare merge (downloaded untimed, before anything)."""
    token = await ZoomClient(tenant, session=session).access_token()
    fetcher = Fetcher(session, HostPolicy(tenant.download_allowed_hosts, True))
    folder = work / "bare-inputs"
    folder.mkdir()
    copies: list[tuple[Path, Probe]] = []
    for index, file in enumerate(event.participant_tracks):
        path = folder / f"{index:04d}.m4a"
        async for _ in tee_to_file(fetcher.stream(file.file_id, file.download_url, token, file.file_size), path):
            pass
        probed = await run_tool(probe_args(path), timeout=120, capture_stdout=True)
        probe = parse_probe(probed.stdout)
        assert probe is not None
        copies.append((path, probe))
    return copies


async def bare_merge(tracks: list[tuple[Path, Probe]], work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ffmpeg alone on the same files, with the mixer's own plan and encoder."""
    planned = [
        Track(RecordingFile(file_id=str(i), download_url="x"), str(path), probe.duration, probe.sample_rate)
        for i, (path, probe) in enumerate(tracks)
    ]
    plan = plan_mix(planned, max_channels=32)
    fmt = resolve_format("auto", len(plan.channels))
    args = merge_args(plan, work / f"bare.{fmt}", fmt, sample_rate=32000, silence=None)
    started, cpu = time.perf_counter(), cpu_seconds()
    result = await run_tool(args, timeout=4 * 3600)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert result.returncode == 0, result.tail
    (work / f"bare.{fmt}").unlink()
    return elapsed, cpu


def bench_mixer(
    settings: Settings, tenant: TenantConfig, mongo: Mongo, store: ObjectStore, session: aiohttp.ClientSession
) -> Mixer:
    """The mixer as the service wires it, with OAuth against the sandbox and a publish that goes nowhere."""
    client = ZoomClient(tenant, session=session)
    fetcher = Fetcher(session, HostPolicy(tenant.download_allowed_hosts, True), download_policy(settings))

    def api_for(_: TenantConfig) -> RecordingsApi:
        return client

    async def publish(mixed: AudioMixed) -> None:
        return None

    return Mixer(
        state=MeetingState(mongo.db),
        objects=store,
        tenants=Tenants([tenant]),
        fetcher_for=lambda _: fetcher,
        api_for=api_for,
        publish=publish,
        config=mix_config(settings),
    )


async def measure(
    mixer: Mixer, event: RecordingCompleted, scenario: dict[str, Any]
) -> tuple[dict[str, Any], AudioMixed]:
    """Time one mixer step; the result row and the event it published."""
    with ChildSampler() as children:
        started, cpu = time.perf_counter(), cpu_seconds()
        mixed = await mixer.on_recording_completed(event)
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        **scenario,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "meeting_seconds": mixed.duration_seconds,
        "mixer_seconds": round(wall, 2),
        "mixer_cpu_seconds": round(cpu, 2),
        "realtime_factor": round(mixed.duration_seconds / wall, 1),
        "peak_rss_mib": peak_mib(),
        "peak_ffmpeg_rss_mib": children.peak_mib,
        "format": mixed.format,
        "channels": mixed.channels,
        "raw_bytes": sum(f.file_size or 0 for f in event.participant_tracks),
        "mixed_bytes": mixed.size_bytes,
    }, mixed


async def worker(base_url: str, scenario: dict[str, Any]) -> dict[str, Any]:
    """One scenario in this (fresh) process, on a bucket and database of its own, removed afterwards."""
    run = uuid.uuid4().hex[:10]
    infra = InfraSettings().model_copy(update={"s3_bucket": f"bench-{run}", "mongo_database": f"bench_{run}"})
    work = Path(tempfile.mkdtemp(prefix="bench-mixer-"))
    settings = Settings(infra=infra, scratch_dir=work / "scratch")
    tenant = tenant_for(base_url)
    mongo, store = make_mongo(infra), ObjectStore(infra, timeout=settings.s3_timeout_seconds)
    await store.ensure_bucket()
    session = download_session(settings, allow_private=True)
    try:
        async with session.get(f"{base_url}/_sandbox/meetings") as response:
            meetings = (await response.json())["meetings"]
        uuid_ = meeting_uuid(scenario["minutes"], scenario["participants"])
        event = recording_completed(tenant.id, next(m for m in meetings if m["uuid"] == uuid_), source="backfill")
        mixer = bench_mixer(settings, tenant, mongo, store, session)
        if not scenario["bare"]:
            return (await measure(mixer, event, scenario))[0]
        copies = await local_copies(session, tenant, event, work)
        # Alternate which goes first, so neither always inherits the other's disk and cache state.
        bare_first = scenario["run"] % 2 == 0
        bare, bare_cpu = await bare_merge(copies, work) if bare_first else (0.0, 0.0)
        result, _ = await measure(mixer, event, scenario)
        if not bare_first:
            bare, bare_cpu = await bare_merge(copies, work)
        return {
            **result,
            "order": "bare, mixer" if bare_first else "mixer, bare",
            "bare_ffmpeg_seconds": round(bare, 2),
            "bare_ffmpeg_cpu_seconds": round(bare_cpu, 2),
            "ratio_mixer_to_bare": round(result["mixer_seconds"] / bare, 3),
            "cpu_ratio_mixer_to_bare": round(result["mixer_cpu_seconds"] / bare_cpu, 3),
        }
    finally:
        await session.close()
        await asyncio.to_thread(_remove_bucket, store)
        await mongo.client.drop_database(infra.mongo_database)
        await mongo.close()
        await asyncio.to_thread(_rmtree, work)


def _remove_bucket(store: ObjectStore) -> None:
    """Delete the bench bucket with whatever is left in it (a failed run leaves raw tracks)."""
    for item in store.client.list_objects(store.bucket, recursive=True):
        store.client.remove_object(store.bucket, item.object_name)
    store.client.remove_bucket(store.bucket)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------ the orchestrator


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )


async def run_worker(base_url: str, scenario: dict[str, Any]) -> dict[str, Any]:
    process = await _spawn("--worker", json.dumps({"base_url": base_url, "scenario": scenario}))
    out, _ = await asyncio.wait_for(process.communicate(), timeout=6 * 3600)
    if process.returncode != 0:
        raise RuntimeError(f"scenario {scenario['name']!r} failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    log(json.dumps(result))
    return result


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    plan = [s for s in scenarios(args) if not args.only or s["name"] in (*args.only, "warmup")]
    meetings = sorted({(s["minutes"], s["participants"]) for s in plan})
    sandbox = await _spawn("--serve-sandbox", json.dumps(meetings))
    try:
        assert sandbox.stdout is not None
        line = await asyncio.wait_for(sandbox.stdout.readline(), timeout=1800)
        base_url = json.loads(line)["base_url"]
        results = [await run_worker(base_url, s) for s in plan]
        results = [r for r in results if r["name"] != "warmup"]
    finally:
        sandbox.terminate()
        await sandbox.wait()
    headline = [r for r in results if r["name"] == "headline"]
    return {
        "benchmark": "mixer",
        "settings": {k: v for k, v in vars(args).items() if k not in ("serve_sandbox", "worker")},
        "ratio_target": 1.25,
        "headline": {
            "ratio_mixer_to_bare": spread(r["ratio_mixer_to_bare"] for r in headline),
            "cpu_ratio_mixer_to_bare": spread(r["cpu_ratio_mixer_to_bare"] for r in headline),
            "mixer_seconds": spread(r["mixer_seconds"] for r in headline),
            "bare_ffmpeg_seconds": spread(r["bare_ffmpeg_seconds"] for r in headline),
        },
        "results": results,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--headline-minutes", type=float, default=10, help="headline meeting (issue: 60)")
    parser.add_argument("--sweep-minutes", type=float, default=3, help="participant sweep length (issue: 10)")
    parser.add_argument("--long-minutes", type=float, default=20, help="long meeting, 16 participants (issue: 240)")
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help="headline repetitions (fresh process each)")
    parser.add_argument("--only", action="append", help="run only the scenarios with these names")
    parser.add_argument("--serve-sandbox", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve_sandbox:
        asyncio.run(serve_sandbox(json.loads(args.serve_sandbox)))
        return
    if args.worker:
        order = json.loads(args.worker)
        print(json.dumps(asyncio.run(worker(order["base_url"], order["scenario"]))), flush=True)
        return
    report = asyncio.run(bench(args))
    path = write_result("mixer", report)
    print(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
