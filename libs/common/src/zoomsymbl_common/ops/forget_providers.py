"""The provider side of ``zoomsymbl forget``: ask AssemblyAI or Symbl to delete their copy of the meeting.

The keys are the tenant's, read from the tenants file as every command reads it (``ZOOMSYMBL_TENANTS_FILE``):
in a deployment only the notifier's and the submitter's copies hold them. A copy the provider no longer
knows (404) counts as deleted; anything else that stops a deletion (no key here, the provider out of reach,
a refusal such as AssemblyAI's for a transcript still processing) is reported with its reason, never a key,
and the copy stays on the tombstone for the next run. ``whisper`` and ``zoom`` jobs have no provider copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp

from zoomsymbl_common.errors import ConfigError, ZoomsymblError
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.factory import make_provider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import ProviderCopy
from zoomsymbl_common.tenants import TenantConfig, Tenants, load_tenants

CopyStatus = Literal["deleted", "already gone", "failed"]
_TIMEOUT = aiohttp.ClientTimeout(total=90, sock_connect=10)


@dataclass(frozen=True)
class CopyOutcome:
    """What became of one provider copy: deleted now, unknown to the provider already, or not deleted (why)."""

    copy: ProviderCopy
    status: CopyStatus
    reason: str = ""

    def as_json(self) -> dict[str, str]:
        """JSON-ready (provider, id, status and reason: no secret)."""
        return {"provider": self.copy.provider, "id": self.copy.copy_id, "status": self.status, "reason": self.reason}


def _tenant(tenant_id: str, load: Callable[[], Tenants]) -> TenantConfig:
    tenant = load().get(tenant_id)
    if tenant is None:
        raise ConfigError(f"tenant {tenant_id!r} is not in this tenants file (ZOOMSYMBL_TENANTS_FILE)")
    return tenant


async def _delete(session: aiohttp.ClientSession, tenant: TenantConfig, copy: ProviderCopy) -> bool:
    """True: deleted now; False: the provider did not know it. Raises what stopped it."""
    provider = make_provider(tenant.model_copy(update={"provider": copy.provider}), session)
    if isinstance(provider, AssemblyAIProvider):
        return await provider.delete_transcript(copy.copy_id)
    if isinstance(provider, SymblProvider):
        return await provider.delete_conversation(copy.copy_id)
    raise ConfigError(f"{copy.provider} keeps no copy to delete")  # pragma: no cover - never recorded


async def delete_copies(
    tenant_id: str, copies: list[ProviderCopy], load: Callable[[], Tenants] = load_tenants
) -> list[CopyOutcome]:
    """Ask each copy's provider to delete it, one after the other; every copy gets an outcome."""
    if not copies:
        return []
    try:
        tenant = _tenant(tenant_id, load)
    except ConfigError as exc:
        return [CopyOutcome(copy, "failed", scrub(str(exc), 500)) for copy in copies]
    outcomes: list[CopyOutcome] = []
    async with aiohttp.ClientSession(timeout=_TIMEOUT, cookie_jar=aiohttp.DummyCookieJar()) as session:
        for copy in copies:
            try:
                deleted = await _delete(session, tenant, copy)
            except ZoomsymblError as exc:
                outcomes.append(CopyOutcome(copy, "failed", scrub(str(exc), 500)))
                continue
            outcomes.append(CopyOutcome(copy, "deleted" if deleted else "already gone"))
    return outcomes
