"""The notifier's e-mail counters: every SMTP conversation counted as sent or failed, by reason.

The counting sits around the transport rather than inside the outbox, so each attempt the outbox
makes is counted once, whichever path (handler or sweeper) made it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter
from zoomsymbl_common.events import Service

from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.smtp import MailRejected, RecipientsRefused, SmtpTransport, SmtpUnavailable

FailureReason = Literal["unavailable", "rejected"]

FAILURE_STAGES: Final = frozenset(
    {
        *("tenant", "config", "auth", "download", "verify", "space", "validate", "merge", "upload", "publish"),
        *("split", "downmix", "submit", "provider", "status", "insights", "transcribe", "transcript", "storage"),
        *("assemble", "lookup", "parse", "retry", "unknown"),
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
        for reason in ("unavailable", "rejected"):
            self.failed.labels(reason)  # both series exist from the start, at 0, for rate() and alerts


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


class CountingTransport(SmtpTransport):
    """The SMTP transport, counting each attempt's outcome."""

    def __init__(self, settings: Settings, metrics: MailMetrics) -> None:
        super().__init__(settings)
        self.metrics = metrics

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        """Deliver ``raw`` as :meth:`SmtpTransport.send` does, and count the outcome."""
        try:
            await super().send(sender, recipients, raw)
        except RecipientsRefused as exc:  # the others have it: sent, unless nobody does
            if exc.accepted:
                self.metrics.sent.inc()
            else:
                final = all(r.final for r in exc.refusals)
                self.metrics.failed.labels("rejected" if final else "unavailable").inc()
            raise
        except SmtpUnavailable:
            self.metrics.failed.labels("unavailable").inc()
            raise
        except MailRejected:
            self.metrics.failed.labels("rejected").inc()
            raise
        self.metrics.sent.inc()
