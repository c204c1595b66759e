"""The pipeline as processes (sandboxes + four services) against the real local servers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig, service_env
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec

from tests.conftest import mails_to
from tests.support.consumer_lag import wait_drained
from tests.support.eventually import eventually
from tests.support.names import token

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = token()
NAMES = [
    "Elisa L",
    "Jean-Luc Pérez",
    "Zoë 🎧 Ng",
    "Ana-María",
    "Bob",
    "Chen Wei",
    "Dara O'Neil",
    "Émile",
    "Fatima",
    "Gus",
    "Hiro",
    "Ines",
]


def meeting(key: str, participants: int, *, separate_audio: bool = True, fail: bool = False) -> MeetingSpec:
    """A short meeting whose participants join 2 s apart and talk for 4 s each."""
    people = tuple(
        ParticipantSpec(name=NAMES[i], start_offset_s=2 * i, duration_s=6, speech="") for i in range(participants)
    )
    topic = f"E2E {RUN_ID} {key}" + (" [fail]" if fail else "")
    return MeetingSpec(
        uuid=f"e2e{RUN_ID}{key}==",
        topic=topic,
        host_email=f"host-{key}-{RUN_ID}@example.test",
        participants=people,
        separate_audio=separate_audio,
        include_video=not separate_audio,
        synthetic_speech=True,
    )


SINGLE = meeting("single", 3)
NO_TRACKS = meeting("notracks", 2, separate_audio=False)
FAILING = meeting("failing", 2, fail=True)
REPLAYED = meeting("replayed", 2)
RERUN = meeting("rerun", 2)  # its first provider job fails (a fault set by its test), the forced replay's does not
CONCURRENT = [meeting(f"c{i:02d}", 1 + (i * 5) % 12) for i in range(20)]
ALL_MEETINGS = [SINGLE, NO_TRACKS, FAILING, REPLAYED, RERUN, *CONCURRENT]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Sandboxes and services running as processes, with a topic prefix, database and bucket of their own."""
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("stack"),
        topic_prefix=f"e2e-{RUN_ID}-",
        database=f"e2e_{RUN_ID}",
        bucket=f"e2e-{RUN_ID}",
        tenant="acme",
        provider="symbl",  # the pipeline mechanics below count Symbl sandbox jobs; test_providers covers the default
        zoom={
            "meetings": [m.model_dump(mode="json") for m in ALL_MEETINGS],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        symbl={"timings": {"waiting_s": 0.3, "running_s": 0.5}, "max_concurrent_jobs": 5, "summary_not_ready_calls": 1},
        env={
            "ZOOMSYMBL_SUBMITTER_MAX_IN_FLIGHT": "5",
            "ZOOMSYMBL_SUBMITTER_RATE_PER_SECOND": "20",
            "ZOOMSYMBL_SUBMITTER_BURST": "10",
            "ZOOMSYMBL_MIXER_CONCURRENT_MEETINGS": "2",
            "ZOOMSYMBL_NOTIFIER_SUMMARY_RETRY_DELAY_SECONDS": "0.2",
            # A callback refused under load (503 after the 0.9 s deadline; Symbl does not retry) is recovered by
            # the sweeper's poll, as in production, but within the tests' timeouts rather than after 15 minutes.
            "ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS": "30",
            "ZOOMSYMBL_NOTIFIER_SWEEPER_INTERVAL_SECONDS": "5",
        },
    )
    with running_stack(config) as running:
        yield running


def mails_for(spec: MeetingSpec) -> list[EmailMessage]:
    """Every e-mail the SMTP sink received for ``spec`` (matched on the host address)."""
    return mails_to(spec.host_email)


async def wait_for_mails(specs: list[MeetingSpec], timeout: float = 240.0) -> None:
    """Wait until every meeting in ``specs`` has at least one e-mail."""

    async def without_mail() -> list[str]:
        return [s.topic for s in specs if not mails_for(s)]

    await eventually(without_mail, lambda topics: not topics, timeout=timeout, what="an e-mail for every meeting")


async def settled(stack: Stack, timeout: float = 120.0) -> None:
    """Wait until every service of ``stack`` has handled every Kafka message it was given.

    The positive signal before a "nothing more happened" check: each consumer group under the stack's
    topic prefix has committed its last message (see ``tests.support.consumer_lag``).
    """
    await wait_drained(InfraSettings().kafka_bootstrap, stack.config.topic_prefix, timeout=timeout)


async def operator(stack: Stack, *args: str) -> str:
    """Run the ``zoomsymbl`` operator CLI as an operator would, against this stack's topics and database."""
    env = {**os.environ, **service_env(stack.config, "ops")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_common.ops.cli", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return out.decode()
