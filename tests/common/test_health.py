"""``/readyz``: what a failing check says, and that a refused certificate is told apart from a down server."""

from __future__ import annotations

import ssl

from zoomsymbl_common.errors import MongoUnavailable, StorageUnavailable

from tests.support.readiness import readyz


async def test_a_down_server_is_named_by_its_error_type_only() -> None:
    async def down() -> None:
        raise MongoUnavailable("mongodb://zoomsymbl:hunter2@10.0.0.9:27017 connection refused")

    status, body = await readyz("mongo", down)
    assert (status, body) == (503, {"status": "not ready", "checks": {"mongo": "unavailable: MongoUnavailable"}})


async def test_a_certificate_for_another_host_is_named_with_openssl_s_reason() -> None:
    refused = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    refused.verify_message = "Hostname mismatch, certificate is not valid for 's3.internal'"

    async def wrong_host() -> None:
        try:
            raise refused
        except ssl.SSLError as exc:
            raise StorageUnavailable("SSLError: (credentials in the URL?)") from exc

    status, body = await readyz("s3", wrong_host)
    assert status == 503
    assert body["checks"]["s3"] == (
        "unavailable: StorageUnavailable (TLS: the server's certificate was refused: "
        "Hostname mismatch, certificate is not valid for 's3.internal'; check ZOOMSYMBL_S3_CA_FILE)"
    )
    assert "credentials" not in str(body)


async def test_a_check_that_is_only_reported_leaves_the_service_ready_and_says_degraded() -> None:
    async def up() -> None:
        return None

    async def down() -> None:
        raise MongoUnavailable("connection refused")

    status, body = await readyz("kafka", up, ("mongo", down, False))
    assert (status, body["status"], body["checks"]["mongo"]) == (200, "degraded", "unavailable: MongoUnavailable")
    status, body = await readyz("kafka", down, ("mongo", up, False))
    assert (status, body["status"]) == (503, "not ready"), "a required check still decides"
    status, body = await readyz("kafka", up, ("mongo", up, False))
    assert (status, body["status"]) == (200, "ready")
