"""Helpers shared by the ingest tests: Zoom-shaped bodies, signed requests, in-memory stores, Kafka reads."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from zoomsymbl_common.events import Event, RecordingCompleted
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_ingest.stores import DownloadToken, Receipt
from zoomsymbl_sandbox.zoom import (
    MeetingSpec,
    ParticipantSpec,
    ZoomSandbox,
    ZoomSandboxConfig,
    sign_zoom_webhook,
)

from tests.support import names

SECRET = "test-webhook-secret-0123456789"
OTHER_SECRET = "other-tenant-secret-9876543210"
DOWNLOAD_TOKEN = "dl-token-eyJhbGciOiJIUzUxMiJ9.very-secret-download-token"


def tenants(**overrides: Any) -> Tenants:
    """Two tenants: ``acme`` (the default) and ``globex``."""
    acme = TenantConfig(id="acme", zoom_webhook_secret=SecretStr(SECRET), **overrides)
    globex = TenantConfig(id="globex", zoom_webhook_secret=SecretStr(OTHER_SECRET))
    return Tenants([acme, globex], default="acme")


def meeting_object(
    meeting_uuid: str = "4444AAAiAAAAAiAiAiiAii==", *, names: tuple[str, ...] = ("Elisa L",)
) -> dict[str, Any]:
    """A ``payload.object`` as Zoom sends it: one audio_only M4A, one MP4, one track per name."""
    base = "https://zoom.us/rec/download"
    tracks = [
        {
            "id": f"p{i}-{meeting_uuid}",
            "recording_start": "2024-05-02T10:00:00Z",
            "recording_end": "2024-05-02T10:30:00Z",
            "file_name": f"Audio only - {name}",
            "file_type": "M4A",
            "file_extension": "M4A",
            "file_size": 1000 + i,
            "download_url": f"{base}/p{i}",
            "status": "completed",
        }
        for i, name in enumerate(names)
    ]
    return {
        "uuid": meeting_uuid,
        "id": 84712345678,
        "account_id": "acct-1",
        "host_id": "host-id-1",
        "host_email": "host@example.com",
        "topic": "Launch plan sync",
        "start_time": "2024-05-02T10:00:00Z",
        "duration": 30,
        "recording_files": [
            {
                "id": f"a-{meeting_uuid}",
                "recording_start": "2024-05-02T10:00:00Z",
                "recording_end": "2024-05-02T10:30:00Z",
                "file_type": "M4A",
                "file_extension": "M4A",
                "file_size": 5000,
                "download_url": f"{base}/a",
                "status": "completed",
                "recording_type": "audio_only",
            },
            {
                "id": f"v-{meeting_uuid}",
                "file_type": "MP4",
                "file_extension": "MP4",
                "file_size": 9000,
                "download_url": f"{base}/v",
                "status": "processing",
                "recording_type": "shared_screen_with_speaker_view",
            },
        ],
        "participant_audio_files": tracks,
    }


def recording_body(obj: Mapping[str, Any] | None = None, *, token: str | None = DOWNLOAD_TOKEN) -> bytes:
    """A ``recording.completed`` webhook body, sent a second ago."""
    body: dict[str, Any] = {
        "event": "recording.completed",
        "event_ts": int(time.time() * 1000),
        "payload": {"account_id": "acct-1", "object": dict(obj or meeting_object())},
    }
    if token is not None:
        body["download_token"] = token
    return json.dumps(body, ensure_ascii=False).encode()


def signed_headers(body: bytes, secret: str = SECRET, *, timestamp: int | None = None) -> dict[str, str]:
    """Zoom's headers for ``body``, signed by the sandbox's signing function."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        "x-zm-request-timestamp": ts,
        "x-zm-signature": sign_zoom_webhook(secret, ts, body),
    }


class MemoryReceipts:
    """Receipts in a dict, optionally failing like an unreachable MongoDB."""

    def __init__(self) -> None:
        self.receipts: dict[str, Receipt] = {}
        self.error: Exception | None = None
        self.record_calls = 0

    async def record(self, receipts: Sequence[Receipt]) -> None:
        self._fail()
        self.record_calls += 1
        for receipt in receipts:
            self.receipts.setdefault(receipt.key, receipt)

    async def meeting_seen(self, tenant: str, meeting_uuid: str) -> bool:
        self._fail()
        return any(r.tenant == tenant and r.meeting_uuid == meeting_uuid and r.audio for r in self.receipts.values())

    def published_keys(self) -> set[str]:
        """The keys of the receipts written."""
        return set(self.receipts)

    def _fail(self) -> None:
        if self.error is not None:
            raise self.error


class MemoryTokens:
    """Download tokens in a dict."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], DownloadToken] = {}
        self.error: Exception | None = None

    async def put_many(self, tokens: Sequence[DownloadToken]) -> None:
        if self.error is not None:
            raise self.error
        for token in tokens:
            self.tokens[(token.tenant, token.meeting_uuid)] = token


class RecordingPublisher:
    """A publisher that keeps what Kafka would have acknowledged (or fails with ``error``)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.error: Exception | None = None
        self.delay = 0.0

    async def publish(self, event: Event, *, timeout: float) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.events.append(event)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_infra(**overrides: Any) -> InfraSettings:
    """Infra settings with a topic prefix and a database of this test's own."""
    tag = names.token(12)
    values: dict[str, Any] = {"kafka_topic_prefix": f"test-{tag}-", "mongo_database": f"test_ingest_{tag}"}
    return InfraSettings(**{**values, **overrides})


async def read_events(
    infra: InfraSettings, *, expect: int, quiet: float = 1.0, limit: float = 20.0
) -> list[RecordingCompleted]:
    """Every RecordingCompleted on the test's topic: waits for ``expect`` of them, then ``quiet`` s more."""
    topic = f"{infra.kafka_topic_prefix}{RecordingCompleted.topic}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    events: list[RecordingCompleted] = []
    try:
        deadline = time.monotonic() + limit
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            for records in batch.values():
                events.extend(RecordingCompleted.model_validate_json(r.value or b"") for r in records)
            if len(events) >= expect and quiet_until is None:
                quiet_until = time.monotonic() + quiet
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
    finally:
        await consumer.stop()
    return events


SANDBOX_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"


def sandbox_config(*meetings: MeetingSpec, **overrides: Any) -> ZoomSandboxConfig:
    """A Zoom sandbox recording ``meetings`` (audio only, media cached across runs)."""
    return ZoomSandboxConfig(meetings=meetings, cache_dir=SANDBOX_CACHE, **overrides)


def quick_meeting(
    meeting_uuid: str, *, start_time: datetime | None = None, host_email: str = "host@example.com"
) -> MeetingSpec:
    """A two-person, two-second meeting whose media is generated in a moment (and cached)."""
    people = (ParticipantSpec(name="Elisa L", duration_s=2), ParticipantSpec(name="Zoë 🎧 Ng", duration_s=2))
    kwargs: dict[str, Any] = {"start_time": start_time} if start_time is not None else {}
    return MeetingSpec(uuid=meeting_uuid, participants=people, include_video=False, host_email=host_email, **kwargs)


def sandbox_tenant(sandbox: ZoomSandbox, tenant_id: str = "acme", **overrides: Any) -> TenantConfig:
    """A tenant whose Zoom is ``sandbox`` (credentials as the sandbox expects them)."""
    base = sandbox.base_url_for()
    values: dict[str, Any] = {
        "id": tenant_id,
        "zoom_webhook_secret": SecretStr(sandbox.config.webhook_secret),
        "zoom_account_id": sandbox.config.account_id,
        "zoom_client_id": sandbox.config.client_id,
        "zoom_client_secret": SecretStr(sandbox.config.client_secret),
        "zoom_api_base": f"{base}/v2",
        "zoom_oauth_url": f"{base}/oauth/token",
    }
    return TenantConfig(**{**values, **overrides})


class Schedule:
    """A periodic round's sleep for ``rounds`` rounds (each wait returns at once, the next ends the schedule), and the
    events its rounds published (``publish``)."""

    def __init__(self, rounds: int = 1) -> None:
        self.rounds = rounds
        self.waits = 0
        self.published: list[Event] = []

    async def sleep(self, _seconds: float) -> None:
        self.waits += 1
        if self.waits > self.rounds:
            raise asyncio.CancelledError

    async def publish(self, event: Event) -> None:
        self.published.append(event)
