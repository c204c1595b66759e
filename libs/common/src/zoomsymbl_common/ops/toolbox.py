"""The operator pod's process (the chart's ``ops`` CronJob, suspended): it does nothing and waits.

``python -m zoomsymbl_common.ops.toolbox`` says once that it is ready, then waits for SIGTERM or SIGINT. Operators
run ``zoomsymbl <subcommand>`` in its pod with ``kubectl exec``: the pod has the notifier's image, configuration,
credentials and tenants file, and serves nothing, consumes nothing, sends nothing — so it can run while every
service is scaled to 0 (a restore from a backup, a consumer group rewound). Its Job's ``activeDeadlineSeconds``
ends a pod someone forgot (docs/operations.md, "The operator pod").

As the container's first process (PID 1) it is the init of the pod's PID namespace: when it exits, the kernel kills
every process left in it, a ``zoomsymbl erasures --yes`` that ``kubectl exec`` started among them. So on SIGTERM
(the Job deleted, its deadline passed) it first waits until no other process is left in the namespace, reaping the
orphans handed to it meanwhile, and exits 0 then; a second SIGTERM or SIGINT ends it at once, and the pod's
``terminationGracePeriodSeconds`` bounds the wait (the kubelet's SIGKILL). Run anywhere else (not PID 1) it exits
on the first signal.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from zoomsymbl_common.logs import setup_logging

log = logging.getLogger("zoomsymbl.ops.toolbox")
STOP = frozenset({signal.SIGTERM, signal.SIGINT})
WAITED = STOP | {signal.SIGCHLD}
READY = "operator pod ready: run zoomsymbl in it with kubectl exec"
WAITING = "operator pod stopping once the commands running in it end (a second signal stops it now)"
POLL_SECONDS = 0.5
PROC = Path("/proc")


def main() -> int:
    """Wait for SIGTERM or SIGINT, then (as PID 1) for the commands running beside it; 0 (as PID 1 too: the signals
    are waited for, not handled)."""
    # Blocked before anything else: a signal that comes during start-up waits for sigwait, none is lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    setup_logging()
    log.info(READY)
    received = _first_stop()
    running = commands()
    log.info("operator pod stopping", extra={"signal": received.name, "commands": len(running)})
    if not running:
        return 0
    log.info(WAITING, extra={"commands": len(running)})
    while running:
        info = signal.sigtimedwait(WAITED, POLL_SECONDS)
        if info is not None and info.si_signo in STOP:
            log.warning(
                "operator pod stopping now: commands still running are killed",
                extra={"signal": signal.Signals(info.si_signo).name, "commands": len(running)},
            )
            return 0
        reap()
        running = commands()
    log.info("operator pod stopped: the commands running in it ended")
    return 0


def _first_stop() -> signal.Signals:
    while True:
        received = signal.sigwait(WAITED)
        if received in STOP:
            return signal.Signals(received)
        reap()  # SIGCHLD: an orphan handed to the namespace's init ended


def reap() -> None:
    """Collect every ended child (PID 1 inherits the orphans of the namespace: unreaped they stay zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no children at all
            return
        if pid == 0:  # children, none ended
            return


def commands(proc: Path = PROC) -> list[int]:
    """The other live processes of the PID namespace when this process is its init (PID 1): what ``kubectl exec``
    runs in the container. None anywhere else, where ``/proc`` shows the host's."""
    return others(proc, own=1) if os.getpid() == 1 else []


def others(proc: Path, own: int) -> list[int]:
    """Processes listed in ``proc`` other than ``own`` that are not zombies, sorted."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:  # ended since the listing
            continue
        fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces and parentheses
        if fields and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


if __name__ == "__main__":
    raise SystemExit(main())
