"""``zoomsymbl-notifier`` (or ``python -m zoomsymbl_notifier``): callbacks, the job-status consumer, the e-mail."""

from __future__ import annotations

from zoomsymbl_common.access_log import RouteAccessLogger
from zoomsymbl_common.service import run

from zoomsymbl_notifier.app import build_app
from zoomsymbl_notifier.settings import Settings


def main() -> None:
    """Entry point of the ``zoomsymbl-notifier`` console script (requests logged by route, not by path)."""
    run("notifier", Settings, build_app, access_log_class=RouteAccessLogger)


if __name__ == "__main__":
    main()
