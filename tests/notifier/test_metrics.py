"""The e-mail counters: each SMTP attempt counted as sent, or failed with its reason."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.mail import MailRejected, SmtpUnavailable
from zoomsymbl_notifier.metrics import CountingTransport, MailMetrics

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink, free_port

RAW = b"From: notifier@zoomsymbl.test\r\nTo: host@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_sent_rejected_and_unavailable_are_counted_apart(smtp: SmtpSink) -> None:
    registry = CollectorRegistry()
    transport = CountingTransport(make_settings(InfraSettings(), smtp.port), MailMetrics(registry))
    await transport.send("notifier@zoomsymbl.test", ("host@example.com",), RAW)
    smtp.reject_code = 550
    with pytest.raises(MailRejected):
        await transport.send("notifier@zoomsymbl.test", ("host@example.com",), RAW)
    down = CountingTransport(make_settings(InfraSettings(), free_port()), transport.metrics)
    with pytest.raises(SmtpUnavailable):
        await down.send("notifier@zoomsymbl.test", ("host@example.com",), RAW)
    assert len(smtp.messages) == 1
    assert value(registry, "zoomsymbl_emails_sent_total") == 1
    assert value(registry, "zoomsymbl_emails_failed_total", reason="rejected") == 1
    assert value(registry, "zoomsymbl_emails_failed_total", reason="unavailable") == 1


def test_both_failure_series_exist_before_any_failure() -> None:
    registry = CollectorRegistry()
    MailMetrics(registry)
    assert registry.get_sample_value("zoomsymbl_emails_failed_total", {"reason": "rejected"}) == 0
    assert registry.get_sample_value("zoomsymbl_emails_failed_total", {"reason": "unavailable"}) == 0
    assert registry.get_sample_value("zoomsymbl_emails_sent_total") == 0
