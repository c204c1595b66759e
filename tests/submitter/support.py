"""Test helpers for the submitter: events, tenants, a notifier stand-in that frees slots, submitter processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import AnyHttpUrl, SecretStr
from zoomsymbl_common.callback_tokens import verify_callback_token
from zoomsymbl_common.events import AudioMixed, JobSubmitted
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_submitter import ogg_opus, ogg_pages
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.downmix import Downmixer
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.parts import PartPlanner, SplitSettings
from zoomsymbl_submitter.plan import CallbackConfig
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings
from zoomsymbl_submitter.submission import Submitter

from tests.support.eventually import eventually
from tests.support.providers import CHANNELS
from tests.support.providers import drain as drain  # the submitter tests import it from here

SECRET = "test-callback-secret-0123456789"
TENANT = "acme"
APP_ID = "sandbox-app-id"
SYMBL_ACCOUNT = f"symbl:{APP_ID}"
"""The limiter account of the Symbl sandbox's app (every Symbl tenant of these tests shares it)."""
APP_SECRET = "sandbox-app-secret"
AAI_KEY = "sandbox-assemblyai-key"


def audio_mixed(
    index: int, infra: InfraSettings, object_key: str, size: int, duration: float = 3.5, **overrides: Any
) -> AudioMixed:
    """An AudioMixed event for meeting ``index`` pointing at an already uploaded object."""
    fields: dict[str, Any] = {
        "event_id": f"mixed-{index}",
        "tenant": TENANT,
        "meeting_uuid": f"uuid/{index}==",
        "bucket": infra.s3_bucket,
        "object_key": object_key,
        "format": "flac",
        "channels": 2,
        "duration_seconds": duration,
        "size_bytes": size,
        "input_hash": f"hash-{index}",
        "channel_map": CHANNELS,
        "topic_text": f"Meeting {index}",
        "host_email": "host@example.com",
    }
    return AudioMixed(**(fields | overrides))


def mixed_key(meeting_uuid: str) -> str:
    return f"mixed/{TENANT}/{meeting_key(meeting_uuid)}.flac"


async def upload_for(store: ObjectStore, path: Path, index: int) -> tuple[str, int]:
    """``path`` stored as meeting ``index``'s mixed file (the submitter reads only a meeting's own file)."""
    key = mixed_key(f"uuid/{index}==")
    return key, await store.put_file(key, str(path))


def tenant_json(provider: str, api_base: str) -> dict[str, Any]:
    """One tenant whose provider base URL points at a sandbox."""
    return {
        "id": TENANT,
        "zoom_webhook_secret": "zoom-webhook-secret",
        "provider": provider,
        "symbl_app_id": APP_ID,
        "symbl_app_secret": APP_SECRET,
        "symbl_api_base": api_base,
        "assemblyai_api_key": AAI_KEY,
        "assemblyai_api_base": api_base,
    }


def write_tenants(path: Path, provider: str, api_base: str) -> Path:
    path.write_text(json.dumps({"tenants": [tenant_json(provider, api_base)]}), encoding="utf-8")
    return path


async def add_meetings(mongo: Mongo, events: list[AudioMixed]) -> None:
    """Meetings as the mixer leaves them: at stage ``mixed``."""
    docs = [
        {"tenant": e.tenant, "meeting_uuid": e.meeting_uuid, "generation": e.generation, "stage": "mixed"}
        for e in events
    ]
    await mongo.db[MEETINGS].insert_many(docs)


@dataclass
class Completer:
    """Stands in for the notifier: checks each callback's token and frees the job's slot when it finished."""

    mongo: Mongo
    account_key: str
    header: str = "x-zoomsymbl-callback"
    released: list[str] = field(default_factory=list)
    forged: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks/symbl/{token}", self._symbl)
        app.router.add_post("/webhooks/assemblyai", self._assemblyai)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _symbl(self, request: web.Request) -> web.Response:
        return await self._handle(request.match_info["token"], await request.json())

    async def _assemblyai(self, request: web.Request) -> web.Response:
        return await self._handle(request.headers.get(self.header, ""), await request.json())

    async def _handle(self, token: str, payload: dict[str, Any]) -> web.Response:
        job_ref = verify_callback_token(SECRET, token)
        if job_ref is None:
            self.forged += 1
            return web.Response(status=401)
        status = str(payload.get("status"))
        self.statuses[status] += 1
        if status in ("completed", "failed", "error") and await Limiter(self.mongo, self.account_key).release(job_ref):
            self.released.append(job_ref)
        return web.Response(status=200)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def submitter_env(
    infra: InfraSettings, tenants: Path, notifier_url: str, port: int, **settings: object
) -> dict[str, str]:
    """The environment of a submitter process on this test's own topics, database and bucket."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    env |= {
        "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
        "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
        "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
        "ZOOMSYMBL_S3_ENDPOINT": infra.s3_endpoint,
        "ZOOMSYMBL_S3_ACCESS_KEY": infra.s3_access_key.get_secret_value(),
        "ZOOMSYMBL_S3_SECRET_KEY": infra.s3_secret_key.get_secret_value(),
        "ZOOMSYMBL_S3_BUCKET": infra.s3_bucket,
        "ZOOMSYMBL_LOG_LEVEL": "INFO",
        "ZOOMSYMBL_TENANTS_FILE": str(tenants),
        "ZOOMSYMBL_SUBMITTER_HTTP_HOST": "127.0.0.1",
        "ZOOMSYMBL_SUBMITTER_HTTP_PORT": str(port),
        "ZOOMSYMBL_SUBMITTER_NOTIFIER_PUBLIC_URL": notifier_url,
        "ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET": SECRET,
    }
    env |= {f"ZOOMSYMBL_SUBMITTER_{name.upper()}": str(value) for name, value in settings.items()}
    return env


@dataclass
class SubmitterProcess:
    """``python -m zoomsymbl_submitter`` as a real subprocess, its output in a log file."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["ZOOMSYMBL_SUBMITTER_HTTP_PORT"])

    def start(self) -> SubmitterProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zoomsymbl_submitter"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` answers 200 (Kafka, MongoDB and S3 all reachable)."""
        url = f"http://127.0.0.1:{self.port}/readyz"
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.tail()
                try:
                    async with http.get(url) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(ready, timeout=timeout, what=f"the submitter on port {self.port} to be ready")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no commit — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._close_log()
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def build_submitter(
    infra: InfraSettings,
    mongo: Mongo,
    tenants: Tenants,
    session: aiohttp.ClientSession,
    notifier_url: str,
    published: list[JobSubmitted],
    *,
    limits: LimiterSettings | None = None,
    split: SplitSettings | None = None,
    public_endpoint: str | None = None,
    claim_seconds: float = 60.0,
) -> Submitter:
    """A submitter wired in-process to the real MongoDB and S3, publishing into ``published``."""

    async def publish(event: JobSubmitted) -> None:
        published.append(event)

    audio = AudioSource(infra, public_endpoint=AnyHttpUrl(public_endpoint) if public_endpoint else None)
    meetings = MeetingStore(mongo)
    return Submitter(
        tenants=tenants,
        providers=ProviderPool(session, submit_timeout=30.0),
        limiters=LimiterPool(mongo, limits or LimiterSettings(50.0, 50, 5, 60.0, 0.05)),
        jobs=JobStore(mongo, "test-owner", claim_seconds),
        meetings=meetings,
        planner=PartPlanner(audio, (meetings.split_plan, meetings.save_split_plan), split or SplitSettings()),
        audio=audio,
        callbacks=CallbackConfig(notifier_url, SecretStr(SECRET)),
        publish=publish,
        metrics=SubmitterMetrics.create(),
        acquire_timeout=5.0,
        downmixer=Downmixer(audio, ffmpeg_timeout=60.0),
    )


def tenants_for(provider: str, api_base: str) -> Tenants:
    return Tenants([TenantConfig.model_validate(tenant_json(provider, api_base))])


@dataclass
class StallingProxy:
    """Forwards to ``upstream``, except that the first ``stall`` audio uploads hang half-read:
    a submitter killed then has died mid-submit, before the provider could accept anything."""

    upstream: str
    stall: int = 1
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/v1/process/audio" and self.stall > 0:
            self.stall -= 1
            await request.content.read(1024)
            self.stalled.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 120)
            return web.Response(status=503)
        assert self._session is not None
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("authorization", "x-api-key", "content-type")
        }
        body = await request.read()
        # Transparent: an upload without Content-Type (FLAC to Symbl) must not gain application/octet-stream.
        skip = () if "Content-Type" in request.headers else ("Content-Type",)
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers, skip_auto_headers=skip) as resp:  # fmt: skip
            content = await resp.read()
            return web.Response(status=resp.status, body=content, content_type=resp.content_type)


async def read_topic(infra: InfraSettings, topic: str, expected: int, timeout: float = 30.0) -> list[bytes]:
    """Every message of ``topic`` from the beginning, until ``expected`` arrived or ``timeout`` passed."""
    # No group: every partition is assigned to this consumer and nothing is committed.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while len(values) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                values += [record.value for records in batch.values() for record in records if record.value]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return values


async def wait_for_group(infra: InfraSettings, group_id: str, members: int, timeout: float = 60.0) -> None:
    """Until the consumer group is stable with ``members`` members (all replicas have partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()

    async def group() -> dict[str, Any]:
        described: dict[str, Any] = (await admin.describe_consumer_groups([group_id]))[0].to_object()["groups"][0]
        return {"state": described["state"], "members": len(described["members"])}

    try:
        await eventually(
            group, lambda g: g == {"state": "Stable", "members": members}, timeout=timeout, what=f"group {group_id!r}"
        )
    finally:
        await admin.close()


def pre_skip_seconds(path: Path) -> float:
    """An Ogg Opus file's pre-skip (RFC 7845), 0 for other files."""
    if path.suffix != ".opus":
        return 0.0
    with path.open("rb") as source:
        head = ogg_pages.read_page(source)
    assert head is not None
    return ogg_opus.opus_head(head.body) / ogg_opus.RATE
