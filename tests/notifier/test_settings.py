"""The notifier's settings come from ZOOMSYMBL_NOTIFIER_* variables; a bad one is named."""

from __future__ import annotations

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.service import EXIT_CONFIG, load_or_exit
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


@pytest.fixture
def base_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET", "a-secret-of-at-least-16-bytes")
    for name in ("ZOOMSYMBL_NOTIFIER_PAGE_KEY", "ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_a_page_key_there_is_no_link_and_no_base_url_is_needed(base_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(Settings)
    assert settings.page_key.get_secret_value() == "" and settings.page_base_url == ""


def test_a_page_key_needs_a_base_url_or_the_notifier_stops_with_exit_code_2(
    base_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_env.setenv("ZOOMSYMBL_NOTIFIER_PAGE_KEY", "a-page-key-of-at-least-16-bytes")
    with pytest.raises(SystemExit) as exited:
        load_or_exit("notifier", Settings)
    assert exited.value.code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL" in err and "a-page-key" not in err


@pytest.mark.parametrize(
    "url",
    ["zoomsymbl.example.com", "ftp://zoomsymbl.example.com", "https://", "https://u:p@h.example", "https://h/?a=1"],
)
def test_the_base_url_must_be_http_or_https_with_a_host(base_env: pytest.MonkeyPatch, url: str) -> None:
    base_env.setenv("ZOOMSYMBL_NOTIFIER_PAGE_KEY", "a-page-key-of-at-least-16-bytes")
    base_env.setenv("ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL",)


def test_a_short_page_key_is_refused_and_a_good_base_url_is_kept_without_its_slash(
    base_env: pytest.MonkeyPatch,
) -> None:
    base_env.setenv("ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL", "https://zoomsymbl.example.com/")
    assert load_settings(Settings).page_base_url == "https://zoomsymbl.example.com"
    base_env.setenv("ZOOMSYMBL_NOTIFIER_PAGE_KEY", "short")
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_NOTIFIER_PAGE_KEY",)


def test_give_ups_before_failing_defaults_to_three_and_is_read_from_the_environment(
    base_env: pytest.MonkeyPatch,
) -> None:
    base_env.delenv("ZOOMSYMBL_NOTIFIER_GIVE_UPS_BEFORE_FAILING", raising=False)
    assert load_settings(Settings).give_ups_before_failing == 3
    base_env.setenv("ZOOMSYMBL_NOTIFIER_GIVE_UPS_BEFORE_FAILING", "1")
    assert load_settings(Settings).give_ups_before_failing == 1


@pytest.mark.parametrize("value", ["0", "-1", "11", "2.5", "many"])
def test_give_ups_before_failing_out_of_range_is_refused(base_env: pytest.MonkeyPatch, value: str) -> None:
    base_env.setenv("ZOOMSYMBL_NOTIFIER_GIVE_UPS_BEFORE_FAILING", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_NOTIFIER_GIVE_UPS_BEFORE_FAILING",)


@pytest.mark.parametrize("value", ["inf", "1e15", "31536001", "-1", "nan"])
def test_a_job_give_up_past_a_year_or_infinite_is_refused_naming_the_variable(
    base_env: pytest.MonkeyPatch, value: str
) -> None:
    """``inf`` (meant as "never", which is 0) and anything near 1e14 s passed and then overflowed the date arithmetic
    of every status that is not final: the sweeper crashed each round (no due e-mail retried either)."""
    base_env.setenv("ZOOMSYMBL_NOTIFIER_JOB_GIVE_UP_AFTER_SECONDS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_NOTIFIER_JOB_GIVE_UP_AFTER_SECONDS",)
    base_env.setenv("ZOOMSYMBL_NOTIFIER_JOB_GIVE_UP_AFTER_SECONDS", "0")
    assert load_settings(Settings).job_give_up_after_seconds == 0


@pytest.mark.parametrize(
    "name", ["MAIL_RETRY_BASE_SECONDS", "MAIL_RETRY_MAX_SECONDS", "MAIL_LEASE_SECONDS", "MAIL_GIVE_UP_AFTER_SECONDS"]
)
@pytest.mark.parametrize("value", ["inf", "1e15", "nan"])
def test_an_e_mail_timing_no_date_can_hold_is_refused_naming_the_variable(
    base_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """Infinity (meant as "never") or 1e15 passed and then overflowed the date arithmetic of every send."""
    base_env.setenv(f"ZOOMSYMBL_NOTIFIER_{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == (f"ZOOMSYMBL_NOTIFIER_{name}",)
