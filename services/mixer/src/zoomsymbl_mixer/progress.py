"""The step each meeting in hand has reached, so a give-up after retries names it. Pure, in memory.

The consumer gives up on a meeting whose retry budget or outage wait is spent with the stage ``retry``: a failure
notice then said "preparing the recording's audio (mixer: retry)" whether Zoom's downloads or the merge kept failing,
and ``zoomsymbl status --failed`` could not tell them apart. The mixer notes each step as it begins it
(:meth:`Progress.reached`); the give-up hook (:func:`~zoomsymbl_mixer.handlers.give_up`) takes the step of the event
it gives up on. Kept in the process that retries the event; the mixer also writes each step on the meeting
(:mod:`zoomsymbl_mixer.step_records`), which a give-up reads for an event this process never began (a restart between
attempts, the last cut short).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Literal

from zoomsymbl_common.events import RecordingCompleted

Step = Literal["download", "space", "merge", "upload", "publish"]
"""A step of one meeting's work, named as the stages a meeting fails in (``zoomsymbl_common.stages``)."""
KEPT: Final = 10_000
"""Most events whose step is kept: one left by a delivery that ended otherwise (a rebalance) is dropped oldest first."""


class Progress:
    """The step reached by each event in hand (by ``event_id``), from the start of its latest attempt."""

    def __init__(self, kept: int = KEPT) -> None:
        self._steps: OrderedDict[str, Step | None] = OrderedDict()
        self._kept = kept

    def begin(self, event: RecordingCompleted) -> None:
        """A new attempt of ``event``: no step yet (what failed before it began one is not a step of the meeting)."""
        self._keep(event, None)

    def reached(self, event: RecordingCompleted, step: Step) -> None:
        """``event``'s work is at ``step`` from now on."""
        self._keep(event, step)

    def _keep(self, event: RecordingCompleted, step: Step | None) -> None:
        self._steps.pop(event.event_id, None)
        self._steps[event.event_id] = step
        while len(self._steps) > self._kept:
            self._steps.popitem(last=False)

    def done(self, event: RecordingCompleted) -> None:
        """``event`` was handled: nothing to remember."""
        self._steps.pop(event.event_id, None)

    def step_of(self, event: RecordingCompleted) -> Step | None:
        """The step ``event`` has reached (None: none began); kept until :meth:`done` (a give-up that fails comes
        again)."""
        return self._steps.get(event.event_id)

    def began(self, event: RecordingCompleted) -> bool:
        """This process has ``event`` in hand (an attempt began, a step was reached), until :meth:`done`."""
        return event.event_id in self._steps
