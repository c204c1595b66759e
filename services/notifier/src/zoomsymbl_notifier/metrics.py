"""The notifier's e-mail counters: every send attempt counted as sent or failed, by reason.

The outbox counts each attempt it makes once, whichever path (handler or sweeper) made it, after deciding what the
attempt means: a failure for now past the e-mail's lifetime gives it up, and counts as ``rejected``, not
``unavailable`` (the transport alone could not tell).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter
from zoomsymbl_common.events import Service

FailureReason = Literal["unavailable", "rejected"]
Counted = Literal["sent", "unavailable", "rejected"]
"""An attempt's outcome: the server took the message (for some recipients at least), retried later, given up."""

FAILURE_STAGES: Final = frozenset(
    {
        *("tenant", "config", "auth", "download", "verify", "space", "validate", "merge", "upload", "publish"),
        *("split", "downmix", "submit", "provider", "status", "insights", "transcribe", "transcript", "storage"),
        *("assemble", "lookup", "parse", "retry", "forget", "unknown"),
    }
)
"""The stages our services give up in: the ``stage`` label's values (any other is counted as ``other``)."""
_SERVICES: Final = frozenset(get_args(Service))


class MailMetrics:
    """``zoomsymbl_emails_sent_total`` and ``zoomsymbl_emails_failed_total{reason}`` on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter("zoomsymbl_emails_sent", "E-mails the SMTP server accepted.", registry=registry)
        self.failed = Counter(
            "zoomsymbl_emails_failed",
            "Send attempts that failed: unavailable (retried later) or rejected (given up).",
            ["reason"],
            registry=registry,
        )
        for reason in get_args(FailureReason):
            self.failed.labels(reason)  # both series exist from the start, at 0, for rate() and alerts

    def count(self, outcome: Counted) -> None:
        """One more attempt with ``outcome``."""
        if outcome == "sent":
            self.sent.inc()
        else:
            self.failed.labels(outcome).inc()


class FailureMetrics:
    """``zoomsymbl_notifier_meetings_failed_total{failed_by, stage}``: meetings the pipeline gave up on.

    Counted when the notifier learns a meeting failed (its own provider failures, and each ``meeting.failed.v1``
    of a meeting still failed in that generation). A duplicate delivery of one failure event (a crash between
    its publish and the commit) counts it twice; the alert looks at rates, not exact counts.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.failed = Counter(
            "zoomsymbl_notifier_meetings_failed",
            "Meetings failed, by the service that gave up (failed_by) and its stage.",
            ["failed_by", "stage"],
            registry=registry,
        )

    def count(self, service: str, stage: str) -> None:
        """One more failed meeting, under a known service and stage or ``other``.

        A ``meeting.failed.v1`` event's stage is any text up to 64 characters (whoever writes to the topic
        chooses it), and each label value is a series kept for the life of the process.
        """
        failed_by = service if service in _SERVICES else "other"
        self.failed.labels(failed_by=failed_by, stage=stage if stage in FAILURE_STAGES else "other").inc()
