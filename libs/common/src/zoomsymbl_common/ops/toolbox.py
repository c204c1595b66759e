"""The operator pod's process (the chart's ``ops`` CronJob, suspended): it does nothing and waits.

``python -m zoomsymbl_common.ops.toolbox`` says once that it is ready, then waits for SIGTERM or SIGINT and exits 0.
Operators run ``zoomsymbl <subcommand>`` in its pod with ``kubectl exec``: the pod has the notifier's image,
configuration, credentials and tenants file, and serves nothing, consumes nothing, sends nothing — so it can run
while every service is scaled to 0 (a restore from a backup, a consumer group rewound). Its Job's
``activeDeadlineSeconds`` ends a pod someone forgot (docs/operations.md, "The operator pod").
"""

from __future__ import annotations

import logging
import signal

from zoomsymbl_common.logs import setup_logging

log = logging.getLogger("zoomsymbl.ops.toolbox")
STOP = frozenset({signal.SIGTERM, signal.SIGINT})
READY = "operator pod ready: run zoomsymbl in it with kubectl exec"


def main() -> int:
    """Wait for SIGTERM or SIGINT; 0 once one came (as PID 1 too: the signals are waited for, not handled)."""
    # Blocked before anything else: a signal that comes during start-up waits for sigwait, none is lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    setup_logging()
    log.info(READY)
    received = signal.sigwait(STOP)
    log.info("operator pod stopping", extra={"signal": signal.Signals(received).name})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
