"""``python -m zoomsymbl_transcriber`` runs the transcriber: the whisper job consumer plus health routes."""

from __future__ import annotations

import sys

from aiohttp import web
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import setup_logging
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.telemetry import setup_tracing

from zoomsymbl_transcriber.app import build_app
from zoomsymbl_transcriber.settings import Settings

EXIT_CONFIG = 2


def main() -> None:
    """Entry point of the ``zoomsymbl-transcriber`` console script."""
    try:
        settings = load_settings(Settings)
    except ConfigError as exc:
        print(f"zoomsymbl-transcriber: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    setup_logging(settings.infra.log_level)
    stop_tracing = setup_tracing("zoomsymbl-transcriber")
    try:
        web.run_app(
            build_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            access_log=None,
            print=None,
        )
    except ConfigError as exc:
        print(f"zoomsymbl-transcriber: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    finally:
        stop_tracing()


if __name__ == "__main__":
    main()
