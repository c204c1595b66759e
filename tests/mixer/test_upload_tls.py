"""S3 over HTTPS with a private CA: the store and the mixer's streamed PUT against a second, TLS-only versitygw.

The server is the project's own versitygw binary (``make infra-up`` builds it), started here by PID with
``--cert``/``--key`` on a free port and a data folder of its own; the CA and the server certificate
(127.0.0.1, localhost) are made with openssl (tests/support/tls.py).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from zoomsymbl_common.errors import ConfigError, StorageUnavailable
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from scripts import infra as infra_script
from tests.mixer.test_upload import PART, chunks, stored, streamed
from tests.support.readiness import readyz
from tests.support.tls import make_tls_material

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TlsS3:
    endpoint: str
    ca_file: Path
    other_ca_file: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_tls(port: int, ca_file: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"versitygw (TLS) exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"versitygw (TLS) did not answer on {port} within {START_TIMEOUT_S}s")


@pytest.fixture(scope="module")
def tls_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsS3]:
    """A TLS-only versitygw with the local server's credentials, stopped by its PID afterwards."""
    tls = make_tls_material(folder := tmp_path_factory.mktemp("s3-tls"))
    for sub in ("buckets", "meta"):
        (folder / sub).mkdir()
    cfg = infra_script.load_config(os.environ)
    binary = cfg.bin_dir / "versitygw"
    assert binary.is_file(), f"{binary} missing: run make infra-up (it builds versitygw)"
    port = _free_port()
    # The same credentials as the local S3 server (so the test's InfraSettings only change where and how).
    keys = InfraSettings()
    access, secret = keys.s3_access_key.get_secret_value(), keys.s3_secret_key.get_secret_value()
    env = {"PATH": os.environ.get("PATH", ""), "ROOT_ACCESS_KEY_ID": access, "ROOT_SECRET_ACCESS_KEY": secret}
    log = folder / "versitygw.log"
    command = [
        str(binary), "--port", f"127.0.0.1:{port}", "--cert", str(tls.cert_file),
        "--key", str(tls.key_file), "--quiet", "posix", "--sidecar", str(folder / "meta"),
        str(folder / "buckets"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_tls(port, tls.ca_file, process, log)
        yield TlsS3(f"127.0.0.1:{port}", tls.ca_file, tls.other_ca_file)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _settings(infra: InfraSettings, tls_s3: TlsS3, ca_file: Path) -> InfraSettings:
    # Built from scratch (not model_copy), so the start-up checks of the CA file run as in a service.
    fields = infra.model_dump() | {"s3_endpoint": tls_s3.endpoint, "s3_secure": True, "s3_ca_file": str(ca_file)}
    return InfraSettings(**fields)


async def test_a_track_goes_up_over_https_in_one_streamed_put_and_in_parts(
    infra: InfraSettings, tls_s3: TlsS3, tmp_path: Path
) -> None:
    store = ObjectStore(_settings(infra, tls_s3, tls_s3.ca_file))
    await store.ensure_bucket()
    data = os.urandom(PART * 2 + 4321)
    # One streamed, chunk-signed PUT (the size Zoom announced) ...
    assert await streamed(store, "raw/t/tls.m4a", chunks(data), tmp_path / "tls", len(data)) == len(data)
    stat = await store._call(store.client.stat_object, store.bucket, "raw/t/tls.m4a")
    assert stat.etag == hashlib.md5(data).hexdigest()  # noqa: S324 (S3's ETag: one PUT, not parts)
    assert await stored(store, "raw/t/tls.m4a") == data
    # ... and the multipart upload of a stream of unknown length.
    assert await store.put_stream("raw/t/tls-parts.m4a", chunks(data), part_size=PART) == len(data)
    assert await stored(store, "raw/t/tls-parts.m4a") == data


async def test_a_server_whose_certificate_the_trusted_cas_did_not_sign_is_refused(
    infra: InfraSettings, tls_s3: TlsS3
) -> None:
    secret = infra.s3_secret_key.get_secret_value()
    store = ObjectStore(_settings(infra, tls_s3, tls_s3.other_ca_file))
    with pytest.raises(StorageUnavailable) as refused:
        await store.ping()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert secret not in str(refused.value)
    # The operator sees why in /readyz, and which variable names the trusted CAs.
    status, body = await readyz("s3", store.ping)
    assert status == 503
    assert body["checks"]["s3"] == (
        "unavailable: StorageUnavailable (TLS: the server's certificate was refused: "
        "unable to get local issuer certificate; check ZOOMSYMBL_S3_CA_FILE)"
    )
    system_cas = _settings(infra, tls_s3, tls_s3.ca_file).model_copy(update={"s3_ca_file": ""})
    with pytest.raises(StorageUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await ObjectStore(system_cas).ping()


def test_an_unusable_or_pointless_ca_file_stops_the_start(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match="ZOOMSYMBL_S3_CA_FILE") as unreadable:
        InfraSettings(s3_secure=True, s3_ca_file=str(missing))
    assert unreadable.value.variables == ("ZOOMSYMBL_S3_CA_FILE",)
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="ZOOMSYMBL_S3_CA_FILE"):
        InfraSettings(s3_secure=True, s3_ca_file=str(tmp_path / "junk.pem"))
    with pytest.raises(ConfigError, match="ZOOMSYMBL_S3_SECURE=false uses no TLS") as plain:
        InfraSettings(s3_secure=False, s3_ca_file=str(missing))
    assert set(plain.value.variables) == {"ZOOMSYMBL_S3_CA_FILE", "ZOOMSYMBL_S3_SECURE"}
