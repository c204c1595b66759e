"""A cancelled transcription stops its worker thread at the next segment (real ffmpeg, a stand-in model)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from zoomsymbl_whisper import ChannelUtterance, ModelConfig, Transcriber, TranscriptionStopped

from tests.support.audio import sine_flac
from tests.support.eventually import eventually


class HeldModel:
    """Answers one segment per window, each window held until ``gate`` opens; counts the windows it saw."""

    def __init__(self) -> None:
        self.windows = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def transcribe(self, samples: Any, **_: Any) -> tuple[list[SimpleNamespace], None]:
        self.windows += 1
        self.entered.set()
        assert self.gate.wait(30)
        return [SimpleNamespace(text="words", start=0.0, end=1.0)], None


class Watched(Transcriber):
    """Tells when its worker thread has ended, and how."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.ended = threading.Event()
        self.outcome: BaseException | list[ChannelUtterance] | None = None

    def channel_sync(
        self, path: Path, channel: int, stop: threading.Event | None = None, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        try:
            self.outcome = super().channel_sync(path, channel, stop, language=language)
            return self.outcome
        except BaseException as exc:
            self.outcome = exc
            raise
        finally:
            self.ended.set()


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """Five seconds of a tone (not silence: every window reaches the model)."""
    return sine_flac(tmp_path / "tone.flac", 5)


async def test_a_cancelled_channel_stops_its_thread_at_the_next_segment(tone: Path) -> None:
    model = HeldModel()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model  # loaded: the stand-in

    task = asyncio.create_task(transcriber.transcribe_channel(tone, 1))
    assert await asyncio.to_thread(model.entered.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    model.gate.set()

    assert await asyncio.to_thread(transcriber.ended.wait, 30)
    assert isinstance(transcriber.outcome, TranscriptionStopped)
    assert model.windows == 1, "the four windows after the cancellation were never transcribed"


async def test_an_uncancelled_channel_reads_every_window(tone: Path) -> None:
    model = HeldModel()
    model.gate.set()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model

    found = await transcriber.transcribe_channel(tone, 1)

    assert model.windows == 5 and [u.start_seconds for u in found] == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_a_thread_stuck_inside_a_segment_counts_until_its_segment_returns(tone: Path) -> None:
    # The model ignores the stop (CTranslate2 inside one segment): the thread lives on, and says so for how long.
    model = HeldModel()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model
    now = [1000.0]
    transcriber._clock = lambda: now[0]
    assert transcriber.stuck_seconds() == 0.0

    task = asyncio.create_task(transcriber.transcribe_channel(tone, 1))
    assert await asyncio.to_thread(model.entered.wait, 30)
    assert transcriber.stuck_seconds() == 0.0, "running, not told to stop: not stuck"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    now[0] += 120.0
    assert transcriber.stuck_seconds() == 120.0
    assert not transcriber.ended.is_set()

    model.gate.set()  # the segment returns: the thread sees the stop and ends
    assert await asyncio.to_thread(transcriber.ended.wait, 30)

    # The thread's bookkeeping is done just after channel_sync returns (ended is set in its finally).
    async def forgotten() -> bool:
        return transcriber.stuck_seconds() == 0.0

    await eventually(forgotten, timeout=10, what="the ended thread to be forgotten")


async def test_a_channel_that_ends_on_its_own_never_counts_as_stuck(tone: Path) -> None:
    model = HeldModel()
    model.gate.set()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model
    transcriber._clock = lambda: 5000.0
    await transcriber.transcribe_channel(tone, 1)
    assert transcriber.stuck_seconds() == 0.0 and transcriber._stopping == {}


async def test_a_channel_cancelled_before_its_thread_started_never_counts_as_stuck(tone: Path) -> None:
    """Cancelled while its work waited for a thread (every thread of the pool busy, or a cancellation landing
    before a free thread picked the work up): the work never runs, so nothing is stuck.

    Before, the channel was counted as a thread told to stop that had not ended, for ever: ``/healthz`` failed
    ``stuck_thread_seconds`` later and the liveness probe restarted a pod whose threads were all fine.
    """
    model = HeldModel()
    model.gate.set()
    transcriber = Watched(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model
    now = [0.0]
    transcriber._clock = lambda: now[0]
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(pool)
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait)  # the pool's only thread
    try:
        channel = asyncio.create_task(transcriber.transcribe_channel(tone, 1))
        await asyncio.sleep(0)  # the channel's work is queued behind the busy thread
        channel.cancel()
        with pytest.raises(asyncio.CancelledError):
            await channel
    finally:
        release.set()
        await busy
        pool.shutdown()  # idle now
        loop.set_default_executor(ThreadPoolExecutor())  # the loop's own, shut down with it
    now[0] = 10_000.0

    assert not transcriber.ended.is_set() and model.windows == 0, "the channel's work never ran"
    assert transcriber.stuck_seconds() == 0.0
