"""Shared by the benchmarks: machine facts, medians with their spread, result files, small process helpers.

Every figure a benchmark reports is a :func:`spread` over at least three runs: the median, the
minimum and maximum, and the runs themselves. Absolute times on a shared machine drift from one
minute to the next, so a benchmark measures its baseline in the same run, alternating with the
thing measured, and the claim is the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
CACHE = ROOT / ".cache" / "bench"
MIN_RUNS = 3


def spread(values: Iterable[float], digits: int = 3) -> dict[str, Any]:
    """Median, min, max and the runs of ``values`` (a figure is only as good as its spread)."""
    runs = [float(v) for v in values]
    if not runs:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": round(statistics.median(runs), digits),
        "min": round(min(runs), digits),
        "max": round(max(runs), digits),
        "runs": [round(v, digits) for v in runs],
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, RAM, ffmpeg, Python, kernel, load, date, commit."""
    return {
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "ffmpeg": _first_line(["ffmpeg", "-hide_banner", "-version"]),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return out.splitlines()[0].strip() if out.strip() else ""


def write_result(name: str, report: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (with the machine facts) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_facts(), **report}, indent=2) + "\n", encoding="utf-8")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    """``bench/results/<name>.json``, or None when that benchmark has not run."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def infra_pid(name: str) -> int | None:
    """The PID ``scripts/infra.py`` recorded for local server ``name`` (kafka, mongo, s3, smtp), while it runs."""
    run_dir = Path(os.environ.get("ZS_RUN_DIR", "").strip() or ROOT / ".cache" / "run")
    try:
        pid = int((run_dir / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log(message: str) -> None:
    """Progress on stderr (stdout is for results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def dir_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (files vanishing meanwhile count as 0)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (run_all's timeout, a CI cancel) unwinds like Ctrl-C, so a bench's processes are stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C (see :func:`interrupted`)."""
    signal.signal(signal.SIGTERM, interrupted)


async def delete_topics(bootstrap: str, prefix: str, timeout: float = 30.0) -> int:
    """Delete the Kafka topics whose names start with ``prefix`` (one run's own); how many; 0 if Kafka is away.

    Kafka keeps every topic, and each partition costs the broker heap: the benchmarks' runs (6 partitions a
    topic for the notifier's) would otherwise pile up beside the tests' (``tests/support/names.py``).
    """
    import asyncio
    import contextlib

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    if not prefix:
        return 0  # never "every topic"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if doomed:
                await admin.delete_topics(doomed, timeout_ms=int(timeout * 1000))
            return len(doomed)
    except (KafkaError, OSError, TimeoutError) as exc:
        log(f"topics {prefix}* not deleted: {type(exc).__name__}")
        return 0
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await admin.close()
