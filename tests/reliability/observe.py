"""What the reliability tests measure: Kafka topics, MongoDB state, e-mails at the SMTP server.

Every figure is read from the servers themselves (Kafka offsets, MongoDB documents, the SMTP
sink's files), never from the services' own account of what they did.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.records import JOBS, LIMITER, MEETINGS
from zoomsymbl_common.settings import InfraSettings

from tests.reliability.private_infra import PrivateInfra

TERMINAL_STAGES = frozenset({"notified", "failed"})
Record: TypeAlias = ConsumerRecord[bytes, bytes]


def infra_settings(infra: PrivateInfra, prefix: str, database: str) -> InfraSettings:
    """Client settings for the private servers, one stack's topic prefix and database."""
    return InfraSettings(
        kafka_bootstrap=infra.kafka_bootstrap,
        kafka_topic_prefix=prefix,
        mongo_uri=SecretStr(infra.mongo_uri),
        mongo_database=database,
        mongo_timeout_ms=5000,
        s3_endpoint=infra.s3_endpoint,
    )


async def topic_partitions(bootstrap: str, prefix: str) -> list[TopicPartition]:
    """Every partition of every topic whose name starts with ``prefix``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], int(p["partition"])) for d in described for p in d["partitions"]]


async def read_topics(bootstrap: str, prefix: str, *, timeout: float = 60.0) -> dict[str, list[Record]]:
    """Every message of every topic whose name starts with ``prefix``, from the first offset to the last."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    parts = await topic_partitions(bootstrap, prefix)
    found: dict[str, list[Record]] = {tp.topic: [] for tp in parts}
    if not parts:
        return found
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        async with asyncio.timeout(timeout):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    found[tp.topic].extend(r for r in records if r.offset < ends[tp])
        return found
    finally:
        await consumer.stop()


def dead_letters(topics: dict[str, list[Record]]) -> dict[str, int]:
    """Messages on each ``.dlq`` topic."""
    return {name: len(records) for name, records in topics.items() if name.endswith(".dlq")}


@dataclass
class Mailbox:
    """The e-mails at the SMTP server, by recipient."""

    by_recipient: dict[str, list[EmailMessage]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, infra: PrivateInfra) -> Mailbox:
        box = cls()
        for message in infra.mails():
            for rcpt in str(message.get("X-Envelope-To", "")).split(","):
                box.by_recipient[rcpt.strip().lower()].append(message)
        return box

    def copies(self, address: str) -> int:
        """How many messages reached ``address``."""
        return len(self.by_recipient.get(address.lower(), []))

    def message_ids(self, address: str) -> set[str]:
        """The distinct Message-IDs that reached ``address`` (one per e-mail; copies share it)."""
        return {str(m["Message-ID"]) for m in self.by_recipient.get(address.lower(), [])}


@dataclass(frozen=True)
class Outcome:
    """How one meeting ended, as MongoDB and the SMTP server tell it."""

    meeting_uuid: str
    stage: str | None
    failure: str | None
    message_ids: int
    copies: int


class State:
    """Read-only looks at one stack's MongoDB database."""

    def __init__(self, infra: PrivateInfra, database: str) -> None:
        self.mongo: Mongo = make_mongo(infra_settings(infra, "", database))

    async def close(self) -> None:
        await self.mongo.close()

    async def meetings(self, tenant: str, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The meeting documents of ``uuids`` that exist."""
        cursor = self.mongo.db[MEETINGS].find({"tenant": tenant, "meeting_uuid": {"$in": list(uuids)}})
        return {doc["meeting_uuid"]: doc for doc in await cursor.to_list(None)}

    async def resubmitted_after_crash(self, tenant: str, uuids: Iterable[str]) -> set[str]:
        """Meetings with a job the submitter flagged as submitted again after a crash mid-submit."""
        query = {"tenant": tenant, "meeting_uuid": {"$in": list(uuids)}, "resubmitted_after_crash": True}
        return {doc["meeting_uuid"] async for doc in self.mongo.db[JOBS].find(query, {"meeting_uuid": 1})}

    async def slots_in_flight(self) -> int:
        """Limiter slots held (jobs the limiter believes are running at the provider)."""
        return int(await self.mongo.db[LIMITER].count_documents({"_id": {"$regex": r"\|slot\|"}}))

    async def wait_terminal(
        self, tenant: str, hosts: dict[str, str], infra: PrivateInfra, *, timeout: float
    ) -> dict[str, Outcome]:
        """Wait until every meeting (uuid → host e-mail) is notified (with its e-mail) or failed.

        The mailbox is cheap to look at; MongoDB (a full scan per query on the local server) is asked
        only about meetings without an e-mail yet, and only every few seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for poll in itertools.count():
            box = Mailbox.read(infra)
            pending = [uuid for uuid, host in hosts.items() if not box.message_ids(host)]
            if pending and poll % 4 == 0:
                docs = await self.meetings(tenant, pending)
                pending = [u for u in pending if docs.get(u, {}).get("stage") != "failed"]
            if not pending or loop.time() > deadline:
                outcomes = await self.outcomes(tenant, hosts, infra)
                if all(o.stage in TERMINAL_STAGES for o in outcomes.values()) or loop.time() > deadline:
                    return outcomes
            await asyncio.sleep(3.0)
        raise AssertionError("unreachable")

    async def outcomes(self, tenant: str, hosts: dict[str, str], infra: PrivateInfra) -> dict[str, Outcome]:
        docs = await self.meetings(tenant, hosts)
        box = Mailbox.read(infra)
        result: dict[str, Outcome] = {}
        for uuid, host in hosts.items():
            doc = docs.get(uuid, {})
            failure = doc.get("failure")
            reason = str(failure.get("reason")) if isinstance(failure, dict) else doc.get("failure_reason")
            result[uuid] = Outcome(uuid, doc.get("stage"), reason, len(box.message_ids(host)), box.copies(host))
        return result


def stage_counts(outcomes: dict[str, Outcome]) -> dict[str, int]:
    """Meetings per final stage (``None`` = no document)."""
    return dict(Counter(str(o.stage) for o in outcomes.values()))
