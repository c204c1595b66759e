"""The ``zoomsymbl`` command: help with examples, ``--json``, exit codes, servers down, the replay guard."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from pymongo import MongoClient
from zoomsymbl_common.events import RecordingCompleted, stable_id
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import cli
from zoomsymbl_common.ops.command import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from zoomsymbl_common.ops.replay import ReplayRequest, replay
from zoomsymbl_common.records import MEETINGS, Failure, Meeting
from zoomsymbl_common.settings import InfraSettings

SUBCOMMANDS = ("status", "replay", "topics", "backfill")
TOPIC = RecordingCompleted.topic
# A topic whose author wants to clear the operator's screen and hide a link in it.
HOSTILE_TOPIC = "Q3 review\x1b[2J\x1b[H\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07\x9b31m\u202eend"


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ran:
    code: int
    out: str
    err: str


def cli_env(infra: InfraSettings | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    if infra is not None:
        env.update(
            {
                "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
                "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
                "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
                "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
            }
        )
    return env | extra


async def zoomsymbl(*args: str, env: dict[str, str]) -> Ran:
    """Run ``zoomsymbl`` as an operator would: a separate process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_common.ops.cli", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def assert_one_clear_line(ran: Ran, *needles: str) -> None:
    assert "Traceback" not in ran.err, ran.err
    lines = [line for line in ran.err.splitlines() if line.startswith("zoomsymbl ")]
    assert len(lines) == 1, ran.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help_with_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([name, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    examples = out.partition("examples:\n")[2]
    assert f"  zoomsymbl {name} " in examples, out
    assert "--json" in out


def test_top_level_help_lists_the_subcommands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    assert "exit codes:" in out and "3  a server" in out and "4  refused" in out


def test_backfill_is_discovered_through_the_ingest_entry_point() -> None:
    entries = {entry.name: entry.value for entry in cli.plugin_entry_points()}
    assert entries["backfill"] == "zoomsymbl_ingest.backfill_command:register"
    [backfill] = [command for command in cli.commands() if command.name == "backfill"]
    assert backfill.run.__module__ == "zoomsymbl_ingest.backfill_command"


@pytest.mark.parametrize("command", ["backfill", "reconcile"])
def test_without_the_ingest_package_its_commands_say_where_to_run_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # reconcile got argparse's "invalid choice" in the other images, though the runbook promised this message.
    monkeypatch.setattr(cli, "plugin_entry_points", list)
    assert cli.main([command, "--from", "2026-01-01", "--json"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert f"{command} is provided by the ingest package; run it in the ingest image" in captured.err
    assert json.loads(captured.out)["error"]["kind"] == "usage"


def test_every_service_image_has_the_command() -> None:
    """Each image installs its service and zoomsymbl-common, whose script is ``zoomsymbl``."""
    root = Path(__file__).resolve().parents[2]
    common = tomllib.loads((root / "libs" / "common" / "pyproject.toml").read_text(encoding="utf-8"))
    assert common["project"]["scripts"]["zoomsymbl"] == "zoomsymbl_common.ops.cli:main"
    manifests = sorted(root.glob("services/*/pyproject.toml"))
    assert len(manifests) >= 4
    for manifest in manifests:
        dependencies = tomllib.loads(manifest.read_text(encoding="utf-8"))["project"]["dependencies"]
        assert "zoomsymbl-common" in dependencies, manifest


def test_topics_list_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["topics", "list", "--prefix", "x-", "--json"]) == 0
    names = json.loads(capsys.readouterr().out)["topics"]
    assert "x-audio.mixed.v1" in names and "x-audio.mixed.v1.dlq" in names


@pytest.mark.parametrize("args", [["status"], ["status", "--meeting", "m1", "--json"]])
async def test_mongodb_down_is_one_line_and_exit_3(args: list[str]) -> None:
    env = cli_env(ZOOMSYMBL_MONGO_URI=f"mongodb://127.0.0.1:{closed_port()}/", ZOOMSYMBL_MONGO_TIMEOUT_MS="300")
    ran = await zoomsymbl(*args, env=env)
    assert ran.code == EXIT_UNAVAILABLE
    assert_one_clear_line(ran, "mongodb", "ZOOMSYMBL_MONGO_URI")
    if "--json" in args:
        assert json.loads(ran.out)["error"] == {
            "kind": "unavailable",
            "server": "mongodb",
            "message": ran.err.strip().removeprefix("zoomsymbl status: "),
            "exit_code": EXIT_UNAVAILABLE,
        }


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "--topic", TOPIC, "--dry-run"],
        ["replay", "--topic", TOPIC, "--group", "g", "--json"],
        ["topics", "create", "--replication", "1", "--timeout-s", "0"],
    ],
)
async def test_kafka_down_is_one_line_and_exit_3(args: list[str]) -> None:
    ran = await zoomsymbl(*args, env=cli_env(ZOOMSYMBL_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port()}"))
    assert ran.code == EXIT_UNAVAILABLE, ran.err
    assert_one_clear_line(ran, "kafka" if args[0] == "replay" else "no broker answered")
    if "--json" in args:
        assert json.loads(ran.out)["error"]["server"] == "kafka"


async def test_a_bad_setting_is_exit_2_naming_the_variable() -> None:
    ran = await zoomsymbl("status", env=cli_env(ZOOMSYMBL_MONGO_TIMEOUT_MS="soon"))
    assert ran.code == EXIT_USAGE
    assert_one_clear_line(ran, "ZOOMSYMBL_MONGO_TIMEOUT_MS")


# Each would be ignored by --group, which moves the whole group to --since.
NOT_WITH_GROUP = (["--dry-run"], ["--tenant", "acme"], ["--meeting", "m1"], ["--until", "2026-06-02"], ["--force"])


@pytest.mark.parametrize("option", [*NOT_WITH_GROUP, ["--force", "--yes"], ["--resume", "3f9c2a7d1b6e4c08"]])
def test_group_refuses_an_option_it_would_ignore_as_a_usage_error(
    option: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")  # refused before connecting
    args = ["replay", "--topic", TOPIC, "--group", "g", "--since", "2026-06-01", *option, "--json"]
    assert cli.main(args) == EXIT_USAGE
    captured = capsys.readouterr()
    assert_one_clear_line(Ran(EXIT_USAGE, captured.out, captured.err), "--group cannot be combined with", option[0])
    assert json.loads(captured.out)["error"]["kind"] == "usage"


def test_replaying_a_topic_that_is_not_an_event_topic_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")  # refused before connecting
    for topic in ("__consumer_offsets", "victim.v1.dlq"):
        assert cli.main(["replay", "--topic", topic, "--dry-run"]) == EXIT_USAGE
        captured = capsys.readouterr()
        assert_one_clear_line(Ran(EXIT_USAGE, captured.out, captured.err), "is not an event topic", "audio.mixed.v1")


async def _produce(infra: InfraSettings, events: list[RecordingCompleted], *garbage: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for body in [*(event.model_dump_json().encode() for event in events), *garbage]:
            await producer.send_and_wait(infra.kafka_topic_prefix + TOPIC, body)
    finally:
        await producer.stop()


def _events(*meetings: str) -> list[RecordingCompleted]:
    return [RecordingCompleted(event_id=stable_id("acme", m), tenant="acme", meeting_uuid=m) for m in meetings]


@pytest.mark.integration
async def test_group_with_dry_run_leaves_the_groups_offsets_where_they_were(infra: InfraSettings) -> None:
    await _produce(infra, _events("m1", "m2"))
    group = infra.kafka_topic_prefix + "group"
    ran = await zoomsymbl("replay", "--topic", TOPIC, "--group", group, "--dry-run", env=cli_env(infra))
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        topic = infra.kafka_topic_prefix + TOPIC
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions
        assert [await consumer.committed(tp) for tp in partitions] == [None] * len(partitions), "nothing committed"
    finally:
        await consumer.stop()
    assert ran.code == EXIT_USAGE, ran.err
    assert_one_clear_line(ran, "--group cannot be combined with --dry-run")


@pytest.mark.integration
async def test_replay_skips_and_counts_messages_that_are_not_events(infra: InfraSettings) -> None:
    await _produce(infra, _events("m1"), b"not json", b"[1, 2]", b'{"tenant": "acme"}')
    ran = await zoomsymbl("replay", "--topic", TOPIC, env=cli_env(infra))
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    assert "scanned=4 matched=1 published=1 skipped=0 invalid=3 misrouted=0" in ran.out
    assert await _retained(infra) == 5


def _cli_in_process_with_one_send(infra: InfraSettings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The command's settings in this process's environment, and a ``send_and_wait`` that Kafka times out after
    its first send (patch it in where the test wants Kafka to stop)."""
    for name, value in cli_env(infra).items():
        if name.startswith("ZOOMSYMBL_"):
            monkeypatch.setenv(name, value)
    return kafka_stops_after_one_send()


def kafka_stops_after_one_send() -> Any:
    """A ``send_and_wait`` that Kafka acknowledges once, then times out (the stopped run)."""
    send = AIOKafkaProducer.send_and_wait
    sent: list[object] = []

    async def send_once(self: AIOKafkaProducer, *args: Any, **kwargs: Any) -> Any:
        if sent:
            raise KafkaTimeoutError()
        sent.append(args)
        return await send(self, *args, **kwargs)

    return send_once


@pytest.mark.integration
def test_a_replay_stopped_by_kafka_reports_its_counts_so_far(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_produce(infra, _events("m1", "m2", "m3")))
    send_once = _cli_in_process_with_one_send(infra, monkeypatch)
    monkeypatch.setattr(AIOKafkaProducer, "send_and_wait", send_once)
    assert cli.main(["replay", "--topic", TOPIC, "--json"]) == EXIT_UNAVAILABLE
    captured = capsys.readouterr()
    ran = Ran(EXIT_UNAVAILABLE, captured.out, captured.err)
    assert_one_clear_line(ran, "kafka unavailable", "replay stopped after scanned=2 matched=2 published=1")
    document = json.loads(captured.out)
    assert (document["matched"], document["published"]) == (2, 1)
    assert (document["error"]["kind"], document["error"]["server"]) == ("unavailable", "kafka")


@pytest.mark.integration
def test_a_forced_replay_stopped_part_way_resumes_without_bumping_a_meeting_twice(
    infra: InfraSettings, mongo: Mongo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running a stopped forced replay must not give the meetings it already reprocessed a second update."""
    meetings = ("m1", "m2", "m3")
    asyncio.run(_produce(infra, _events(*meetings)))
    send_once = _cli_in_process_with_one_send(infra, monkeypatch)
    with monkeypatch.context() as patched:
        patched.setattr(AIOKafkaProducer, "send_and_wait", send_once)
        assert cli.main(["replay", "--topic", TOPIC, "--tenant", "acme", "--force"]) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    [replay_id] = {word for word in err.split() if len(word) == 16 and word.isalnum()}
    assert f"--resume {replay_id}" in err.splitlines()[-1], "the error line says how to finish it"

    def generations() -> dict[str, int]:  # this test's loop is cli.main's: read with a client of no loop
        client: MongoClient[dict[str, Any]] = MongoClient(infra.mongo_uri.get_secret_value())
        try:
            docs = list(client[infra.mongo_database][MEETINGS].find({}))
        finally:
            client.close()
        return {doc["meeting_uuid"]: doc["generation"] for doc in docs}

    stopped = generations()
    assert sorted(stopped.values()) == [1, 1], "two meetings bumped before the second send failed"
    resumed = ["replay", "--topic", TOPIC, "--tenant", "acme", "--force", "--resume", replay_id, "--json"]
    assert cli.main(resumed) == 0
    document = json.loads(capsys.readouterr().out)
    # The three events, and m1's already re-published under generation 1 (published again under the same one).
    assert (document["matched"], document["published"], document["replay_id"]) == (4, 4, replay_id)
    assert document["generations"] == {f"acme/{m}": 1 for m in meetings}
    assert generations() == dict.fromkeys(meetings, 1), "each meeting reprocessed once by this replay"
    assert cli.main(resumed) == 0
    capsys.readouterr()
    assert generations() == dict.fromkeys(meetings, 1), "resuming a finished replay changes nothing"
    assert cli.main(["replay", "--topic", TOPIC, "--meeting", "m1", "--force"]) == 0
    assert "starting forced replay" in capsys.readouterr().err
    assert generations() == {"m1": 2, "m2": 1, "m3": 1}, "a new forced replay reprocesses again"


@pytest.mark.parametrize("options", [["--resume", "3f9c2a7d1b6e4c08"], ["--force", "--dry-run", "--resume", "x1"]])
def test_resume_without_a_forced_replay_is_a_usage_error(
    options: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")  # refused before connecting
    assert cli.main(["replay", "--topic", TOPIC, "--meeting", "m1", *options]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert_one_clear_line(Ran(EXIT_USAGE, captured.out, captured.err), "--resume finishes a forced replay")


async def _retained(infra: InfraSettings) -> int:
    return (await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))).scanned


@pytest.mark.integration
async def test_forced_replay_without_a_filter_counts_and_refuses_unless_yes(infra: InfraSettings, mongo: Mongo) -> None:
    meetings = ("m1", "m2")
    await mongo.db[MEETINGS].insert_many(
        [Meeting(tenant="acme", meeting_uuid=m, stage="notified").to_document() for m in meetings]
    )
    await _produce(infra, _events(*meetings))
    env = cli_env(infra)

    refused = await zoomsymbl("replay", "--topic", TOPIC, "--force", "--json", env=env)
    assert refused.code == EXIT_REFUSED
    assert_one_clear_line(refused, "would reprocess all 2 retained events", "--yes")
    assert (json.loads(refused.out)["mode"], json.loads(refused.out)["matched"]) == ("refused", 2)
    assert await _retained(infra) == 2, "nothing was re-published"
    generations = {doc["meeting_uuid"]: doc["generation"] async for doc in mongo.db[MEETINGS].find({})}
    assert generations == {"m1": 0, "m2": 0}, "no generation was bumped"

    confirmed = await zoomsymbl("replay", "--topic", TOPIC, "--force", "--yes", "--json", env=env)
    assert confirmed.code == 0, confirmed.err
    assert json.loads(confirmed.out)["published"] == 2
    assert await _retained(infra) == 4
    generations = {doc["meeting_uuid"]: doc["generation"] async for doc in mongo.db[MEETINGS].find({})}
    assert generations == {"m1": 1, "m2": 1}

    filtered = await zoomsymbl("replay", "--topic", TOPIC, "--force", "--meeting", "m2", env=env)
    assert filtered.code == 0, filtered.err
    assert "replay (forced): scanned=4 matched=2" in filtered.out


@pytest.mark.integration
async def test_status_never_prints_a_topics_escape_sequences(infra: InfraSettings, mongo: Mongo) -> None:
    failure = Failure.build("notifier", "provider", "bad audio\x1b]0;pwned\x07\r\nSUCCESS")
    meeting = Meeting(
        tenant="acme", meeting_uuid="m1", stage="failed", topic=HOSTILE_TOPIC,
        host_email="host\x1b[8m@example.com", failure=failure,
    )  # fmt: skip
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    env = cli_env(infra)

    for args in (["status"], ["status", "--failed"], ["status", "--meeting", "m1"]):
        ran = await zoomsymbl(*args, env=env)
        assert ran.code == 0, ran.err
        assert not any(c in ran.out for c in "\x1b\x07\x9b\r\u202e"), repr(ran.out)
        assert "Q3 review" in ran.out
    assert "click me" in ran.out, "the text of a hidden link is shown as text"
    assert "bad audio" in ran.out and "\\r\\nSUCCESS" in ran.out, "a forged second line stays on the first"

    as_json = await zoomsymbl("status", "--meeting", "m1", "--json", env=env)
    assert "\x1b" not in as_json.out and "\\u001b" in as_json.out
    document = json.loads(as_json.out)["meeting"]
    assert (document["topic"], document["host_email"]) == (HOSTILE_TOPIC, "host\x1b[8m@example.com")
    listing = await zoomsymbl("status", "--json", env=env)
    assert [item["topic"] for item in json.loads(listing.out)["items"]] == [HOSTILE_TOPIC]


@pytest.mark.integration
async def test_status_of_an_unknown_meeting_is_exit_1() -> None:
    ran = await zoomsymbl("status", "--meeting", "nope", "--json", env=cli_env(InfraSettings()))
    assert ran.code == 1
    assert_one_clear_line(ran, "no meeting 'nope'")
    assert json.loads(ran.out) == {"meeting": None}


@pytest.mark.parametrize(
    "topic", ["provider.job-status.v1", "meeting.failed.v1.dlq", "insights.ready.v1", "provider.job-submitted.v1"]
)
def test_a_forced_replay_of_a_topic_that_starts_no_run_is_a_usage_error(
    topic: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its events belong to a run that is over: forced, the meeting went to a new generation nothing runs, with its
    stage cleared, for good (no stage, "still being processed", kept by retention as in flight)."""
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")  # refused before connecting
    assert cli.main(["replay", "--topic", topic, "--meeting", "m1", "--force"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert_one_clear_line(
        Ran(EXIT_USAGE, captured.out, captured.err), "--force reprocesses meetings", "zoom.recording-completed.v1"
    )
