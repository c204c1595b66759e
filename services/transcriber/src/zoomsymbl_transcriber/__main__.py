"""``zoomsymbl-transcriber`` (or ``python -m zoomsymbl_transcriber``): the whisper job consumer plus health routes."""

from __future__ import annotations

from zoomsymbl_common.service import run

from zoomsymbl_transcriber.app import build_app
from zoomsymbl_transcriber.settings import Settings


def main() -> None:
    """Entry point of the ``zoomsymbl-transcriber`` console script."""
    run("transcriber", Settings, build_app)


if __name__ == "__main__":
    main()
