"""``zoomsymbl replay --dry-run`` counts what the run would do, and a Kafka that stops answering metadata requests
after the replay connected is exit 3, not a replay of nothing.

A dry run used to stop counting at ``matched``: the events of a meeting forgotten with ``zoomsymbl forget``, which
the run skips, were in its count (and in the "would reprocess all N" of a refused ``--force``). And aiokafka gives a
metadata refresh no broker answered back as False, which the replay read as "the topic does not exist": exit 0,
``scanned=0``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import cli
from zoomsymbl_common.ops.command import EXIT_REFUSED, EXIT_UNAVAILABLE
from zoomsymbl_common.records import MEETINGS, TOMBSTONES, Meeting, Tombstone
from zoomsymbl_common.settings import InfraSettings

from tests.common.test_ops_cli import TOPIC, Ran, _events, _produce, assert_one_clear_line, cli_env, zoomsymbl

pytestmark = pytest.mark.integration


def _counts(ran: Ran) -> dict[str, Any]:
    assert "Traceback" not in ran.err, ran.err
    data: dict[str, Any] = json.loads(ran.out)
    return data


async def test_a_dry_run_counts_a_forgotten_meeting_and_a_duplicate_as_the_run_does(
    infra: InfraSettings, mongo: Mongo
) -> None:
    await mongo.db[MEETINGS].insert_many(
        [Meeting(tenant="acme", meeting_uuid=m, stage="notified").to_document() for m in ("kept", "gone")]
    )
    await mongo.db[TOMBSTONES].insert_one(
        Tombstone(tenant="acme", meeting_uuid="gone", forgotten_at=utcnow()).to_document()
    )
    # "kept" retained twice (a duplicate), "gone" twice: one event to publish, two forgotten, one skipped.
    await _produce(infra, _events("kept", "gone", "kept", "gone"))
    env = cli_env(infra)

    refused = await zoomsymbl("replay", "--topic", TOPIC, "--force", "--json", env=env)
    assert refused.code == EXIT_REFUSED, refused.err
    assert_one_clear_line(refused, "would reprocess all 1 retained events")

    dry = _counts(await zoomsymbl("replay", "--topic", TOPIC, "--dry-run", "--json", env=env))
    assert (dry["matched"], dry["forgotten"], dry["skipped"], dry["published"]) == (4, 2, 1, 0)
    assert dry["would_publish"] == 1
    text = await zoomsymbl("replay", "--topic", TOPIC, "--dry-run", env=env)
    assert "forgotten=2" in text.out and "would_publish=1" in text.out, text.out

    ran = await zoomsymbl("replay", "--topic", TOPIC, "--json", env=env)
    done = _counts(ran)
    assert ran.code == 0
    assert (done["matched"], done["forgotten"], done["skipped"]) == (dry["matched"], dry["forgotten"], dry["skipped"])
    assert done["published"] == dry["would_publish"]


def test_kafka_not_answering_the_metadata_refresh_after_connecting_is_exit_3(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_produce(infra, _events("m1")))
    for name, value in cli_env(infra).items():
        if name.startswith("ZOOMSYMBL_"):
            monkeypatch.setenv(name, value)

    def unanswered(self: AIOKafkaClient) -> asyncio.Future[bool]:
        # What aiokafka gives back when no broker answered the metadata request: False, no error (later, as a
        # request that went unanswered does: the loop runs in between).
        loop = asyncio.get_running_loop()
        refreshed: asyncio.Future[bool] = loop.create_future()
        loop.call_soon(refreshed.set_result, False)
        return refreshed

    monkeypatch.setattr(AIOKafkaClient, "force_metadata_update", unanswered)  # connected (start), then gone
    for argv in (["replay", "--topic", TOPIC, "--json"], ["replay", "--topic", TOPIC, "--group", "g", "--json"]):
        assert cli.main(argv) == EXIT_UNAVAILABLE, argv
        captured = capsys.readouterr()
        assert_one_clear_line(
            Ran(EXIT_UNAVAILABLE, captured.out, captured.err), "metadata refresh", "ZOOMSYMBL_KAFKA_BOOTSTRAP"
        )
        document = json.loads(captured.out)
        assert (document["error"]["kind"], document["error"]["server"]) == ("unavailable", "kafka")
