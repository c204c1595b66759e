"""scripts/infra.py can run a second, private set of servers and stop or start one of them alone.

Pure parts only (no server is started here); the crash rounds use the real thing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import infra
from tests.reliability.private_infra import PrivateInfra


def test_run_and_log_dirs_default_to_the_repository_cache(tmp_path: Path) -> None:
    cfg = infra.load_config({}, root=tmp_path)
    servers = infra.make_servers(cfg)
    assert {s.pid_file.parent for s in servers} == {tmp_path / ".cache" / "run"}
    assert {s.log_file.parent for s in servers} == {tmp_path / ".cache" / "logs"}
    assert infra.lock_file(cfg) == tmp_path / ".cache" / "run" / "infra.lock"


def test_a_private_set_keeps_pids_logs_lock_and_data_apart(tmp_path: Path) -> None:
    private = PrivateInfra(tmp_path / "private")
    cfg = infra.load_config(private.script_env(), root=tmp_path)
    servers = infra.make_servers(cfg)
    assert {s.pid_file.parent for s in servers} == {tmp_path / "private" / "run"}
    assert {s.log_file.parent for s in servers} == {tmp_path / "private" / "logs"}
    assert {s.data_dir.parent for s in servers} == {tmp_path / "private" / "data"}
    assert infra.lock_file(cfg).parent == tmp_path / "private" / "run"
    assert cfg.smtp_maildir == tmp_path / "private" / "maildir"
    assert dict(cfg.ports) == private.ports
    # Builds stay shared: the private set reuses the binaries and jars of the repository's cache.
    assert cfg.bin_dir == tmp_path / ".cache" / "bin"


def test_relative_run_and_log_dirs_are_taken_from_the_repository(tmp_path: Path) -> None:
    cfg = infra.load_config({"ZS_RUN_DIR": "x/run", "ZS_LOG_DIR": "x/logs"}, root=tmp_path)
    assert (cfg.run_path, cfg.log_path) == (tmp_path / "x" / "run", tmp_path / "x" / "logs")


def test_components_can_be_picked_one_by_one_in_start_order() -> None:
    cfg = infra.load_config({})
    assert [s.name for s in infra.make_servers(cfg, ["smtp", "kafka"])] == ["kafka", "smtp"]
    assert [s.name for s in infra.make_servers(cfg)] == list(infra.COMPONENTS)
    with pytest.raises(infra.InfraError, match=r"unknown component\(s\) \['zookeeper'\]"):
        infra.make_servers(cfg, ["zookeeper"])


def test_stop_of_one_component_touches_only_that_pid_file(tmp_path: Path) -> None:
    cfg = infra.load_config({"ZS_RUN_DIR": str(tmp_path / "run")}, root=tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("kafka", "smtp"):
        (run / f"{name}.pid").write_text("999999999 - -\n")  # no such process: a stale pid file
    assert infra.cmd_down(cfg, ["smtp"]) == 0
    assert not (run / "smtp.pid").exists()
    assert (run / "kafka.pid").exists()


def test_the_command_line_takes_components_and_the_stop_alias(tmp_path: Path) -> None:
    env = {"ZS_RUN_DIR": str(tmp_path / "run"), "ZS_LOG_DIR": str(tmp_path / "logs"), "PATH": "/usr/bin:/bin"}
    script = str(infra.ROOT / "scripts" / "infra.py")
    stop = subprocess.run([sys.executable, script, "stop", "smtp"], capture_output=True, text=True, timeout=60, env=env)
    assert stop.returncode == 0, stop.stderr
    assert "smtp" in stop.stdout and "kafka" not in stop.stdout
    bad = subprocess.run(
        [sys.executable, script, "up", "zookeeper"], capture_output=True, text=True, timeout=60, env=env
    )
    assert bad.returncode == 1
    assert "unknown component" in bad.stderr
