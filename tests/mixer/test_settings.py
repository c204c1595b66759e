"""The mixer's settings come from ``ZOOMSYMBL_MIXER_*``; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.settings import load_settings
from zoomsymbl_mixer.settings import Settings


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZOOMSYMBL_MIXER_OUTPUT_FORMAT", "ZOOMSYMBL_MIXER_HTTP_PORT", "ZOOMSYMBL_MIXER_DOWNLOAD_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(Settings)
    assert (settings.http_port, settings.download_concurrency, settings.output_format) == (8081, 4, "auto")


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MIXER_SCRATCH_DIR", str(tmp_path))
    monkeypatch.setenv("ZOOMSYMBL_MIXER_OUTPUT_FORMAT", "opus")
    monkeypatch.setenv("ZOOMSYMBL_MIXER_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("ZOOMSYMBL_MONGO_DATABASE", "elsewhere")
    settings = load_settings(Settings)
    assert (settings.scratch_dir, settings.output_format, settings.max_attempts) == (tmp_path, "opus", 7)
    assert settings.infra.mongo_database == "elsewhere"


def test_an_invalid_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MIXER_OUTPUT_FORMAT", "mp3")
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_MIXER_OUTPUT_FORMAT",)


def test_a_poll_interval_shorter_than_the_longest_mix_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poll deadline gives a meeting still mixing back to Kafka and polls again (tests/mixer/test_poll_deadline.py):
    the interval need not outlast two ffmpeg runs and the transfers, as it had to before; under a minute is refused."""
    monkeypatch.setenv("ZOOMSYMBL_MIXER_FFMPEG_TIMEOUT_SECONDS", "14400")
    monkeypatch.setenv("ZOOMSYMBL_MIXER_KAFKA_MAX_POLL_INTERVAL_MS", "600000")
    assert load_settings(Settings).kafka_max_poll_interval_ms == 600_000
    monkeypatch.setenv("ZOOMSYMBL_MIXER_KAFKA_MAX_POLL_INTERVAL_MS", "59999")
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert caught.value.variables == ("ZOOMSYMBL_MIXER_KAFKA_MAX_POLL_INTERVAL_MS",)
