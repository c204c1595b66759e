"""``zoomsymbl-web`` (or ``python -m zoomsymbl_web``): the meeting page."""

from __future__ import annotations

from zoomsymbl_common.access_log import RouteAccessLogger
from zoomsymbl_common.service import run

from zoomsymbl_web.app import build_app
from zoomsymbl_web.settings import Settings


def main() -> None:
    """Entry point of the ``zoomsymbl-web`` console script (requests logged by route: the path holds the token)."""
    run("web", Settings, build_app, access_log_class=RouteAccessLogger)


if __name__ == "__main__":
    main()
