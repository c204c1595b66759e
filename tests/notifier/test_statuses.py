"""Job statuses and meeting stages only move forward."""

from __future__ import annotations

from zoomsymbl_notifier.statuses import is_terminal, replaceable_statuses, stage_for_status, stages_before, status_rank


def test_a_later_status_may_replace_an_earlier_one_but_never_the_reverse() -> None:
    assert "scheduled" in replaceable_statuses("in_progress")
    assert "in_progress" in replaceable_statuses("completed")
    assert "completed" not in replaceable_statuses("in_progress")
    assert "completed" not in replaceable_statuses("failed")
    assert "failed" not in replaceable_statuses("completed")
    assert "in_progress" not in replaceable_statuses("in_progress")


def test_the_submitters_initial_status_ranks_below_every_provider_status() -> None:
    assert status_rank("submitted") < status_rank("scheduled") < status_rank("in_progress") < status_rank("completed")
    assert "submitted" in replaceable_statuses("scheduled")
    assert None in replaceable_statuses("scheduled")


def test_terminal_statuses() -> None:
    assert is_terminal("completed") and is_terminal("failed")
    assert not is_terminal("in_progress") and not is_terminal(None)


def test_meeting_stages_never_go_backwards_and_failed_is_final() -> None:
    assert stages_before("notified") == [None, "received", "mixed", "submitted", "processing", "completed"]
    assert "notified" not in stages_before("completed")
    assert "completed" not in stages_before("failed")
    assert "failed" not in stages_before("notified")


def test_only_work_at_the_provider_moves_the_meeting_to_processing() -> None:
    assert stage_for_status("in_progress") == "processing"
    assert stage_for_status("scheduled") is None
    assert stage_for_status("failed") is None
