"""What the notifier tests share: names, settings, tenants and a stand-in for the submitter.

The submitter stand-in does what the real submitter promises: take a limiter slot, submit to the
provider with a per-job callback URL (or header), and write the ``jobs`` document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.events import ChannelAssignment, utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SubmitRequest
from zoomsymbl_common.providers.factory import provider_account_key
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_sandbox.symbl import SYMBL_STATE, SymblState

from tests.support.providers import submit_request

SECRET = "notifier-tests-callback-secret-0123456789"
TENANT = "acme"
APP_ID = "sandbox-app-id"
APP_SECRET = "sandbox-app-secret"
ACCOUNT = f"symbl:{APP_ID}"
AAI_TENANT = "beta"
AAI_KEY = "sandbox-assemblyai-key"
HOST = "host@example.com"
ARCHIVE = "archive@example.com"
SPEAKERS = (("Elisa L", "elisa@example.com"), ("Bob K", "bob@example.com"))
PAGE_KEY = "notifier-tests-page-key-0123456789"
PAGE_BASE_URL = "https://zoomsymbl.example.com"


@dataclass
class SymblSandbox:
    server: TestServer
    url: str

    @property
    def state(self) -> SymblState:
        return self.server.app[SYMBL_STATE]


def make_tenant(symbl_url: str, **overrides: Any) -> TenantConfig:
    fields: dict[str, Any] = {
        "id": TENANT,
        "zoom_webhook_secret": SecretStr("zoom-webhook-secret-for-tests"),
        "provider": "symbl",
        "symbl_app_id": APP_ID,
        "symbl_app_secret": SecretStr(APP_SECRET),
        "symbl_api_base": symbl_url,
        "extra_recipients": (ARCHIVE,),
    }
    return TenantConfig(**(fields | overrides))


def aai_tenant(assemblyai_url: str) -> TenantConfig:
    """Tenant ``beta``, which uses AssemblyAI."""
    key = SecretStr(AAI_KEY)
    return make_tenant(
        "", id=AAI_TENANT, provider="assemblyai", assemblyai_api_key=key, assemblyai_api_base=assemblyai_url
    )


AAI_ACCOUNT = provider_account_key(aai_tenant(""))


def make_settings(infra: InfraSettings, smtp_port: int, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "infra": infra,
        "callback_secret": SecretStr(SECRET),
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_timeout_seconds": 5.0,
        "mail_from": "Zoomsymbl <notifier@zoomsymbl.test>",
        "mail_retry_base_seconds": 0.1,
        "mail_retry_max_seconds": 0.2,
        "summary_retry_delay_seconds": 0.05,
        "retry_base_delay_seconds": 0.05,
        "retry_max_delay_seconds": 0.2,
        "sweeper_stale_after_seconds": 0.5,
        "sweeper_interval_seconds": 0.2,
        # Generous for a loaded test machine; the 503-after-deadline path has its own tests.
        "callback_deadline_seconds": 5.0,
        "page_key": SecretStr(PAGE_KEY),
        "page_base_url": PAGE_BASE_URL,
    }
    return Settings(**(fields | overrides))


@dataclass
@dataclass
class Submitter:
    """Takes a limiter slot, submits to the Symbl sandbox, writes ``jobs`` (as the submitter does)."""

    mongo: Mongo
    session: aiohttp.ClientSession
    symbl_url: str
    audio: Path
    callback_base: str = ""
    assemblyai_url: str = ""

    def limiter(self) -> Limiter:
        return Limiter(self.mongo, ACCOUNT, rate_per_second=100.0, burst=100, max_in_flight=20)

    async def meeting(
        self, meeting_uuid: str, topic: str = "Weekly sync", generation: int = 0, tenant: str = TENANT, **extra: Any
    ) -> None:
        doc: Document = {
            "tenant": tenant,
            "meeting_uuid": meeting_uuid,
            "generation": generation,
            "stage": "submitted",
            "topic": topic,
            "host_email": HOST,
            "channel_map": [{"channel": i + 1, "participant_name": n} for i, (n, _) in enumerate(SPEAKERS)],
            "speaker_stats": [{"channel": 1, "talk_seconds": 60.0}, {"channel": 2, "talk_seconds": 180.0}],
            "updated_at": utcnow(),
        }
        await self.mongo.db[MEETINGS].update_one(
            {"tenant": tenant, "meeting_uuid": meeting_uuid}, {"$set": doc | extra}, upsert=True
        )

    def symbl(self) -> SymblProvider:
        return SymblProvider(self.session, app_id=APP_ID, app_secret=SecretStr(APP_SECRET), api_base=self.symbl_url)

    def callback_url(self, job_ref: str) -> str:
        return f"{self.callback_base}/webhooks/symbl/{make_callback_token(SECRET, job_ref)}"

    async def submit(
        self,
        meeting_uuid: str,
        *,
        part_index: int = 0,
        part_count: int = 1,
        offset: float = 0.0,
        generation: int = 0,
        name: str = "weekly sync",
        webhook_url: str | None = None,
        **request: Any,
    ) -> JobRecord:
        """A Symbl job of this meeting's part; ``request`` replaces fields of the submission (a mono file)."""
        job_ref = f"{TENANT}:{meeting_uuid}:{generation}:{part_index}:{uuid.uuid4().hex[:6]}"
        await self.limiter().acquire(job_ref, timeout=10)
        provider = self.symbl()
        asked = replace(self._request(name, webhook_url or self.callback_url(job_ref)), **request)
        submitted = await provider.submit(asked)
        parts = {"part_index": part_index, "part_count": part_count, "part_offset_seconds": offset}
        ids = {"job_id": submitted.job_id, "conversation_id": submitted.conversation_id}
        return await self._record(TENANT, meeting_uuid, generation, "symbl", job_ref, ACCOUNT, ids | parts)

    async def submit_before_recording(self, meeting_uuid: str) -> tuple[JobRecord, dict[str, str]]:
        """Claim and submit as the submitter does, but stop before the provider's ids are stored:
        the job document has ``job_id: None`` (status ``submitting``) while the provider works."""
        job_ref = f"{TENANT}:{meeting_uuid}:0:0:{uuid.uuid4().hex[:6]}"
        await self.limiter().acquire(job_ref, timeout=10)
        job = await self._record(
            TENANT, meeting_uuid, 0, "symbl", job_ref, ACCOUNT, {"status": "submitting", "job_id": None}
        )
        provider = self.symbl()
        submitted = await provider.submit(self._request("early", self.callback_url(job_ref)))
        return job, {"job_id": submitted.job_id, "conversation_id": submitted.conversation_id}

    async def store_ids(self, job: JobRecord, ids: dict[str, str]) -> JobRecord:
        """What the submitter's ``record_submitted`` does once the provider answered."""
        update = {"$set": {**ids, "status": "scheduled", "updated_at": utcnow()}}
        await self.mongo.db[JOBS].update_one({"_id": job.key, "job_id": None}, update)
        doc = await self.mongo.db[JOBS].find_one({"_id": job.key})
        assert doc is not None
        return JobRecord.from_doc(doc)

    async def submit_assemblyai(self, meeting_uuid: str) -> JobRecord:
        """An AssemblyAI job of tenant ``beta``, its token in the configured callback header."""
        job_ref = f"{AAI_TENANT}:{meeting_uuid}:{uuid.uuid4().hex[:6]}"
        await Limiter(self.mongo, AAI_ACCOUNT, 100.0, 100, 20).acquire(job_ref, timeout=10)
        provider = AssemblyAIProvider(self.session, api_key=AAI_KEY, api_base=self.assemblyai_url)
        header = ("x-zoomsymbl-callback", SecretStr(make_callback_token(SECRET, job_ref)))
        request = replace(self._request("aai", f"{self.callback_base}/webhooks/assemblyai"), webhook_auth_header=header)
        submitted = await provider.submit(request)
        ids = {"job_id": submitted.job_id, "conversation_id": submitted.conversation_id}
        return await self._record(AAI_TENANT, meeting_uuid, 0, "assemblyai", job_ref, AAI_ACCOUNT, ids)

    async def _record(
        self,
        tenant: str,
        meeting_uuid: str,
        generation: int,
        provider: str,
        job_ref: str,
        account: str,
        fields: Document,
    ) -> JobRecord:
        now = utcnow()
        doc: Document = {
            "_id": job_ref,
            "idempotency_key": job_ref,
            "job_ref": job_ref,
            "tenant": tenant,
            "meeting_uuid": meeting_uuid,
            "generation": generation,
            "provider": provider,
            "status": "scheduled",
            "limiter_account_key": account,
            "created_at": now,
            "updated_at": now,
            "history": [],
            **fields,
        }
        await self.mongo.db[JOBS].insert_one(doc)
        return JobRecord.from_doc(doc)

    def _request(self, name: str, webhook_url: str) -> SubmitRequest:
        channel_map = tuple(
            ChannelAssignment(
                channel=i + 1, participant_name=n, participant_email=e, file_ids=(f"f{i}",), offset_seconds=0
            )
            for i, (n, e) in enumerate(SPEAKERS)
        )
        return submit_request(self.audio, webhook_url, name=name, channel_map=channel_map)
