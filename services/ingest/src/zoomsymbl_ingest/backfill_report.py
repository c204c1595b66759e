"""What one backfill run did: its counts in total, per user and for Zoom Phone, and whether it read everything."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from zoomsymbl_ingest.backfill_users import UserCounts

MeetingResult = Literal["new", "skipped", "failed", "forgotten"]


@dataclass
class BackfillReport:
    """What one backfill run did; ``error`` is set when listing failed for good."""

    tenant: str
    from_: date
    to: date
    seen: int = 0
    new: int = 0
    skipped: int = 0
    failed: int = 0
    forgotten: int = 0
    """Of the skipped, those erased with ``zoomsymbl forget`` (a tombstone): meetings and phone recordings."""
    error: str | None = None
    phone_recordings: int = 0
    phone_pages: int = 0
    phone_error: str | None = None
    users: dict[str, UserCounts] = field(default_factory=dict)
    users_not_allowed: int = 0
    users_error: str | None = None
    listing_restarts: int = 0
    listings_cut_short: int = 0
    """Listings stopped at the page cap or at a repeated page token (paging.py): some may be unread."""
    listings_failed: int = 0
    """Listings Zoom refused (a user deleted during the run; the phone listing after some pages, or on its first
    page other than as an account without Zoom Phone; the users listing after its first page): what they had not
    read yet is unread, the rest of the run went on."""

    @property
    def ok(self) -> bool:
        """True when every listing was read to its end and every listed meeting was published or skipped."""
        return self.failed == 0 and self.error is None and self.listings_cut_short == 0 and self.listings_failed == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        data = asdict(self)
        data["from"], data["to"] = self.from_.isoformat(), self.to.isoformat()
        del data["from_"]
        return data


def count(target: BackfillReport | UserCounts, result: MeetingResult) -> None:
    """One listed meeting or recording more in ``target``; a forgotten one is also a skipped one."""
    target.seen += 1
    if result == "forgotten":
        target.forgotten += 1
        result = "skipped"
    setattr(target, result, getattr(target, result) + 1)
