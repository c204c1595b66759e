"""The web service's aiohttp application: the meeting page over MongoDB, audio signed for S3.

Resources open in one cleanup context each, in order (tenants, MongoDB, the page's dependencies) and
close in reverse; the shared parts come from :mod:`zoomsymbl_common.service`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from zoomsymbl_common.health import METRICS_REGISTRY, add_readiness_check
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.service import MONGO, TENANTS, mongo_context, new_app, tenants_context
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import Tenants

from zoomsymbl_web.audio import s3_reader
from zoomsymbl_web.headers import media_origin
from zoomsymbl_web.meeting import MeetingPages
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings

SERVICE = "web"
SETTINGS = web.AppKey("settings", Settings)


def build_app(settings: Settings, tenants: Tenants | None = None) -> web.Application:
    """The web service, ready for ``web.run_app``; ``tenants`` defaults to :func:`load_tenants` at start-up."""
    register_secret(settings.page_key.get_secret_value())
    register_secret(settings.page_key_previous.get_secret_value())
    app = new_app(SERVICE, settings.infra)
    app[SETTINGS] = settings
    add_page_routes(app)
    # The web service only reads: the writers create the indexes.
    app.cleanup_ctx.extend([tenants_context(tenants), mongo_context(indexes=False), _pages])
    return app


def signer(settings: Settings) -> ObjectStore:
    """The client that signs audio URLs: for the public S3 address when one is set (signing makes no request)."""
    infra = settings.infra
    public = settings.audio_public_url
    if public:
        scheme, _, host = public.partition("://")
        infra = infra.model_copy(update={"s3_endpoint": host, "s3_secure": scheme == "https"})
    return ObjectStore(infra)


async def _pages(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = ObjectStore(settings.infra)
    signing = signer(settings)
    add_readiness_check(app, "s3", store.ping)

    def presign(obj: StoredObject, expires: timedelta) -> str:
        url: str = signing.client.presigned_get_object(obj.bucket, obj.key, expires=expires)
        register_secret(url, ttl=expires)
        return url

    # Browsers reach S3 only where audio_public_url says so; otherwise the page streams the audio itself.
    public = bool(settings.audio_public_url)
    app[PAGE_DEPS] = PageDeps(
        settings=settings,
        tenants=app[TENANTS],
        pages=MeetingPages(app[MONGO], cache_size=settings.page_cache_size),
        presign=presign if public else None,
        media=media_origin(settings.infra, settings.audio_public_url) if public else "'self'",
        metrics=PageMetrics(app[METRICS_REGISTRY]),
        read_audio=None if public else s3_reader(store),
    )
    yield
