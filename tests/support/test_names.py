"""The session's topic tokens and their deletion, against the real local Kafka."""

from __future__ import annotations

import socket
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from zoomsymbl_common.settings import InfraSettings

from tests.support.eventually import eventually
from tests.support.names import SESSION_TOKENS, delete_session_topics, session_topics, token


def test_tokens_are_remembered_and_match_only_as_a_part_between_dashes() -> None:
    mine = token()
    assert mine in SESSION_TOKENS and len(mine) == 8 and len(token(12)) == 12
    names = [
        f"t-{mine}-provider.job-status.v1",
        f"e2e-{mine}-audio.mixed.v1.dlq",
        f"t-{mine}x-provider.job-status.v1",  # another token that starts with ours
        f"t-0{mine}-audio.mixed.v1",
        "t-0123abcd-audio.mixed.v1",  # another session's
        f"__consumer_offsets-{mine}",
    ]
    assert session_topics(names, {mine}) == sorted(names[:2])


@pytest.mark.integration
async def test_the_session_deletes_its_own_topics_and_leaves_the_others() -> None:
    bootstrap = InfraSettings().kafka_bootstrap
    mine, theirs = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]  # not remembered: this test deletes by hand
    created = [f"t-{mine}-a.v1", f"t-{mine}-b.v1", f"t-{theirs}-a.v1"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in created])
        assert await delete_session_topics(bootstrap, {mine}) == 2

        async def listed() -> set[str]:
            return set(await admin.list_topics())

        left = await eventually(listed, lambda names: not {created[0], created[1]} & names, what="deletion")
        assert created[2] in left
        assert await delete_session_topics(bootstrap, {theirs}) == 1
    finally:
        await admin.close()


async def test_kafka_away_deletes_nothing_and_raises_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        assert await delete_session_topics(f"127.0.0.1:{port}", {token()}, timeout=3.0) == 0
