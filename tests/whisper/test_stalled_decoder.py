"""A channel whose caller went away leaves no decoder running: ffmpeg is killed, even while it stalls or waits.

Stand-ins: an ``ffmpeg`` first on PATH that records its process id, then either stalls (never writes) or runs
the real ffmpeg; a model that holds its window until the test lets it go.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from zoomsymbl_whisper import ModelConfig, TranscriptionStopped

from tests.support.audio import sine_flac
from tests.support.eventually import eventually
from tests.whisper.test_stop import Watched

STALLS = "exec sleep 600"
"""A decoder that never writes a byte nor exits (a stalled ffmpeg)."""


def decoder_stand_in(folder: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """An ``ffmpeg`` first on PATH that appends its process id to the returned file, then runs ``body``."""
    real = shutil.which("ffmpeg")
    assert real is not None
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    pids = folder / "decoder-pids"
    script = bin_dir / "ffmpeg"
    script.write_text(f'#!/bin/sh\necho $$ >> "{pids}"\n{body.replace("REAL", real)}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return pids


def running(pid: int) -> bool:
    """True while ``pid`` runs: a process killed but not yet reaped (a zombie) no longer does."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while its stat is read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def started(pids: Path, count: int = 1) -> list[int]:
    """The process ids of the first ``count`` decoders, once they started."""

    async def written() -> list[int] | None:
        found = [int(line) for line in pids.read_text().split()] if pids.exists() else []
        return found if len(found) >= count else None

    return await eventually(written, timeout=30, what=f"{count} decoder(s) started")


async def gone(pid: int) -> None:
    """Return once ``pid`` no longer runs (a kill takes effect a moment after it is sent); fail after 10 s."""

    async def state() -> bool:
        return running(pid)

    await eventually(state, lambda alive: not alive, timeout=10, what=f"decoder {pid} killed")


def end(pids: list[int]) -> None:
    """Kill what a failing test left running (the code before the fix left the stalled decoder)."""
    for pid in pids:
        if running(pid):
            subprocess.run(["kill", "-9", str(pid)], check=False, timeout=10)


class HeldModel:
    """Holds its first window until ``gate`` opens (a model stuck inside one segment)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()

    def transcribe(self, samples: Any, **_: Any) -> tuple[list[SimpleNamespace], None]:
        self.entered.set()
        assert self.gate.wait(60)
        return [SimpleNamespace(text="words", start=0.0, end=1.0)], None


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """A minute of tone: far more decoded audio than a pipe holds, so ffmpeg waits while the model works."""
    return sine_flac(tmp_path / "tone.flac", 60)


async def test_a_cancelled_channel_kills_its_stalled_decoder_and_its_thread_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = decoder_stand_in(tmp_path, monkeypatch, STALLS)
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = HeldModel()  # never reached: no audio comes

    task = asyncio.create_task(transcriber.transcribe_channel(tmp_path / "meeting.flac", 1))
    [pid] = await started(pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        assert await asyncio.to_thread(transcriber.ended.wait, 30), "the thread still waits on the stalled decoder"
        await gone(pid)
        assert isinstance(transcriber.outcome, TranscriptionStopped)
    finally:
        end([pid])


async def test_a_channel_cancelled_while_the_model_holds_a_window_kills_its_decoder_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tone: Path
) -> None:
    pids = decoder_stand_in(tmp_path, monkeypatch, 'exec REAL "$@"')
    model = HeldModel()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model

    task = asyncio.create_task(transcriber.transcribe_channel(tone, 1))
    [pid] = await started(pids)
    assert await asyncio.to_thread(model.entered.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        await gone(pid)  # while the model still holds the window: ffmpeg does not wait for it
    finally:
        model.gate.set()
        end([pid])
    assert await asyncio.to_thread(transcriber.ended.wait, 30)
    assert isinstance(transcriber.outcome, TranscriptionStopped)
