"""Exit code 3 for a server that stops answering mid-run, whichever client raised it: an error our code did not
translate (``KafkaTimeoutError`` from an offset look-up, pymongo's ``AutoReconnect``) is "unavailable, run it again",
not "the command failed" (exit 1), and ``--json`` names the server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure, ServerSelectionTimeoutError
from zoomsymbl_common.errors import MongoUnauthorized
from zoomsymbl_common.ops import cli
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE
from zoomsymbl_common.ops.replay import ReplayCounts, ReplayStopped
from zoomsymbl_common.settings import InfraSettings

from tests.common.test_ops_cli import TOPIC, Ran, _events, _produce, assert_one_clear_line, cli_env


@pytest.mark.parametrize(
    ("error", "server"),
    [
        (KafkaTimeoutError(), "kafka"),
        (KafkaConnectionError("broker gone"), "kafka"),
        (NodeNotReadyError(), "kafka"),
        (RequestTimedOutError(), "kafka"),
        (AutoReconnect("connection reset"), "mongodb"),
        (NetworkTimeout("timed out"), "mongodb"),
        (ServerSelectionTimeoutError("no server"), "mongodb"),
    ],
)
def test_a_server_gone_is_exit_3_naming_it(error: Exception, server: str) -> None:
    for raised in (error, ReplayStopped(ReplayCounts(scanned=2), error)):
        code, line, document = cli.failure(raised)
        assert code == EXIT_UNAVAILABLE, (raised, line)
        assert (document["error"]["kind"], document["error"]["server"]) == ("unavailable", server)
        assert cli.SETTING_OF[server] in line


@pytest.mark.parametrize(
    "error", [TopicAuthorizationFailedError(), OperationFailure("not authorized"), MongoUnauthorized()]
)
def test_a_refusal_that_is_no_outage_stays_exit_1(error: Exception) -> None:
    assert cli.failure(error)[0] == EXIT_FAILED


def test_a_role_without_a_privilege_is_exit_1_naming_the_fix() -> None:
    code, line, document = cli.failure(MongoUnauthorized())
    assert (code, document["error"]["kind"], document["error"]["server"]) == (EXIT_FAILED, "failed", "mongodb")
    assert "readWrite" in line and "is it running" not in line


@pytest.mark.integration
def test_kafka_not_answering_an_offset_look_up_mid_replay_is_exit_3(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_produce(infra, _events("m1")))
    for name, value in cli_env(infra).items():
        if name.startswith("ZOOMSYMBL_"):
            monkeypatch.setenv(name, value)

    async def gone(self: AIOKafkaConsumer, *args: Any, **kwargs: Any) -> Any:
        raise KafkaTimeoutError("Failed to get offsets by times in 40000 ms")

    monkeypatch.setattr(AIOKafkaConsumer, "offsets_for_times", gone)  # the broker went away after connecting
    argv = ["replay", "--topic", TOPIC, "--since", "2026-01-01T00:00", "--dry-run", "--json"]
    assert cli.main(argv) == EXIT_UNAVAILABLE
    captured = capsys.readouterr()
    assert_one_clear_line(Ran(EXIT_UNAVAILABLE, captured.out, captured.err), "ZOOMSYMBL_KAFKA_BOOTSTRAP")
    document = json.loads(captured.out)
    assert (document["error"]["kind"], document["error"]["server"]) == ("unavailable", "kafka")


def test_a_window_that_ends_before_it_starts_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", "127.0.0.1:9")  # refused before connecting
    argv = ["replay", "--topic", TOPIC, "--since", "2026-06-02T00:00", "--until", "2026-06-01T00:00", "--force"]
    assert cli.main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert_one_clear_line(Ran(EXIT_USAGE, captured.out, captured.err), "--until", "is before --since")
