"""The operator pod's process (the chart's ``ops`` CronJob): it says it is ready, waits, and a SIGTERM or SIGINT ends it
with exit 0 — the way Kubernetes stops the pod when its Job is deleted or its deadline passes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from zoomsymbl_common.ops.toolbox import READY


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
