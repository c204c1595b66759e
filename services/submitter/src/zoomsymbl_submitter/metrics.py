"""Prometheus metrics of the submitter, on a per-app registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class SubmitterMetrics:
    """Counters and histograms exported on ``/metrics``."""

    registry: CollectorRegistry
    submissions: Counter
    limiter_wait: Histogram
    parts: Counter
    reclaimed: Counter

    @classmethod
    def create(cls) -> SubmitterMetrics:
        """Fresh metrics on a new registry (one per app, so tests do not collide)."""
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            submissions=Counter(
                "zoomsymbl_submitter_submissions",
                "Submission outcomes (submitted, duplicate, rejected, retrying, resubmitted, superseded).",
                ["provider", "outcome"],
                registry=registry,
            ),
            limiter_wait=Histogram(
                "zoomsymbl_submitter_limiter_wait_seconds",
                "Time spent waiting for a limiter token and slot.",
                buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600),
                registry=registry,
            ),
            parts=Counter(
                "zoomsymbl_submitter_split_parts",
                "Parts produced by splitting long recordings.",
                registry=registry,
            ),
            reclaimed=Counter(
                "zoomsymbl_submitter_slots_reclaimed",
                "Limiter slots freed after their lease expired and the provider confirmed the job finished.",
                registry=registry,
            ),
        )
