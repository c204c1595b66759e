"""``logging_kept``: what setup_logging changed for the process is put back."""

from __future__ import annotations

import logging

import pytest
from zoomsymbl_common.logs import JsonFormatter, setup_logging

from tests.support.logging_state import SET_BY_SETUP, logging_kept


def test_levels_and_the_json_handler_of_setup_logging_are_put_back() -> None:
    root = logging.getLogger()
    before = (root.level, {name: logging.getLogger(name).level for name in SET_BY_SETUP})
    with logging_kept():
        setup_logging("WARNING")
        assert logging.getLogger("zoomsymbl").level == logging.WARNING
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    assert (root.level, {name: logging.getLogger(name).level for name in SET_BY_SETUP}) == before
    assert not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)


def test_after_a_command_set_up_logging_at_warning_info_records_pass_again(caplog: pytest.LogCaptureFixture) -> None:
    with logging_kept():
        setup_logging("WARNING")  # what cli.main does for most commands
    caplog.set_level(logging.INFO)  # a later test's caplog, naming no logger
    assert logging.getLogger("zoomsymbl.some.module").isEnabledFor(logging.INFO)
