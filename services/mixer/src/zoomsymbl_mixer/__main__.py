"""``zoomsymbl-mixer`` (or ``python -m zoomsymbl_mixer``): the shared service skeleton around the mixer's app."""

from __future__ import annotations

from zoomsymbl_common.service import run

from zoomsymbl_mixer.app import build_app
from zoomsymbl_mixer.settings import Settings


def main() -> None:
    """Entry point of the ``zoomsymbl-mixer`` console script."""
    run("mixer", Settings, build_app)


if __name__ == "__main__":
    main()
