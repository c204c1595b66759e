"""What ``setup_logging`` changes for the whole process, put back after each test.

A command run in-process (``cli.main``, which sets up logging at the command's level, WARNING for most) or a
service's ``main`` sets the root logger's level and handlers and the ``zoomsymbl`` logger's level; left so, a later
test's ``caplog`` saw no INFO record of any ``zoomsymbl.*`` logger unless it named one (``caplog.at_level(...,
logger=...)``), depending on which tests ran before it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from zoomsymbl_common.logs import JsonFormatter

# The loggers whose level setup_logging sets (besides the root).
SET_BY_SETUP = ("zoomsymbl", "aiokafka")


@contextmanager
def logging_kept() -> Iterator[None]:
    """The root's and :data:`SET_BY_SETUP`'s levels as they were, and no JSON handler left on the root.

    Not the root's handler list itself: pytest adds and removes its capture handlers per test phase, and putting a
    removed one back would keep it for good."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in SET_BY_SETUP}
    root_level = root.level
    try:
        yield
    finally:
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for handler in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
            root.removeHandler(handler)
