"""The figures each reliability test measured, kept for docs/reliability.md.

Every test calls :func:`record` with what it injected, how often, what was expected and what was
measured; the figures go to ``.cache/reliability/results-<quick|full>.json`` (one entry per test,
replaced on the next run). ``python -m tests.reliability.results [quick|full]`` prints them as the
Markdown table of docs/reliability.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from tests.reliability.sizes import SIZES

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(os.environ.get("ZS_RELIABILITY_RESULTS_DIR", str(ROOT / ".cache" / "reliability")))


def results_file(mode: str = SIZES.mode) -> Path:
    """Where the figures of ``mode`` (quick or full) are kept."""
    return RESULTS_DIR / f"results-{mode}.json"


def machine() -> str:
    """One line describing the machine the figures were measured on."""
    cpus = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cpus} CPU, Python {sys.version.split()[0]}"


def record(name: str, *, injected: str, how_often: str, expected: str, measured: dict[str, Any]) -> None:
    """Store the figures of one test (``name``) for this mode, replacing the previous run's."""
    path = results_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "injected": injected,
        "how_often": how_often,
        "expected": expected,
        "measured": measured,
        "at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
    }
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        data[name] = entry
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def markdown(mode: str) -> str:
    """The figures of ``mode`` as a Markdown table."""
    data: dict[str, Any] = json.loads(results_file(mode).read_text())
    lines = ["| test | injected | how often | expected | measured |", "|---|---|---|---|---|"]
    for name, entry in sorted(data.items()):
        cells = [name, entry["injected"], entry["how_often"], entry["expected"], _cell(entry["measured"])]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(sys.argv[1] if len(sys.argv) > 1 else "full"))
