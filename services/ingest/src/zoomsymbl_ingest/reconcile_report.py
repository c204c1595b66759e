"""What one reconciliation run found: its counts for meetings and Zoom Phone calls, the meetings and calls it
flagged, and the ``zoom.reconciliation-completed.v1`` event (the digest) of a complete run."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from zoomsymbl_common.event_fields import MAX_DIGEST_MEETINGS
from zoomsymbl_common.events import ReconciliationCompleted, stable_id

from zoomsymbl_ingest.metrics import ListingCut

log = logging.getLogger("zoomsymbl.ingest.reconcile")
MAX_LISTED = MAX_DIGEST_MEETINGS
"""Most missing meetings a report lists (the counts are always complete)."""
MAX_EVENT_UUID = 256
"""Longest meeting UUID an event may carry (Zoom's are 24 characters; longer ones are counted, not named)."""


@dataclass
class ReconcileReport:
    """What one reconciliation run found; ``missing`` lists the meetings it flagged (at most MAX_LISTED)."""

    tenant: str
    from_: date
    to: date
    listed: int = 0
    expected: int = 0
    archived: int = 0
    flagged: int = 0
    already_flagged: int = 0
    pages: int = 0
    listing_restarts: int = 0
    listings_cut_short: int = 0
    """Listings stopped at the page cap or at a repeated page token (paging.py): some entries unread."""
    phone_listed: int = 0
    phone_expected: int = 0
    phone_archived: int = 0
    phone_flagged: int = 0
    phone_already_flagged: int = 0
    phone_resolved: int = 0
    """Calls flagged by an earlier run and archived since: their reconciliation records were deleted."""
    phone_pages: int = 0
    phone_error: str | None = None
    """Why the call history was not listed or read to its end: without ``phone_partial``, Zoom's documented answer
    for an account without Zoom Phone or an app without the scope (403, code 4711); the meetings were reconciled."""
    phone_partial: bool = False
    """The call history failed: after its first page, or on it with any other refusal (a 404, another 400) or a page
    no Zoom serves. The calls after it were not reconciled; the run is incomplete."""
    invalid: int = 0
    """Expected meetings and calls no record can be made of (no UUID or call id, an id past the archive's bounds):
    skipped, logged. Meetings and calls together, expected = archived + flagged + already_flagged + invalid
    + pending."""
    pending: int = 0
    """Expected meetings and calls with a recording that ended less than ``RECORDING_SETTLE`` before the run and are
    not archived yet: Zoom may still be processing the recording. Neither flagged nor missing; a later run judges."""
    missing: list[dict[str, Any]] = field(default_factory=list)
    missing_uuids: list[str] = field(default_factory=list)
    """Every expected meeting found missing, by this run or an earlier one (at most MAX_LISTED): the digest's."""

    def count_restart(self) -> None:
        """One listing started again after an expired page token."""
        self.listing_restarts += 1

    def count_cut(self, reason: ListingCut) -> None:
        """One listing ended early (``reason``): the run goes on with what it read."""
        self.listings_cut_short += 1

    def skip_unnamed(self, field: str, count: int) -> None:
        """``count`` expected meetings or calls listed without their id (``field``), or with one no UTF-8 holds: no
        record can name them; counted, logged (without the entries: nothing names them)."""
        if count:
            self.invalid += count
            log.warning("listed entries skipped", extra={"tenant": self.tenant, "field": field,
                                                         "rule": "missing or not UTF-8", "count": count})  # fmt: skip

    def skip_invalid(self, key: str, exc: ValidationError) -> None:
        """One listed meeting or call no record can be made of: counted, logged, the run goes on."""
        self.invalid += 1
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        log.warning("listed entry skipped", extra={"tenant": self.tenant, "key": key[:64], "field": where,
                                                   "rule": error["msg"][:160]})  # fmt: skip

    @property
    def complete(self) -> bool:
        """Every listing was read to its end: what was not flagged is archived (a digest may say so)."""
        return self.listings_cut_short == 0 and not self.phone_partial

    def note_missing(self, uuid: str) -> None:
        """Remember ``uuid`` for the digest (within MAX_LISTED)."""
        if len(self.missing_uuids) < MAX_LISTED:
            self.missing_uuids.append(uuid)

    def list_missing(self, entry: dict[str, Any]) -> None:
        """List a meeting or call this run flagged (within MAX_LISTED)."""
        if len(self.missing) < MAX_LISTED:
            self.missing.append(entry)

    @property
    def missing_total(self) -> int:
        """Expected meetings and calls found missing, by this run or an earlier one."""
        return self.flagged + self.already_flagged + self.phone_flagged + self.phone_already_flagged

    def completion_event(self) -> ReconciliationCompleted:
        """The ``zoom.reconciliation-completed.v1`` event of this run (the same window gives the same id)."""
        return ReconciliationCompleted(
            event_id=stable_id(ReconciliationCompleted.topic, self.tenant, self.from_.isoformat(), self.to.isoformat()),
            tenant=self.tenant,
            meeting_uuid=ReconciliationCompleted.window_key(self.from_, self.to),
            window_from=self.from_,
            window_to=self.to,
            listed=self.listed + self.phone_listed,
            expected=self.expected + self.phone_expected,
            archived=self.archived + self.phone_archived,
            flagged=self.flagged + self.phone_flagged,
            already_flagged=self.already_flagged + self.phone_already_flagged,
            missing=tuple(u for u in self.missing_uuids if len(u) <= MAX_EVENT_UUID),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts and the flagged meetings."""
        data = asdict(self)
        data["from"], data["to"] = self.from_.isoformat(), self.to.isoformat()
        del data["from_"], data["missing_uuids"]
        return data
