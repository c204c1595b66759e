"""``zoomsymbl``: the operator's command.

Built in: ``status``, ``replay``, ``topics``, ``forget``, ``retention``. Other packages add subcommands through the
entry-point group ``zoomsymbl.commands`` (see :mod:`zoomsymbl_common.ops.command`): ingest adds ``backfill`` and
``reconcile``, the notifier ``link``.
Every subcommand has ``--json`` and the exit codes listed in ``zoomsymbl --help``; a server that
does not answer ends the command with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import urllib3
from aiokafka.errors import KafkaError, KafkaTimeoutError
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from pymongo.errors import ConnectionFailure, PyMongoError

from zoomsymbl_common.errors import (
    ConfigError,
    InfrastructureUnavailable,
    MongoUnauthorized,
    RetryableError,
    StorageUnavailable,
    ZoomsymblError,
)
from zoomsymbl_common.logs import redact, setup_logging
from zoomsymbl_common.ops import (
    erasures_command,
    forget_command,
    replay_command,
    retention_command,
    status_command,
    topics_command,
)
from zoomsymbl_common.ops.command import (
    ENTRY_POINT_GROUP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Command,
    CommandUnavailable,
    Result,
    UsageError,
    add_json_flag,
    examples_epilog,
)
from zoomsymbl_common.ops.output import json_text, printable
from zoomsymbl_common.ops.replay import ReplayStopped, progress
from zoomsymbl_common.storage_errors import non_xml_status, translate_s3_error

BUILT_IN: tuple[Callable[[], Command], ...] = (
    status_command.register,
    replay_command.register,
    topics_command.register,
    forget_command.register,
    erasures_command.register,
    retention_command.register,
)
# Subcommands other packages provide: (package, image) to name when that package is not installed here.
PROVIDED_ELSEWHERE: dict[str, tuple[str, str]] = {
    "backfill": ("ingest", "ingest"),
    "reconcile": ("ingest", "ingest"),
    "link": ("notifier", "notifier"),
}
# Where each of our servers is configured, named in the "unreachable" message.
SETTING_OF = {"mongodb": "ZOOMSYMBL_MONGO_URI", "kafka": "ZOOMSYMBL_KAFKA_BOOTSTRAP", "s3": "ZOOMSYMBL_S3_ENDPOINT"}

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  done
  {EXIT_FAILED}  the command ran and reports a failure (e.g. no such meeting)
  {EXIT_USAGE}  invalid arguments or configuration, or the command is not installed in this image
  {EXIT_UNAVAILABLE}  a server (MongoDB, Kafka, S3, Zoom API) did not answer: run it again when it is back
  {EXIT_REFUSED}  refused without confirmation (replay --force with no filter, forget of a meeting in flight)"""
EXAMPLES = (
    "zoomsymbl status --failed",
    "zoomsymbl status --meeting 'aBcD1234+xyz==' --json",
    "zoomsymbl replay --topic audio.mixed.v1 --since 2026-06-01T00:00 --tenant acme --dry-run",
)


def plugin_entry_points() -> list[EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP` installed in this environment."""
    return list(entry_points(group=ENTRY_POINT_GROUP))


class _Placeholder(Command):
    """A command that cannot run here; it accepts any arguments and says why."""


def _broken(entry: EntryPoint, exc: Exception) -> Command:
    problem = f"{entry.name} could not be loaded from {entry.value!r}: {type(exc).__name__}: {exc}"

    def run(args: argparse.Namespace) -> Result:
        raise ZoomsymblError(problem)

    return _Placeholder(entry.name, "(broken in this image)", (f"zoomsymbl {entry.name}",), _nothing, run, problem)


def _absent(name: str, package: str, image: str) -> Command:
    def run(args: argparse.Namespace) -> Result:
        raise CommandUnavailable(name, package, image)

    why = str(CommandUnavailable(name, package, image))
    return _Placeholder(
        name, f"(in the {image} image)", (f"zoomsymbl {name} --help   # in the {image} image",), _nothing, run, why
    )


def _nothing(parser: argparse.ArgumentParser) -> None:
    """No options of its own."""


def commands() -> list[Command]:
    """Every subcommand: the built-in ones, those installed packages provide, placeholders for the absent."""
    found = [register() for register in BUILT_IN]
    for entry in plugin_entry_points():
        try:
            found.append(entry.load()())
        except Exception as exc:  # a broken package must not take the other subcommands down
            found.append(_broken(entry, exc))
    names = {command.name for command in found}
    found += [_absent(name, *where) for name, where in PROVIDED_ELSEWHERE.items() if name not in names]
    return found


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``zoomsymbl`` and every subcommand; ``args.command`` is the chosen :class:`Command`."""
    parser = argparse.ArgumentParser(
        prog="zoomsymbl",
        description="Operate a zoomsymbl pipeline: meeting status, event replay, Kafka topics, Zoom backfill and"
        " reconciliation, forget, retention, meeting-page links.",
        epilog=examples_epilog(EXAMPLES) + "\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_json_flag(parser)
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    for command in commands():
        if not command.examples:
            raise ValueError(f"command {command.name!r} has no example for its --help")
        child = sub.add_parser(
            command.name,
            help=command.summary,
            description=command.description or command.summary,
            epilog=examples_epilog(command.examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_json_flag(child)
        command.arguments(child)
        child.set_defaults(command=command)
    return parser


def failure(exc: Exception) -> tuple[int, str, dict[str, Any]]:
    """(exit code, one printable line, JSON error) for an error a command raised."""
    if isinstance(exc, ReplayStopped):
        return _stopped(exc)
    line = printable(redact(str(exc) if isinstance(exc, ZoomsymblError) else f"{type(exc).__name__}: {exc}"))
    detail: dict[str, Any] = {}
    if isinstance(exc, ConfigError | CommandUnavailable | UsageError):
        code, detail["kind"] = EXIT_USAGE, "usage"
        if isinstance(exc, ConfigError) and exc.variables:
            detail["variables"] = list(exc.variables)
    elif isinstance(exc, MongoUnauthorized):  # waited out by the services, but a refusal: running it again won't do
        code, detail["kind"], detail["server"] = EXIT_FAILED, "failed", "mongodb"
    elif isinstance(exc, RetryableError | ConnectionError | TimeoutError) or _server_gone(exc):
        code, detail["kind"] = EXIT_UNAVAILABLE, "unavailable"
        server = exc.component if isinstance(exc, InfrastructureUnavailable) else _server_gone(exc)
        if server:
            detail["server"] = server
            setting = SETTING_OF.get(server)
            line += f" (is it running? check {setting})" if setting else ""
    else:
        code, detail["kind"] = EXIT_FAILED, "failed"
    return code, line, {"error": {**detail, "message": line, "exit_code": code}}


def _server_gone(exc: Exception) -> str | None:
    """The server a client error our code did not translate says is gone or busy ("try later"), or None.

    A broker that stops answering an offset look-up mid-replay raises ``KafkaTimeoutError`` (which aiokafka does
    not mark retriable); pymongo's ``AutoReconnect``, ``NetworkTimeout`` and ``ServerSelectionTimeoutError`` are
    ``ConnectionFailure``s. A refusal (no authorization, a bad request) is neither: exit 1. What the minio client
    raises outside :mod:`zoomsymbl_common.storage_errors`'s translation is S3's when the answer is a 5xx or a
    throttle, or when none came (urllib3 gave up); a 4xx error answer (``SignatureDoesNotMatch``) is a refusal.
    """
    if isinstance(exc, KafkaTimeoutError) or (isinstance(exc, KafkaError) and exc.retriable):
        return "kafka"
    if isinstance(exc, ConnectionFailure):
        return "mongodb"
    if isinstance(exc, S3Error):
        return "s3" if isinstance(translate_s3_error(exc, "", ""), StorageUnavailable) else None
    if isinstance(exc, ServerError | InvalidResponseError):
        return "s3" if non_xml_status(exc) >= 500 else None
    return "s3" if isinstance(exc, urllib3.exceptions.HTTPError) else None


def _stopped(exc: ReplayStopped) -> tuple[int, str, dict[str, Any]]:
    """A replay stopped part-way: the exit code and line of what stopped it, with what it had done by then."""
    code, line, document = failure(exc.cause)
    line += f" (replay stopped after {progress(exc.counts)})"
    if exc.counts.replay_id:
        line += f"; to finish it without reprocessing a meeting twice, run it with --resume {exc.counts.replay_id}"
    document["error"]["message"] = line
    return code, line, {**asdict(exc.counts), **document}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoomsymbl`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command: Command = args.command
    if extra and not isinstance(command, _Placeholder):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    as_json = bool(getattr(args, "json", False) or "--json" in extra)
    setup_logging(command.log_level)
    try:
        result = command.run(args)
    # Our errors, and what the clients raise that our code does not translate (MongoDB or S3 refusing the
    # credentials, a socket error): one line on stderr, never a traceback. Bugs still show theirs.
    except (ZoomsymblError, PyMongoError, KafkaError, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        code, line, document = failure(exc)
        print(f"zoomsymbl {command.name}: {line}", file=sys.stderr)
        return _emit(json_text(document) if as_json else "", code)
    except KeyboardInterrupt:
        print(f"zoomsymbl {command.name}: interrupted", file=sys.stderr)
        return 130
    if result.message:
        print(f"zoomsymbl {command.name}: {printable(result.message)}", file=sys.stderr)
    return _emit(json_text(result.data) if as_json else result.text, result.code)


def _emit(text: str, code: int) -> int:
    """Print ``text`` (when any) on stdout; a reader that went away (``| head``) is not an error of ours."""
    try:
        if text:
            print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
