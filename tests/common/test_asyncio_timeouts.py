"""No ``asyncio.wait_for`` in the services and libraries: on Python 3.11 it can lose a cancellation.

3.11's ``wait_for`` runs the awaitable as a task of its own and, when the caller is cancelled in the loop turn
between that task's answer and the caller's wake-up, returns the answer and drops the cancellation
(fixed in 3.12, whose ``wait_for`` is ``asyncio.timeout``). A periodic loop that is cancelled then runs on:
ingest's periodic backfill did, and its test hung (tests/ingest/test_intake.py has the behavioural test).
``async with asyncio.timeout(...)`` runs in the caller's task and keeps every cancellation.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")])


def test_the_sources_are_found() -> None:
    assert any(p.name == "intake.py" for p in SOURCES) and len(SOURCES) > 50


def test_no_source_uses_asyncio_wait_for() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "asyncio.wait_for(" in line
    ]
    assert not offenders, f"use `async with asyncio.timeout(...)` instead of asyncio.wait_for: {offenders}"
