"""Fixtures of the mixer tests: a Zoom sandbox, a tenant pointed at it, and a wired :class:`Mixer`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import SECRETS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.zoom_payload import recording_completed
from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.credentials import RecordingsApi
from zoomsymbl_mixer.download import DownloadPolicy, Fetcher
from zoomsymbl_mixer.ffmpeg import SilenceSettings
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_sandbox.zoom import (
    MeetingSpec,
    ZoomSandbox,
    ZoomSandboxConfig,
    running_zoom_sandbox,
    typical_meeting_spec,
)

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"
TYPICAL = "Mix/er+Typical//uuid=="
NO_TRACKS = "mixerNoTracksUuid0000=="
MEETINGS = (typical_meeting_spec(TYPICAL), typical_meeting_spec(NO_TRACKS, separate_audio=False))


def sandbox_tenant(sandbox: ZoomSandbox, **changes: object) -> TenantConfig:
    """A tenant whose Zoom is the sandbox (allowlisted on loopback only by configuration)."""
    base = sandbox.base_url_for()
    config = sandbox.config
    tenant = TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr(config.webhook_secret),
        zoom_account_id=config.account_id,
        zoom_client_id=config.client_id,
        zoom_client_secret=SecretStr(config.client_secret),
        zoom_api_base=f"{base}/v2",
        zoom_oauth_url=f"{base}/oauth/token",
        download_allowed_hosts=("127.0.0.1",),
        allow_private_download_hosts=True,
    )
    return tenant.model_copy(update=changes)


@dataclass
class Rig:
    """A mixer wired to the sandbox, the real Mongo and S3, publishing into a list."""

    sandbox: ZoomSandbox
    mongo: Mongo
    store: ObjectStore
    scratch: Path
    session: aiohttp.ClientSession
    tenant: TenantConfig
    published: list[AudioMixed] = field(default_factory=list)

    def mixer(self, **config: object) -> Mixer:
        tenants = Tenants([self.tenant])
        clients: dict[str, ZoomClient] = {}
        hosts = HostPolicy(self.tenant.download_allowed_hosts, self.tenant.allow_private_download_hosts)
        fetcher = Fetcher(self.session, hosts, DownloadPolicy(base_delay=0.01, max_delay=0.05))

        def api_for(tenant: TenantConfig) -> RecordingsApi | None:
            return clients.setdefault(tenant.id, ZoomClient(tenant, session=self.session))

        async def publish(event: AudioMixed) -> None:
            self.published.append(event)

        settings = {"scratch_dir": self.scratch, "concurrency": 2, "silence": SilenceSettings(-50, 0.3), **config}
        return Mixer(
            state=MeetingState(self.mongo.db),
            objects=self.store,
            tenants=tenants,
            fetcher_for=lambda _: fetcher,
            api_for=api_for,
            publish=publish,
            config=MixConfig(**settings),  # type: ignore[arg-type]
        )

    async def event(self, meeting_uuid: str, *, token_hours: float = 20.0) -> RecordingCompleted:
        """The event ingest would publish, with the webhook's download token stored as ingest does."""
        obj = self.sandbox.meeting_object(meeting_uuid)
        expires = utcnow() + timedelta(hours=token_hours)
        await self.mongo.db[SECRETS].update_one(
            {"tenant": self.tenant.id, "meeting_uuid": meeting_uuid},
            {"$set": {"download_token": self.sandbox.issue_download_token(meeting_uuid), "expires_at": expires}},
            upsert=True,
        )
        event = recording_completed(self.tenant.id, obj, source="webhook")
        return event.model_copy(update={"has_download_token": True, "download_token_expires_at": expires})

    def downloads(self) -> int:
        return sum(len(records) for records in self.sandbox.stats.downloads.values())


SandboxFactory = Callable[..., ZoomSandboxConfig]


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    async with running_zoom_sandbox(ZoomSandboxConfig(cache_dir=CACHE, meetings=MEETINGS, chunk_size=16384)) as zoom:
        yield zoom


@pytest.fixture
async def rig(sandbox: ZoomSandbox, mongo: Mongo, store: ObjectStore, tmp_path: Path) -> AsyncIterator[Rig]:
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=True))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(sock_read=10)) as session:
        scratch = tmp_path / "scratch"
        yield Rig(sandbox, mongo, store, scratch, session, sandbox_tenant(sandbox))


def spec_with_participants(uuid: str, count: int) -> MeetingSpec:
    """A short meeting in which participant ``i`` joins at ``i`` seconds and says a few words."""
    from zoomsymbl_sandbox.zoom import ParticipantSpec

    people = tuple(
        ParticipantSpec(name=f"Speaker {i}", start_offset_s=i, duration_s=4, speech="word " * (1 + 2 * i))
        for i in range(count)
    )
    return MeetingSpec(uuid=uuid, participants=people, include_video=False)
