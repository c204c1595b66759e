"""MongoDB over TLS with a private CA (``ZOOMSYMBL_MONGO_CA_FILE``).

The local FerretDB speaks plain TCP, so a TLS-terminating proxy (Python's ``ssl``, a server certificate
for 127.0.0.1 signed by a CA made with openssl as the secured Kafka's is) stands in front of it: MongoDB's
TLS is plain TLS from the first byte, so the client's side — the CA it trusts, the certificate and host
checks — is exercised exactly as against a TLS MongoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import ConfigError, MongoUnavailable
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.settings import InfraSettings

from tests.support.readiness import readyz
from tests.support.tls import TlsMaterial, make_tls_material

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
PASSWORD = "mongo-pass-0f3c9d"  # a test value that must never show


@dataclass
class TlsProxy:
    port: int
    ca_file: Path
    other_ca_file: Path
    handshakes: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("mongo-tls"))


@pytest.fixture
async def proxy(tls_material: TlsMaterial, infra: InfraSettings) -> AsyncIterator[TlsProxy]:
    """TLS on a free port, forwarded to the local MongoDB-wire server."""
    upstream = urlsplit(infra.mongo_uri.get_secret_value())
    host, port = upstream.hostname or "127.0.0.1", upstream.port or 27017
    context = tls_material.server_context()
    state = TlsProxy(0, tls_material.ca_file, tls_material.other_ca_file)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        state.handshakes += 1  # the handler runs only once the TLS handshake succeeded
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(serve(reader, writer))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0, ssl=context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)


def _settings(infra: InfraSettings, uri: str, ca_file: Path | str, timeout_ms: int = 2000) -> InfraSettings:
    # Built from scratch (not model_copy), so the start-up checks of the CA file run as in a service.
    fields = infra.model_dump() | {"mongo_uri": SecretStr(uri), "mongo_ca_file": str(ca_file)}
    return InfraSettings(**fields | {"mongo_timeout_ms": timeout_ms})


async def test_documents_go_through_tls_checked_against_the_private_ca(infra: InfraSettings, proxy: TlsProxy) -> None:
    mongo = make_mongo(_settings(infra, f"mongodb://127.0.0.1:{proxy.port}/", proxy.ca_file))
    try:
        await mongo.db["tls_check"].insert_one({"_id": "a", "over": "tls"})
        assert await mongo.db["tls_check"].find_one({"_id": "a"}) == {"_id": "a", "over": "tls"}
    finally:
        await mongo.client.drop_database(mongo.db.name)
        await mongo.close()
    assert proxy.handshakes >= 1


async def test_a_server_certificate_the_trusted_ca_did_not_sign_is_refused(
    infra: InfraSettings, proxy: TlsProxy
) -> None:
    uri = f"mongodb://zoomsymbl:{PASSWORD}@127.0.0.1:{proxy.port}/"
    mongo = make_mongo(_settings(infra, uri, proxy.other_ca_file, timeout_ms=800))
    try:
        with pytest.raises(MongoUnavailable) as refused:
            await mongo.ping()
        status, body = await readyz("mongo", mongo.ping)  # what the operator sees
    finally:
        await mongo.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value.__cause__)
    assert PASSWORD not in str(refused.value) + str(refused.value.__cause__)
    assert proxy.handshakes == 0
    assert status == 503
    assert body["checks"]["mongo"] == (
        "unavailable: MongoUnavailable (TLS: the server's certificate was refused: "
        "unable to get local issuer certificate; check ZOOMSYMBL_MONGO_CA_FILE)"
    )
    assert PASSWORD not in str(body)


def test_tls_switched_off_beside_a_ca_file_or_an_unusable_ca_file_stops_the_start(
    infra: InfraSettings, tls_material: TlsMaterial, tmp_path: Path
) -> None:
    uri = f"mongodb://zoomsymbl:{PASSWORD}@127.0.0.1:1/?tls=false"
    with pytest.raises(ConfigError) as contradicting:
        make_mongo(_settings(infra, uri, tls_material.ca_file))
    assert contradicting.value.variables == ("ZOOMSYMBL_MONGO_URI", "ZOOMSYMBL_MONGO_CA_FILE")
    assert "tls" in str(contradicting.value).lower()
    assert PASSWORD not in str(contradicting.value)
    with pytest.raises(ConfigError, match="ZOOMSYMBL_MONGO_CA_FILE") as unreadable:
        _settings(infra, "mongodb://127.0.0.1:1/", tmp_path / "missing.pem")
    assert unreadable.value.variables == ("ZOOMSYMBL_MONGO_CA_FILE",)
