"""Fixtures of the reliability and security suite: private servers, the pipeline as processes, probes.

Every test here is marked ``reliability``; the ones that need servers are also marked ``e2e`` by
their module. The secrets scan runs last, so it sees everything the other tests left in logs,
topics, documents and mailboxes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from zoomsymbl_sandbox.stack import Stack, running_stack

from tests.reliability.observe import State
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.stack_config import stack_config

HERE = Path(__file__).resolve().parent
LAST = ("test_secrets.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``reliability`` and move the secrets scan to the end of the run."""
    ours = [item for item in items if HERE in item.path.parents]
    for item in ours:
        item.add_marker(pytest.mark.reliability)
    last = [item for item in ours if item.path.name in LAST]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    """Kafka, MongoDB-wire, S3 and SMTP of this suite's own: stopping them disturbs no other test."""
    infra = PrivateInfra(tmp_path_factory.mktemp("infra"))
    try:
        infra.up()
    except BaseException:
        infra.down()
        raise
    yield infra
    infra.down()


@pytest.fixture(scope="session")
def stack(private_infra: PrivateInfra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sandboxes and the four services as processes on the private servers."""
    with running_stack(stack_config(tmp_path_factory.mktemp("stack"), private_infra)) as running:
        yield running


@pytest.fixture
async def state(stack: Stack, private_infra: PrivateInfra) -> AsyncIterator[State]:
    """Read-only access to the stack's MongoDB database."""
    probe = State(private_infra, stack.config.database)
    yield probe
    await probe.close()
