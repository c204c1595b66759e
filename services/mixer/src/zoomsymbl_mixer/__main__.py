"""``zoomsymbl-mixer``: settings → logging → tracing → app → serve until SIGTERM."""

from __future__ import annotations

import sys

from aiohttp import web
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import setup_logging
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.telemetry import setup_tracing

from zoomsymbl_mixer.app import build_app
from zoomsymbl_mixer.settings import Settings


def main() -> None:
    """Run the mixer service."""
    try:
        settings = load_settings(Settings)
    except ConfigError as exc:
        print(f"zoomsymbl-mixer: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging(settings.infra.log_level, "zoomsymbl")
    stop_tracing = setup_tracing("zoomsymbl-mixer")
    try:
        web.run_app(
            build_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            access_log=None,
            print=None,
        )
    finally:
        stop_tracing()


if __name__ == "__main__":
    main()
