"""Which Bearer token downloads one meeting: the webhook's download token, else S2S OAuth.

The download token lives in MongoDB (``meeting_secrets``), never in Kafka. It is used while it
has more than a margin of life left; after that, or when Zoom rejects it, the tenant's
Server-to-Server OAuth token takes over, together with fresh download URLs from
``GET /meetings/{uuid}/recordings`` (the webhook's URLs may be stale by then). Shared by the
meeting's parallel downloads: the switch to OAuth happens once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from pydantic import SecretStr
from yarl import URL
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.tenants import TenantConfig, has_oauth
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import call_with_retries

from zoomsymbl_mixer.download import target
from zoomsymbl_mixer.download_token import DownloadToken
from zoomsymbl_mixer.errors import DownloadRefused, NoCredentials, TrackMissing
from zoomsymbl_mixer.hosts import host_matches

log = logging.getLogger("zoomsymbl.mixer.credentials")
BearerKind = Literal["download_token", "oauth"]
PHONE_DOWNLOAD_PATH = "/phone/recording/download/"


class RecordingsApi(Protocol):
    """The part of :class:`zoomsymbl_common.zoom.ZoomClient` the mixer uses."""

    async def access_token(self) -> SecretStr: ...

    def invalidate_token(self, token: SecretStr | None = None) -> None: ...

    async def get_meeting_recordings(self, uuid: str) -> dict[str, Any]: ...

    async def past_meeting_participants(self, uuid: str) -> tuple[tuple[str, str], ...]: ...

    async def user_email(self, user_id: str) -> str: ...


@dataclass(frozen=True)
class Bearer:
    """A token to download with, and where it came from."""

    token: SecretStr
    kind: BearerKind


def download_urls(recordings: Mapping[str, Any]) -> dict[str, str]:
    """``file id → download_url`` of a ``GET /meetings/{uuid}/recordings`` answer."""
    urls: dict[str, str] = {}
    for key in ("participant_audio_files", "recording_files"):
        entries = recordings.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            file_id, url = entry.get("id"), entry.get("download_url")
            if isinstance(file_id, str) and isinstance(url, str):
                urls[file_id] = url
    return urls


def phone_download_allowed(url: str, tenant: TenantConfig) -> bool:
    """True when ``url`` is Zoom's phone-recording download endpoint, the only place a phone recording's
    OAuth token goes: ``https://<a Zoom host>/v2/phone/recording/download/…`` on port 443, or the same path
    under the tenant's ``zoom_api_base`` (where the token is sent anyway).

    Phone webhooks carry no download token and the API lists no other URL, so the event's URL is used;
    this rule keeps a leaked webhook secret from choosing where the account's token is sent.
    """
    if url.startswith(tenant.zoom_api_base.rstrip("/") + PHONE_DOWNLOAD_PATH):
        return True
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return (
        parsed.scheme == "https"
        and parsed.port == 443
        and parsed.host is not None
        and host_matches(parsed.host, tenant.download_allowed_hosts)
        and parsed.path.startswith("/v2" + PHONE_DOWNLOAD_PATH)
        and not parsed.user
    )


class Credentials:
    """The Bearer of one meeting; call :meth:`current`, and :meth:`rejected` when Zoom refuses it."""

    def __init__(
        self,
        tenant: TenantConfig,
        meeting_uuid: str,
        webhook_token: DownloadToken | None,
        api: RecordingsApi | None,
        *,
        margin: timedelta = timedelta(minutes=5),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        phone: bool = False,
    ) -> None:
        self.tenant = tenant
        self.phone = phone
        self._sleep = sleep
        self.meeting_uuid = meeting_uuid
        self.api = api if api is not None and has_oauth(tenant) else None
        usable = webhook_token is not None and webhook_token.usable(utcnow(), margin)
        self._webhook = webhook_token.token if usable and webhook_token else None
        self._lock = asyncio.Lock()
        self._fresh: dict[str, str] | None = None
        self._rejected_oauth: set[str] = set()  # OAuth tokens Zoom refused for this meeting

    async def current(self) -> Bearer:
        """The token to use now; raises :class:`NoCredentials` when there is none."""
        if self._webhook is not None:
            return Bearer(self._webhook, "download_token")
        if self.api is None:
            raise NoCredentials(self.tenant.id, "the download token is missing or expired and OAuth is not configured")
        return Bearer(await self.api.access_token(), "oauth")

    async def rejected(self, bearer: Bearer, status: int, code: int | None) -> Bearer:
        """The next token after Zoom rejected ``bearer``; raises :class:`NoCredentials` when none is left."""
        async with self._lock:
            if bearer.kind == "download_token":
                if self._webhook is not None:
                    log.warning("download token rejected, switching to oauth", extra={"tenant": self.tenant.id})
                self._webhook = None
                if self.api is None:
                    raise NoCredentials(
                        self.tenant.id,
                        f"zoom rejected the download token (status {status}, code {code!r})"
                        " and OAuth is not configured",
                    )
            elif self.api is not None and bearer.token.get_secret_value() in self._rejected_oauth:
                # The meeting's parallel downloads started with the same token: one refusal of it was
                # reported already and the token replaced. Not a second refusal.
                pass
            elif self.api is not None and not self._rejected_oauth:
                # A cached token may have been revoked: one fresh one is worth a try.
                self._rejected_oauth.add(bearer.token.get_secret_value())
                self.api.invalidate_token(bearer.token)
            else:
                raise NoCredentials(self.tenant.id, f"zoom rejected the oauth token (status {status}, code {code!r})")
        return await self.current()

    async def url_for(self, file_id: str, event_url: str, bearer: Bearer) -> str:
        """The URL to download ``file_id`` with ``bearer``.

        The webhook's own URL goes with the webhook's download token. The OAuth token (account-wide power)
        goes only to a URL Zoom's API gave us: a file the API does not list is missing (:class:`TrackMissing`),
        never fetched from the webhook's URL with that token — a leaked webhook secret must not be able to
        pick where our OAuth token is sent.
        """
        if bearer.kind != "oauth" or self.api is None:
            return event_url
        if self.phone:
            if not phone_download_allowed(event_url, self.tenant):
                raise DownloadRefused(target(event_url).raw_host or "?", "not Zoom's phone recording download endpoint")
            return event_url
        async with self._lock:
            if self._fresh is None:
                self._fresh = await self._refresh()
        url = self._fresh.get(file_id)
        if url is None:
            raise TrackMissing(file_id, 404, None)
        return url

    async def _refresh(self) -> dict[str, str]:
        assert self.api is not None
        api = self.api
        try:
            # Zoom's 5xx and 429 are waited out here (backoff, Retry-After), as the backfill does: one
            # short API outage must not spend the meeting's whole retry budget.
            recordings = await call_with_retries(
                lambda: api.get_meeting_recordings(self.meeting_uuid), sleep=self._sleep
            )
            return download_urls(recordings)
        except ZoomApiError as exc:
            # The meeting is gone from the API (or hidden from this app): with OAuth its files are missing.
            log.warning("recording urls not listed", extra={"tenant": self.tenant.id, "status": exc.status})
            return {}
