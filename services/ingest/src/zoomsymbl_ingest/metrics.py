"""Prometheus metrics of ingest, in a registry of their own (one per app, so tests never share counters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from zoomsymbl_common.events import EventSource

RejectReason = Literal[
    "unknown_tenant",
    "missing_signature",
    "bad_signature",
    "bad_timestamp",
    "stale_timestamp",
    "body_too_large",
    "body_timeout",
    "invalid_json",
    "missing_fields",
    "invalid_fields",
    "account_mismatch",
    "no_webhook_secret_configured",
]
IgnoreReason = Literal["unsupported_event", "user_not_allowed"]
Outcome = Literal["published", "duplicate", "ignored", "validated", "rejected", "unavailable"]
StoreOperation = Literal["receipt_lookup", "receipt_insert", "token_store"]
BackfillResult = Literal["seen", "new", "skipped", "failed"]
ListingCut = Literal["page_cap", "repeated_token"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0)


@dataclass(frozen=True)
class IngestMetrics:
    """Every metric ingest exports; label values are closed sets (never tenant-supplied text)."""

    registry: CollectorRegistry
    received: Counter
    rejected: Counter
    published: Counter
    duplicates: Counter
    ignored: Counter
    unavailable: Counter
    store_errors: Counter
    backfill: Counter
    invalid_recordings: Counter
    listings_cut: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> IngestMetrics:
        """Fresh metrics in a fresh registry."""
        reg = CollectorRegistry()
        prefix = "zoomsymbl_ingest"
        return cls(
            registry=reg,
            received=Counter(f"{prefix}_webhooks_received", "Webhook requests received.", registry=reg),
            rejected=Counter(f"{prefix}_webhooks_rejected", "Webhooks refused (4xx).", ["reason"], registry=reg),
            published=Counter(f"{prefix}_events_published", "Events Kafka acknowledged.", ["source"], registry=reg),
            duplicates=Counter(f"{prefix}_duplicates", "Recordings seen before.", ["source"], registry=reg),
            ignored=Counter(f"{prefix}_ignored", "Webhooks answered 200 and dropped.", ["reason"], registry=reg),
            unavailable=Counter(f"{prefix}_unavailable", "Webhooks answered 503.", ["component"], registry=reg),
            store_errors=Counter(
                f"{prefix}_store_errors", "MongoDB operations skipped (down or slow).", ["operation"], registry=reg
            ),
            backfill=Counter(f"{prefix}_backfill_meetings", "Backfill meetings by result.", ["result"], registry=reg),
            invalid_recordings=Counter(
                f"{prefix}_invalid_recordings",
                "Recordings skipped because no event could be built of them.",
                ["source"],
                registry=reg,
            ),
            listings_cut=Counter(
                f"{prefix}_listings_cut_short",
                "Zoom listings stopped at the page cap or at a page token seen before.",
                ["reason"],
                registry=reg,
            ),
            latency=Histogram(
                f"{prefix}_webhook_seconds",
                "Webhook handling time by outcome.",
                ["outcome"],
                buckets=_LATENCY_BUCKETS,
                registry=reg,
            ),
        )

    def reject(self, reason: RejectReason) -> None:
        """Count a refused webhook."""
        self.rejected.labels(reason=reason).inc()

    def ignore(self, reason: IgnoreReason) -> None:
        """Count a webhook answered 200 without an event."""
        self.ignored.labels(reason=reason).inc()

    def publish(self, source: EventSource) -> None:
        """Count an acknowledged event."""
        self.published.labels(source=source).inc()

    def duplicate(self, source: EventSource) -> None:
        """Count a recording that was already published."""
        self.duplicates.labels(source=source).inc()

    def invalid_recording(self, source: EventSource) -> None:
        """Count a recording skipped because no event could be built of it."""
        self.invalid_recordings.labels(source=source).inc()

    def listing_cut(self, reason: ListingCut) -> None:
        """Count a Zoom listing that ended before Zoom said it was done."""
        self.listings_cut.labels(reason=reason).inc()

    def store_error(self, operation: StoreOperation) -> None:
        """Count a MongoDB operation that was skipped."""
        self.store_errors.labels(operation=operation).inc()

    def observe(self, outcome: Outcome, seconds: float) -> None:
        """Record how long one webhook took."""
        self.latency.labels(outcome=outcome).observe(seconds)
