"""The command line of ``zoomsymbl-ingest``: ``serve`` by default, bad settings named; backfill is ``zoomsymbl``'s."""

from __future__ import annotations

import pytest
from zoomsymbl_ingest.__main__ import main
from zoomsymbl_ingest.cli import parse_args


def test_a_bad_setting_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_INGEST_HTTP_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "ZOOMSYMBL_INGEST_HTTP_PORT" in capsys.readouterr().err


def test_no_arguments_means_serve_and_backfill_is_no_longer_an_ingest_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_args([]).command == "serve"
    assert "zoomsymbl backfill" in capture_help(capsys)
    with pytest.raises(SystemExit) as exited:
        parse_args(["backfill", "--from", "2024-01-01"])
    assert exited.value.code == 2


def capture_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    return capsys.readouterr().out
