"""The operator pod's process (the chart's ``ops`` CronJob): it says it is ready, waits, and a SIGTERM or SIGINT ends it
with exit 0 — the way Kubernetes stops the pod when its Job is deleted or its deadline passes. As a PID namespace's
init (a container's first process, here made with ``unshare``) it waits for the commands run beside it first."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from zoomsymbl_common.ops.toolbox import READY, WAITING, others


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_it_waits_until_told_to_stop_and_then_exits_0(stop: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoomsymbl_common.ops.toolbox"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        ready = json.loads(proc.stderr.readline())  # blocks until the process has said it
        assert ready["msg"] == READY and ready["level"] == "info", ready
        assert proc.poll() is None, "it waits, it does not end by itself"
        proc.send_signal(stop)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout == ""
    (stopping,) = [json.loads(line) for line in stderr.splitlines()]
    assert stopping["msg"] == "operator pod stopping" and stopping["signal"] == stop.name, stopping
    assert stopping["commands"] == 0, "not a namespace's init: the host's processes are not its commands"


def test_the_other_live_processes_are_read_from_proc(tmp_path: Path) -> None:
    stats = {
        "1": "1 (python) S 0 1 1 0",
        "7": "7 (zoomsymbl) S 0 7 7 0",
        "8": "8 (sh) Z 1 8 8 0",  # ended, not reaped yet
        "9": "9 (a) b (c) R 0 9 9 0",  # a name with spaces and parentheses
        "12": "12 (gone) X 0 12 12 0",
    }
    for pid, stat in stats.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_text(stat, encoding="utf-8")
    (tmp_path / "10").mkdir()  # ended between the listing and the read: no stat
    (tmp_path / "self").mkdir()
    (tmp_path / "sys").mkdir()
    assert others(tmp_path, own=1) == [7, 9]
    assert others(tmp_path, own=7) == [1, 9]


# ----------------------------------------------------------------------------------- as a PID namespace's init


def _namespaces_missing() -> str | None:
    """Why no PID namespace can be made here (None: it can)."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return "a PID namespace needs root and util-linux's unshare and nsenter"
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:  # root in a container without CAP_SYS_ADMIN, say
        return f"unshare --pid refused here: {probe.stderr.strip()[:200]}"
    return None


_missing = _namespaces_missing()
needs_namespaces = pytest.mark.skipif(
    _missing is not None, reason=f"{_missing} (the images test runs the toolbox as PID 1 in podman)"
)


class Init:
    """The toolbox as PID 1 of a new PID namespace (with its own /proc), and commands run in it as kubectl exec does."""

    def __init__(self) -> None:
        self.unshare = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-m",
             "zoomsymbl_common.ops.toolbox"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        ready = self.line()
        assert ready["msg"] == READY, ready
        children = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children").read_text().split()
        (self.pid,) = (int(child) for child in children)  # the toolbox, as the host numbers it

    def line(self) -> dict[str, Any]:
        assert self.unshare.stderr is not None
        line = self.unshare.stderr.readline()  # blocks until the toolbox has written it
        assert line, f"the toolbox ended (exit {self.unshare.wait()})"
        found: dict[str, Any] = json.loads(line)
        return found

    def run(self, script: str, *args: str) -> subprocess.Popen[str]:
        """``sh -c script`` in the namespace: a child of nsenter outside it, as an exec'd process is of the runtime."""
        command = subprocess.Popen(
            ["nsenter", "--target", str(self.pid), "--pid", "--mount", "--", "sh", "-c", script, *args],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert command.stdout is not None
        assert command.stdout.readline() == "started\n"
        return command

    def signal(self, sent: signal.Signals = signal.SIGTERM) -> None:
        os.kill(self.pid, sent)


@pytest.fixture
def init() -> Iterator[Init]:
    started = Init()
    try:
        yield started
    finally:
        started.unshare.kill()  # --kill-child: the namespace goes with it
        started.unshare.wait()


def read_rest(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.read()


# A command that runs until the test lets it end (no sleep decides what the test sees).
UNTIL_GO = 'echo started; while [ ! -e "$0" ]; do sleep 0.05; done; echo finished'


@needs_namespaces
def test_as_init_it_waits_for_a_running_command_before_it_exits(init: Init, tmp_path: Path) -> None:
    go = tmp_path / "go"
    command = init.run(UNTIL_GO, str(go))
    init.signal()
    stopping = init.line()
    assert stopping["msg"] == "operator pod stopping" and stopping["commands"] >= 1, (
        stopping
    )  # sh, and its sleep at times
    assert init.line()["msg"] == WAITING
    assert init.unshare.poll() is None and command.poll() is None, "both still running after the SIGTERM"
    go.touch()
    assert read_rest(command.stdout) == "finished\n"
    assert command.wait(timeout=30) == 0
    assert init.unshare.wait(timeout=30) == 0
    assert init.line()["msg"] == "operator pod stopped: the commands running in it ended"


@needs_namespaces
def test_as_init_a_second_signal_stops_it_at_once_and_the_command_with_it(init: Init, tmp_path: Path) -> None:
    command = init.run(UNTIL_GO, str(tmp_path / "never"))
    init.signal()
    assert init.line()["msg"] == "operator pod stopping"
    assert init.line()["msg"] == WAITING
    init.signal(signal.SIGINT)
    now = init.line()
    assert now["level"] == "warning" and now["signal"] == "SIGINT" and now["commands"] >= 1, now
    assert init.unshare.wait(timeout=30) == 0
    assert command.wait(timeout=30) != 0, "the kernel kills what is left in the namespace when its init exits"
    assert read_rest(command.stdout) == ""


def state_in(init: Init, pid: str) -> str:
    """The state letter of ``pid`` in the namespace's /proc, or "gone"."""
    script = f'echo started; cat /proc/{pid}/stat 2>/dev/null || echo "{pid} (x) gone"'
    looked = init.run(script)
    stat = read_rest(looked.stdout)
    assert looked.wait(timeout=30) == 0  # nsenter has reaped it: not a command of the namespace any more
    return stat.rpartition(")")[2].split()[0]


@needs_namespaces
def test_as_init_it_reaps_the_orphans_handed_to_it(init: Init) -> None:
    # The shell ends at once, leaving a child that ends soon after: an orphan the namespace's init inherits.
    command = init.run("echo started; sleep 0.2 & echo $!; exit 0")
    orphan = read_rest(command.stdout).strip()
    assert command.wait(timeout=30) == 0 and orphan.isdigit()
    deadline = time.monotonic() + 30
    while (state := state_in(init, orphan)) != "gone":  # a zombie ("Z") until its parent, the init, reaps it
        assert time.monotonic() < deadline, f"process {orphan} never reaped: state {state}"
        time.sleep(0.1)
    init.signal()
    stopping = init.line()
    assert stopping["msg"] == "operator pod stopping" and stopping["commands"] == 0, stopping
    assert init.unshare.wait(timeout=30) == 0
