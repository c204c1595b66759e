"""The step each meeting in hand has reached (what a give-up after retries names)."""

from __future__ import annotations

from zoomsymbl_mixer.progress import Progress

from tests.mixer.test_state import EVENT


def test_a_new_attempt_starts_without_a_step_and_a_handled_event_is_forgotten() -> None:
    progress = Progress()
    progress.reached(EVENT, "download")
    progress.reached(EVENT, "merge")
    assert progress.step_of(EVENT) == "merge"
    progress.begin(EVENT)
    assert progress.step_of(EVENT) is None
    progress.reached(EVENT, "upload")
    progress.done(EVENT)
    assert progress.step_of(EVENT) is None


def test_the_events_kept_are_bounded_oldest_dropped_first() -> None:
    progress = Progress(kept=2)
    events = [EVENT.model_copy(update={"event_id": f"e{i}"}) for i in range(3)]
    for each in events:
        progress.reached(each, "download")
    progress.reached(events[1], "merge")  # a step noted again makes the event the newest
    progress.reached(EVENT.model_copy(update={"event_id": "e3"}), "space")
    assert [progress.step_of(e) for e in events] == [None, "merge", None]
