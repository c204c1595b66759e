"""Fixtures shared by every test: per-test isolated names on the real local servers."""

from __future__ import annotations

import asyncio
import email
import os
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo, ensure_indexes, make_mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.support.logging_state import logging_kept
from tests.support.names import SESSION_TOKENS, delete_session_topics, token

# The provider sandboxes, their audio, a webhook receiver and an HTTP session: one set for every folder.
pytest_plugins = ("tests.support.providers",)


def _unique(prefix: str) -> str:
    return f"{prefix}{token(12)}"


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Each test starts with the logging levels the session started with (tests/support/logging_state.py)."""
    with logging_kept():
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete the Kafka topics this session made (tests/support/names.py): Kafka would keep them for ever."""
    if SESSION_TOKENS:
        asyncio.run(delete_session_topics(InfraSettings().kafka_bootstrap, SESSION_TOKENS))


@pytest.fixture
def infra() -> InfraSettings:
    """Infra settings from the environment, with a topic prefix, database and bucket of this test's own."""
    base = InfraSettings()
    return base.model_copy(
        update={
            "kafka_topic_prefix": _unique("t-") + "-",
            "mongo_database": _unique("t_"),
            "s3_bucket": _unique("t-"),
        }
    )


@pytest.fixture
async def mongo(infra: InfraSettings) -> AsyncIterator[Mongo]:
    """A client on this test's own database, indexes created, dropped afterwards."""
    client = make_mongo(infra)
    await ensure_indexes(client)
    yield client
    await client.client.drop_database(infra.mongo_database)
    await client.close()


@pytest.fixture
async def store(infra: InfraSettings) -> AsyncIterator[ObjectStore]:
    """An object store on this test's own bucket (left behind: the data dir is disposable)."""
    s = ObjectStore(infra)
    await s.ensure_bucket()
    yield s


def maildir() -> str:
    """Where the local SMTP sink stores received messages."""
    return os.environ.get("ZS_SMTP_MAILDIR", os.path.join(".cache", "data", "smtp", "maildir"))


def mails_to(address: str) -> list[EmailMessage]:
    """Every message the local SMTP sink received that names ``address`` (in its headers or body)."""
    found: list[EmailMessage] = []
    for path in sorted(Path(maildir()).glob("*.eml")):
        raw = path.read_bytes()
        if address.encode() in raw:
            message = email.message_from_bytes(raw, policy=default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found
