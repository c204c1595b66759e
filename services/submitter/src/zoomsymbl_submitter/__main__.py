"""``zoomsymbl-submitter`` (or ``python -m zoomsymbl_submitter``): the ``audio.mixed.v1`` consumer."""

from __future__ import annotations

from zoomsymbl_common.service import run

from zoomsymbl_submitter.app import build_app
from zoomsymbl_submitter.settings import Settings


def main() -> None:
    """Entry point of the ``zoomsymbl-submitter`` console script."""
    run("submitter", Settings, build_app)


if __name__ == "__main__":
    main()
