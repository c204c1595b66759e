"""The submitter's periodic passes (held leftovers, slot reclaim) outlive a failed round, whatever it raised, and
stop when cancelled (:mod:`zoomsymbl_submitter.periodic`). In memory: each pass's round is scripted.

Before, a slot reclaim round that raised anything but our own errors (a bug) ended the reclaim task for good, noticed
only at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_submitter.held import HeldSweeper
from zoomsymbl_submitter.reclaim import Reclaimer


@dataclass
class Rounds:
    """Every round's outcome: a pass's ``once`` fails twice (an outage, then a bug), then succeeds."""

    seen: list[str] = field(default_factory=list)
    third: asyncio.Event = field(default_factory=asyncio.Event)


def scripted_rounds(monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> Rounds:
    """``cls.once`` replaced by the script of :class:`Rounds`."""
    found = Rounds()
    outcomes: list[Exception] = [MongoUnavailable("ServerSelectionTimeoutError"), KeyError("bug")]

    async def once(self: object) -> int:
        outcome = outcomes.pop(0) if outcomes else None
        found.seen.append(type(outcome).__name__ if outcome else "done")
        if len(found.seen) == 3:
            found.third.set()
        if outcome is not None:
            raise outcome
        return 0

    monkeypatch.setattr(cls, "once", once)
    return found


def idle(cls: type[Any]) -> Any:
    """A pass of ``cls`` whose only use is its loop (its round is scripted), a round every millisecond."""
    if cls is HeldSweeper:
        return HeldSweeper(None, None, None, None, 0.001)  # type: ignore[arg-type]
    return Reclaimer(None, None, None, None, None, 0.001)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "what", "logger"),
    [(HeldSweeper, "held leftovers", "zoomsymbl.submitter.held"),
     (Reclaimer, "slot reclaim", "zoomsymbl.submitter.reclaim")],
)  # fmt: skip
async def test_a_pass_outlives_failed_rounds_and_stops_when_cancelled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cls: type[Any], what: str, logger: str
) -> None:
    rounds = scripted_rounds(monkeypatch, cls)
    periodic = idle(cls)
    with caplog.at_level(logging.WARNING, logger=logger):
        task = asyncio.create_task(periodic.run_forever())
        await asyncio.wait_for(rounds.third.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rounds.seen[:3] == ["MongoUnavailable", "KeyError", "done"]
    failed, crashed = [r for r in caplog.records if r.name == logger][:2]
    assert (failed.getMessage(), failed.levelname) == (f"{what} round failed", "WARNING")
    assert (crashed.getMessage(), crashed.levelname, crashed.exc_info is not None) == (
        f"{what} round crashed",
        "ERROR",
        True,
    )
