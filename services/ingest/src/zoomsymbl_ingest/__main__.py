"""``python -m zoomsymbl_ingest [serve]`` runs the webhook server (a backfill is ``zoomsymbl backfill``)."""

from __future__ import annotations

import sys

import uvloop
from zoomsymbl_common.service import load_or_exit, serve

from zoomsymbl_ingest.app import build_app
from zoomsymbl_ingest.cli import parse_args
from zoomsymbl_ingest.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``zoomsymbl-ingest`` console script."""
    parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_or_exit("ingest", Settings)
    # uvloop: more webhooks a second from the same code (issue 21, docs/performance.md).
    serve("ingest", settings, build_app, loop_factory=uvloop.new_event_loop)


if __name__ == "__main__":
    main()
