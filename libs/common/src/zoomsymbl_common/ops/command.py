"""The contract of a ``zoomsymbl`` subcommand, shared by the built-in ones and those other packages add.

A package adds a subcommand through the entry-point group :data:`ENTRY_POINT_GROUP`; the entry point
names a function that takes no argument and returns a :class:`Command`::

    [project.entry-points."zoomsymbl.commands"]
    backfill = "zoomsymbl_ingest.backfill_command:register"

The ``zoomsymbl`` parser gives every command ``--json`` and an ``--help`` that ends with its examples,
runs it, prints its :class:`Result` and turns the project's errors into the exit codes below.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zoomsymbl_common.errors import ZoomsymblError

ENTRY_POINT_GROUP = "zoomsymbl.commands"

EXIT_OK = 0
"""The command did what it was asked."""
EXIT_FAILED = 1
"""The command ran and reports a failure (no such meeting, a backfill with failed meetings, Kafka refused a topic)."""
EXIT_USAGE = 2
"""Invalid arguments or configuration (the message names the setting), or the command is not in this image."""
EXIT_UNAVAILABLE = 3
"""A server (MongoDB, Kafka, S3, the Zoom API) did not answer, or answered "try later": nothing was changed by
the failed call; run the command again when the server is back."""
EXIT_REFUSED = 4
"""The command refused to act without confirmation (``replay --force`` with no filter, ``forget --yes`` of a meeting
in flight); the message says what to add."""


@dataclass(frozen=True)
class Result:
    """What a command produced: ``data`` for ``--json``, ``text`` for a person, and its exit code.

    ``text`` must already be printable (outside text passed through
    :func:`zoomsymbl_common.ops.output.printable`); ``message`` is one line for stderr explaining a
    non-zero ``code``.
    """

    data: Any
    text: str
    code: int = EXIT_OK
    message: str | None = None


@dataclass(frozen=True)
class Command:
    """One subcommand of ``zoomsymbl``."""

    name: str
    summary: str
    """One line, shown in ``zoomsymbl --help``."""
    examples: tuple[str, ...]
    """Complete command lines, shown at the end of ``zoomsymbl <name> --help``; at least one."""
    arguments: Callable[[argparse.ArgumentParser], None]
    """Adds the command's own options to its parser (``--json`` is added for it)."""
    run: Callable[[argparse.Namespace], Result]
    """Runs the command; raises :class:`~zoomsymbl_common.errors.ZoomsymblError` subclasses for failures."""
    description: str = ""
    log_level: str = "WARNING"
    """Level of the JSON log lines the command's code writes on stderr."""


class UsageError(ZoomsymblError):
    """The command line asks for something that cannot be done (a range that ends before it starts)."""


class CommandUnavailable(ZoomsymblError):
    """The command is provided by a package that is not installed in this image."""

    def __init__(self, command: str, package: str, image: str) -> None:
        super().__init__(f"{command} is provided by the {package} package; run it in the {image} image")
        self.command = command
        self.package = package
        self.image = image


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """``--json`` on ``parser``; absent, it sets nothing, so a nested parser never resets what its parent read."""
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document on stdout"
    )


def examples_epilog(examples: tuple[str, ...]) -> str:
    """The ``--help`` epilog listing ``examples`` (use with :class:`argparse.RawDescriptionHelpFormatter`)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in examples)


def utc_time(text: str) -> datetime:
    """An argparse ``type``: an ISO 8601 time, UTC when it names no offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value!r}")
    return value
