"""The command line: ``serve`` by default, ``backfill`` refusing clearly what it cannot run, bad settings named."""

from __future__ import annotations

import pytest
from zoomsymbl_ingest.__main__ import main
from zoomsymbl_ingest.cli import parse_args, run_backfill
from zoomsymbl_ingest.settings import Settings

from tests.ingest.support import SECRET


def test_a_bad_setting_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_INGEST_HTTP_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "ZOOMSYMBL_INGEST_HTTP_PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["backfill", "--tenant", "nobody", "--from", "2024-01-01"], "unknown tenant 'nobody'"),
        (["backfill", "--from", "2024-01-01"], "no Server-to-Server OAuth credentials"),
        (["backfill", "--from", "2024-02-01", "--to", "2024-01-01"], "before it starts"),
    ],
)
def test_a_backfill_that_cannot_run_says_why(
    argv: list[str], problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ID", "acme")
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("ZOOMSYMBL_TENANTS_FILE", raising=False)
    if "2024-02-01" in argv:
        for name, value in (("ACCOUNT_ID", "a"), ("CLIENT_ID", "c"), ("CLIENT_SECRET", "s-123456")):
            monkeypatch.setenv(f"ZOOMSYMBL_TENANT_ZOOM_{name}", value)
    assert run_backfill(Settings(), parse_args(argv)) == 2
    assert problem in capsys.readouterr().err


def test_no_arguments_means_serve() -> None:
    assert parse_args([]).command == "serve"
    args = parse_args(["backfill", "--from", "2024-01-01"])
    assert (args.command, args.tenant, args.to) == ("backfill", None, None)
