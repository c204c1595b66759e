"""The notifier's settings come from ZOOMSYMBL_NOTIFIER_* variables; a bad one is named."""

from __future__ import annotations

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.settings import load_settings
from zoomsymbl_notifier.settings import Settings


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET", "a-secret-of-at-least-16-bytes")
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS", "120")
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_TOPIC_PREFIX", "pfx-")
    settings = load_settings(Settings)
    assert settings.smtp_security == "starttls" and settings.sweeper_stale_after_seconds == 120
    assert settings.http_port == 8083 and settings.assemblyai_auth_header_name == "x-zoomsymbl-callback"
    assert settings.infra.kafka_topic_prefix == "pfx-"
    assert "a-secret" not in repr(settings)


def test_missing_or_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET", raising=False)
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_SMTP_SECURITY", "ssl")
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert set(caught.value.variables) == {"ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET", "ZOOMSYMBL_NOTIFIER_SMTP_SECURITY"}
