"""``python -m zoomsymbl_ingest [serve]`` runs the webhook server; ``... backfill ...`` runs one backfill."""

from __future__ import annotations

import sys

from aiohttp import web
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import setup_logging
from zoomsymbl_common.settings import load_settings
from zoomsymbl_common.telemetry import setup_tracing

from zoomsymbl_ingest.app import build_app
from zoomsymbl_ingest.cli import EXIT_USAGE, parse_args, run_backfill
from zoomsymbl_ingest.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``zoomsymbl-ingest`` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(Settings)
    except ConfigError as exc:
        print(f"zoomsymbl-ingest: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    setup_logging(settings.infra.log_level)
    if args.command == "backfill":
        sys.exit(run_backfill(settings, args))
    stop_tracing = setup_tracing("zoomsymbl-ingest")
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
        print(f"zoomsymbl-ingest: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    finally:
        stop_tracing()


if __name__ == "__main__":
    main()
