"""The submitter's settings: names, defaults, and clear errors for what is missing."""

from __future__ import annotations

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.settings import load_settings
from zoomsymbl_submitter.settings import Settings

REQUIRED = {
    "ZOOMSYMBL_SUBMITTER_NOTIFIER_PUBLIC_URL": "https://notifier.example.com/",
    "ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET": "0123456789abcdef-secret",
}


def test_defaults_are_safe_for_a_symbl_trial_account(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(Settings)
    assert settings.http_port == 8082
    assert settings.max_in_flight == 2
    assert settings.notifier_base() == "https://notifier.example.com"
    assert settings.public_s3_endpoint is None
    assert settings.max_poll_interval_ms >= 3_600_000


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_RATE_PER_SECOND", "10")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_BURST", "5")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_MAX_IN_FLIGHT", "50")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_PUBLIC_S3_ENDPOINT", "https://s3.example.com")
    settings = load_settings(Settings)
    assert (settings.rate_per_second, settings.burst, settings.max_in_flight) == (10.0, 5, 50)
    assert settings.public_s3_endpoint is not None and settings.public_s3_endpoint.host == "s3.example.com"


def test_missing_values_name_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert set(caught.value.variables) == set(REQUIRED)


def test_a_short_callback_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_NOTIFIER_PUBLIC_URL", "https://n.example.com")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET", "tooshort")
    with pytest.raises(ConfigError, match="ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET") as caught:
        load_settings(Settings)
    assert "tooshort" not in str(caught.value)
