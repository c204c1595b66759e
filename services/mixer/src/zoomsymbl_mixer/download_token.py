"""The webhook's download token of a meeting as the mixer reads it from ``meeting_secrets`` (ingest stores it; it
never travels in Kafka): :class:`DownloadToken`, registered with the log scrubber as it is read, so the secret
appears in no log line while it may still work.

Part of :class:`~zoomsymbl_mixer.state.MeetingState`; :mod:`zoomsymbl_mixer.credentials` decides when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import SECRETS, MalformedRecord, MeetingSecret, meeting_key


@dataclass(frozen=True)
class DownloadToken:
    """The webhook's download token of one meeting (a secret) and when it stops working."""

    token: SecretStr
    expires_at: datetime | None

    def usable(self, now: datetime, margin: timedelta) -> bool:
        """True when the token should still work for a while."""
        return self.expires_at is None or self.expires_at - margin > now


class DownloadTokens:
    """Reads of the mixer on ``meeting_secrets``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def download_token(self, tenant: str, meeting_uuid: str) -> DownloadToken | None:
        """The token ingest stored for this meeting, if any."""
        doc = await guarded(self.db[SECRETS].find_one(meeting_key(tenant, meeting_uuid)))
        if doc is None:
            return None
        try:
            secret = MeetingSecret.from_document(doc)
        except MalformedRecord:
            return None  # no usable token: the mixer falls back to the account's OAuth token
        # Redacted while it is valid (and a day beyond, for clocks that disagree); Zoom's tokens live 24 hours.
        valid = secret.expires_at - utcnow() if secret.expires_at else timedelta(hours=24)
        register_secret(secret.download_token, ttl=max(valid, timedelta(0)) + timedelta(days=1))
        return DownloadToken(SecretStr(secret.download_token), secret.expires_at)
