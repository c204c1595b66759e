"""The random part of every Kafka topic prefix the tests make, remembered so the session can delete its topics.

Every test (or test module) publishes on topics of its own (``t-<token>-…``, ``e2e-<token>-…``), and Kafka
keeps them: a day of full runs left thousands of partitions and ran the local broker out of heap. At the end
of the session (``tests/conftest.py``) the topics whose names carry one of this session's tokens, as a part
between dashes, are deleted. A concurrent session's topics carry other tokens and stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable

SESSION_TOKENS: set[str] = set()


def token(length: int = 8) -> str:
    """A random hex token of ``length`` characters (≥ 8), remembered as this session's."""
    value = uuid.uuid4().hex[: max(8, length)]
    SESSION_TOKENS.add(value)
    return value


def session_topics(names: Iterable[str], tokens: Iterable[str]) -> list[str]:
    """The topics among ``names`` that carry one of ``tokens`` as a part between dashes, sorted."""
    wanted = set(tokens)
    return sorted(name for name in names if not name.startswith("_") and wanted & set(name.split("-")))


async def delete_session_topics(bootstrap: str, tokens: Iterable[str], timeout: float = 30.0) -> int:
    """Delete this session's topics on ``bootstrap``; how many were asked to go (0 when Kafka is away)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            doomed = session_topics(await admin.list_topics(), tokens)
            for start in range(0, len(doomed), 500):
                await admin.delete_topics(doomed[start : start + 500], timeout_ms=int(timeout * 1000))
            return len(doomed)
    except (KafkaError, OSError, TimeoutError):
        return 0
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await admin.close()
