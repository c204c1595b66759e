"""Command line of ``zoomsymbl-ingest`` (``python -m zoomsymbl_ingest``): the webhook server.

A backfill is a subcommand of the operator command, ``zoomsymbl backfill``
(:mod:`zoomsymbl_ingest.backfill_command`).
"""

from __future__ import annotations

import argparse


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``[serve]``: run the webhook HTTP server (the default and only command)."""
    parser = argparse.ArgumentParser(
        prog="zoomsymbl-ingest",
        description="Zoom webhooks → Kafka.",
        epilog="A backfill from Zoom's recordings API is `zoomsymbl backfill` (see `zoomsymbl backfill --help`).",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the webhook HTTP server (default)")
    args = parser.parse_args(argv)
    args.command = args.command or "serve"
    return args
