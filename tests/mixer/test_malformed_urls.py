"""A download URL that is no URL (a port that is no number, an unclosed IPv6 bracket) is refused, not retried.

The event model takes any string as ``download_url``; yarl checks the port and the brackets only when they are read.
Before, the fetcher raised ``ValueError``: the consumer took it for a bug, retried the whole meeting for its attempt
budget and dead-lettered it as "unexpected ValueError", and a Zoom transcript file with such a URL cost the meeting
its audio mix (a transcript refused costs only itself). A redirect to such a Location is refused the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_mixer.credentials import Bearer, Credentials
from zoomsymbl_mixer.download import DownloadPolicy, Fetcher
from zoomsymbl_mixer.download_token import DownloadToken
from zoomsymbl_mixer.errors import DownloadRefused
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy
from zoomsymbl_mixer.transcripts import TranscriptLoader

from tests.mixer.conftest import Rig
from tests.mixer.test_credentials import OAUTH, FakeApi

MALFORMED = (
    "https://zoom.us:abc/rec/download/x",
    "https://zoom.us:99999/rec/download/x",
    "https://[::1/rec/download/x",
    "https://zoom.us:abc/rec/download/x?type=audio",
)
ZOOM = HostPolicy(("zoom.us",), allow_private=False)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=True))
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_download_url_is_refused(session: aiohttp.ClientSession, url: str) -> None:
    fetcher = Fetcher(session, ZOOM, DownloadPolicy(base_delay=0.01, max_delay=0.02))
    with pytest.raises(DownloadRefused) as refused:
        async for _ in fetcher.stream("a", url, SecretStr("secret-token"), 10):
            pass
    assert "malformed" in str(refused.value) and "secret-token" not in str(refused.value)


async def test_a_redirect_to_a_malformed_location_is_refused(session: aiohttp.ClientSession) -> None:
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "https://[::1/cdn/file?Signature=abc"})

    app = web.Application()
    app.router.add_get("/rec", moved)
    async with TestServer(app, host="127.0.0.1") as server:
        fetcher = Fetcher(session, HostPolicy(("127.0.0.1",), allow_private=True), DownloadPolicy(base_delay=0.01))
        with pytest.raises(DownloadRefused) as refused:
            async for _ in fetcher.stream("a", str(server.make_url("/rec")), SecretStr("secret-token"), 10):
                pass
    assert "Signature" not in str(refused.value)


async def test_a_phone_recording_with_a_malformed_url_is_refused() -> None:
    credentials = Credentials(OAUTH, "phone:c1", None, FakeApi(), phone=True)
    for url in MALFORMED:
        with pytest.raises(DownloadRefused):
            await credentials.url_for("r1", url, Bearer(SecretStr("oauth-token"), "oauth"))


@pytest.mark.integration
async def test_a_transcript_with_a_malformed_url_costs_only_itself(rig: Rig, session: aiohttp.ClientSession) -> None:
    file = RecordingFile(file_id="t1", file_type="TRANSCRIPT", file_extension="VTT", download_url=MALFORMED[0])
    credentials = Credentials(rig.tenant, "m1", DownloadToken(SecretStr("secret-token"), None), None)
    loader = TranscriptLoader(rig.store, Fetcher(session, ZOOM), credentials)

    assert await loader.store_all(rig.tenant.id, "m1", (file,)) == ((), ())
