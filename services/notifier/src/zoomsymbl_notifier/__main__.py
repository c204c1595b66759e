"""Run the notifier: ``python -m zoomsymbl_notifier`` or ``zoomsymbl-notifier``."""

from __future__ import annotations

import sys

from aiohttp import web
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import setup_logging
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.telemetry import setup_tracing

from zoomsymbl_notifier.access_log import RouteAccessLogger
from zoomsymbl_notifier.app import build_app
from zoomsymbl_notifier.settings import Settings


def main() -> None:
    """Wire settings, logging and tracing, then serve until SIGTERM."""
    try:
        settings = load_settings(Settings)
    except ConfigError as exc:
        print(f"zoomsymbl-notifier: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(settings.infra.log_level, service="zoomsymbl")
    stop_tracing = setup_tracing("zoomsymbl-notifier")
    try:
        app = build_app(settings)
        web.run_app(
            app,
            host=settings.http_host,
            port=settings.http_port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            access_log_class=RouteAccessLogger,
            print=None,
        )
    except ConfigError as exc:
        print(f"zoomsymbl-notifier: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        stop_tracing()


if __name__ == "__main__":
    main()
