"""What the meeting-page routes are handed at start-up (app.py): settings, tenants, readers and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.tenants import Tenants

from zoomsymbl_web.audio import AudioReader
from zoomsymbl_web.meeting import MeetingPages
from zoomsymbl_web.settings import Settings

Presign = Callable[[StoredObject, timedelta], str]


class PageMetrics:
    """Pages served by outcome, and the server time of each."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pages = Counter(
            "zoomsymbl_web_pages", "Meeting pages and downloads by outcome.", ["kind", "outcome"], registry=registry
        )
        self.seconds = Histogram(
            "zoomsymbl_web_page_seconds",
            "Server time of a meeting page.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5),
            registry=registry,
        )


@dataclass(frozen=True)
class PageDeps:
    """What the routes need: settings, tenants, the meeting reader, how the audio reaches the browser.

    With ``presign`` (S3 reachable by browsers at ``audio_public_url``) the page hands out a presigned S3
    URL and ``media`` is that origin; without, the player streams ``/m/{token}/audio`` through
    ``read_audio`` and ``media`` is ``'self'``.
    """

    settings: Settings
    tenants: Tenants
    pages: MeetingPages
    presign: Presign | None
    media: str
    metrics: PageMetrics
    read_audio: AudioReader | None = None


PAGE_DEPS = web.AppKey("page_deps", PageDeps)
