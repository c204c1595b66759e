"""SANDBOX: the state of one Zoom sandbox — meetings, files, tokens, faults, counters."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from zoomsymbl_sandbox.zoom_audio import generate_meeting_media
from zoomsymbl_sandbox.zoom_faults import FaultBook, SandboxStats
from zoomsymbl_sandbox.zoom_limits import RateLimits
from zoomsymbl_sandbox.zoom_phone import (
    PhoneCallSpec,
    RecordedCall,
    generate_call_media,
    phone_recording_completed_event,
    phone_recording_entry,
)
from zoomsymbl_sandbox.zoom_recordings import RecordedMeeting, StoredFile, meeting_object, recorded_meeting
from zoomsymbl_sandbox.zoom_specs import MeetingSpec, ZoomSandboxConfig
from zoomsymbl_sandbox.zoom_tokens import TokenStore
from zoomsymbl_sandbox.zoom_transcripts import transcript_completed_event, write_transcripts
from zoomsymbl_sandbox.zoom_webhooks import (
    UrlValidationResult,
    encode_event,
    post_signed,
    send_recording_completed,
    send_url_validation,
)

_CDN_URL_TTL_S = 300


T = TypeVar("T")


class ZoomSandbox:
    """Everything one Zoom sandbox server knows; tests may read and drive it directly."""

    def __init__(self, config: ZoomSandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.tokens = TokenStore(clock)
        self.faults = FaultBook()
        self.stats = SandboxStats()
        self.meetings: dict[str, RecordedMeeting] = {}
        self.files: dict[str, StoredFile] = {}
        self.phone_calls: dict[str, RecordedCall] = {}
        self.base_url: str | None = config.public_base_url
        self._page_tokens: dict[str, tuple[int, float]] = {}
        self.limits = RateLimits(clock, config.per_second_limits, config.daily_limits)
        self._cdn_key = secrets.token_bytes(32)

    async def prepare(self) -> None:
        """Generate (or reuse from the cache) the recordings of every configured meeting."""
        for spec in self.config.meetings:
            await self.add_meeting(spec)

    async def add_meeting(self, spec: MeetingSpec) -> RecordedMeeting:
        """Record `spec`: generate its files and make them listable and downloadable."""
        media = await generate_meeting_media(spec, self.config.cache_dir)
        texts = {}
        if spec.transcript:
            # One folder per spec: the same audio may be spoken under other names elsewhere.
            folder = self.config.cache_dir / "transcripts" / hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            texts = await asyncio.to_thread(write_transcripts, spec, folder)
        meeting = recorded_meeting(spec, media, texts)
        self.meetings[spec.uuid] = meeting
        self.files.update({f.file_id: f for f in meeting.files})
        return meeting

    async def add_phone_call(self, spec: PhoneCallSpec) -> RecordedCall:
        """Record a Zoom Phone call: generate its MP3, list it in /phone/recordings, serve its download."""
        call = await generate_call_media(spec, self.config.cache_dir)
        self.phone_calls[spec.recording_id] = call
        return call

    def phone_recording(self, recording_id: str, request: web.Request | None = None) -> dict[str, Any]:
        """The ``recordings[]`` entry of one call, as in the webhook and the listing."""
        return phone_recording_entry(self.phone_calls[recording_id], self.base_url_for(request))

    async def send_phone_recording_completed(
        self,
        session: aiohttp.ClientSession,
        target_url: str,
        recording_id: str,
        *,
        event_ts: int | None = None,
        signature: str | None = None,
    ) -> int:
        """Deliver a signed ``phone.recording_completed`` for one recorded call."""
        self.stats.webhooks_sent += 1
        ts = event_ts if event_ts is not None else int(self.clock() * 1000)
        entries = [self.phone_recording(recording_id)]
        body = encode_event(phone_recording_completed_event(entries, self.config.account_id, event_ts=ts))
        secret = self.config.webhook_secret
        async with await post_signed(session, target_url, body, secret, signature=signature) as response:
            await response.read()
            return response.status

    def bind(self, base_url: str) -> None:
        """Set the address clients reach this sandbox at (the base of every download URL)."""
        self.base_url = base_url.rstrip("/")

    def base_url_for(self, request: web.Request | None = None) -> str:
        """The bound base URL, else the one the request came in on."""
        if self.base_url is not None:
            return self.base_url
        if request is None:
            raise RuntimeError("zoom sandbox has no base URL: call bind() once the server listens")
        return f"{request.scheme}://{request.host}"

    def today(self) -> date:
        """Today in UTC on the sandbox clock."""
        return datetime.fromtimestamp(self.clock(), UTC).date()

    def find_meeting(self, meeting_id_or_uuid: str) -> RecordedMeeting | None:
        """A meeting by UUID, or the latest instance of a numeric meeting id (as Zoom resolves them)."""
        if meeting_id_or_uuid in self.meetings:
            return self.meetings[meeting_id_or_uuid]
        if not meeting_id_or_uuid.isdigit():
            return None
        instances = [m for m in self.meetings.values() if m.spec.meeting_id == int(meeting_id_or_uuid)]
        return max(instances, key=lambda m: m.spec.start_time, default=None)

    def meeting_object(
        self, meeting_uuid: str, request: web.Request | None = None, *, transcripts: bool = True
    ) -> dict[str, Any]:
        """The meeting object (as in the API; without ``transcripts`` as in `recording.completed`)."""
        meeting = self.meetings[meeting_uuid]
        return meeting_object(meeting, self.config.account_id, self.base_url_for(request), transcripts=transcripts)

    def issue_download_token(self, meeting_uuid: str, ttl_s: int | None = None) -> str:
        """A download token for one meeting's files, as a webhook or `download_access_token` carries."""
        self.stats.download_tokens_issued += 1
        return self.tokens.issue_download(meeting_uuid, ttl_s or self.config.download_token_ttl_s)

    def page_of(self, matches: Sequence[T], offset: int, size: int) -> tuple[Sequence[T], dict[str, Any]]:
        """``size`` items of ``matches`` from ``offset`` and Zoom's paging fields (a token only when more follow)."""
        more = offset + size < len(matches)
        paging = {
            "page_count": max(1, -(-len(matches) // size)),
            "page_size": size,
            "total_records": len(matches),
            "next_page_token": self.new_page_token(offset + size) if more else "",
        }
        return matches[offset : offset + size], paging

    def new_page_token(self, offset: int) -> str:
        """An opaque `next_page_token` standing for the listing position `offset`."""
        token = secrets.token_urlsafe(24)
        self._page_tokens[token] = (offset, self.clock() + self.config.page_token_ttl_s)
        return token

    def page_offset(self, token: str) -> int | None:
        """The listing position of a `next_page_token`, None if never issued or expired (Zoom: 15 minutes)."""
        offset, expires = self._page_tokens.get(token, (0, float("-inf")))
        return offset if self.clock() < expires else None

    def expire_page_tokens(self) -> int:
        """Expire every `next_page_token` issued so far (as 15 minutes passing would); how many."""
        self._page_tokens = {t: (offset, float("-inf")) for t, (offset, _) in self._page_tokens.items()}
        return len(self._page_tokens)

    def cdn_query(self, file_id: str) -> str:
        """A signed, expiring query string for `/dl/<file_id>`, like the CDN URL Zoom redirects to."""
        expires = int(self.clock()) + _CDN_URL_TTL_S
        return urlencode({"expires": expires, "signature": self._cdn_signature(file_id, expires)})

    def cdn_query_valid(self, file_id: str, expires: str, signature: str) -> bool:
        """Whether a `/dl/` query was signed by this sandbox for `file_id` and has not expired."""
        if not expires.isdigit() or int(expires) < self.clock():
            return False
        return hmac.compare_digest(self._cdn_signature(file_id, int(expires)), signature)

    def _cdn_signature(self, file_id: str, expires: int) -> str:
        return hmac.new(self._cdn_key, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    async def send_recording_completed(
        self,
        session: aiohttp.ClientSession,
        target_url: str,
        meeting_uuid: str,
        *,
        event_ts: int | None = None,
        timestamp: str | None = None,
        signature: str | None = None,
    ) -> int:
        """Deliver `recording.completed` for a configured meeting with a fresh download token."""
        self.stats.webhooks_sent += 1
        return await send_recording_completed(
            session,
            target_url,
            self.meeting_object(meeting_uuid, transcripts=False),
            self.config.webhook_secret,
            download_token=self.issue_download_token(meeting_uuid),
            event_ts=event_ts,
            timestamp=timestamp,
            signature=signature,
        )

    async def send_transcript_completed(
        self, session: aiohttp.ClientSession, target_url: str, meeting_uuid: str, *, event_ts: int | None = None
    ) -> int:
        """Deliver `recording.transcript_completed` (signed, a fresh download token) for a meeting with a transcript."""
        self.stats.webhooks_sent += 1
        event = transcript_completed_event(
            self.meeting_object(meeting_uuid), self.issue_download_token(meeting_uuid), event_ts=event_ts
        )
        async with await post_signed(session, target_url, encode_event(event), self.config.webhook_secret) as answer:
            await answer.read()
            return answer.status

    async def send_url_validation(
        self, session: aiohttp.ClientSession, target_url: str, *, plain_token: str | None = None
    ) -> UrlValidationResult:
        """Run Zoom's endpoint validation against `target_url`."""
        self.stats.webhooks_sent += 1
        return await send_url_validation(session, target_url, self.config.webhook_secret, plain_token=plain_token)


ZOOM_SANDBOX = web.AppKey("zoom_sandbox", ZoomSandbox)
