"""The job state machine: phases in order, the cap held, queueing vs. refusing, failures reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_sandbox.provider_audio import AudioError
from zoomsymbl_sandbox.provider_jobs import Job, JobBoard, JobTimings

from tests.support.providers import drain

FAST = JobTimings(0.01, 0.05)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def analyse(self, job: Job[str]) -> object:
        if job.request == "broken":
            raise AudioError("cannot decode")
        return f"analysed {job.request}"

    async def notify(self, job: Job[str]) -> None:
        self.seen.append((job.key, job.phase))


async def test_queueing_board_never_exceeds_the_cap() -> None:
    rec = Recorder()
    board: JobBoard[str] = JobBoard(2, FAST, rec.analyse, rec.notify, queue_when_full=True)
    for i in range(5):
        board.submit(Job(key=f"j{i}", request="ok", audio_path=None))
    await drain(board)
    assert board.max_concurrency == 2
    assert board.max_blocked == 3
    assert all(job.result == "analysed ok" for job in board.jobs.values())
    assert [phase for key, phase in rec.seen if key == "j4"] == ["running", "done"]


async def test_refusing_board_takes_the_slot_at_submit() -> None:
    rec = Recorder()
    board: JobBoard[str] = JobBoard(1, FAST, rec.analyse, rec.notify, queue_when_full=False)
    board.submit(Job(key="a", request="ok", audio_path=None))
    assert not board.has_free_slot()
    with pytest.raises(RuntimeError):
        board.submit(Job(key="b", request="ok", audio_path=None))
    await drain(board)
    assert board.has_free_slot()
    await board.close()


async def test_failures_end_in_failed_with_a_reason(tmp_path: Path) -> None:
    rec = Recorder()
    board: JobBoard[str] = JobBoard(5, FAST, rec.analyse, rec.notify, queue_when_full=True)
    broken = Job(key="broken", request="broken", audio_path=tmp_path / "x")
    asked = Job(key="asked", request="ok", audio_path=None, fail_requested=True)
    for job in (broken, asked):
        board.submit(job)
    await drain(board)
    assert (broken.phase, broken.error) == ("failed", "cannot decode")
    assert asked.phase == "failed"
    assert asked.error is not None
    assert board.counts() == {"failed": 2}
