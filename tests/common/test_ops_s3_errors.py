"""S3 answering what zoomsymbl's storage layer does not classify, during ``zoomsymbl forget`` and ``retention``: one
line on stderr and a defined exit code (README: "a server that does not answer ends the command with one line on
stderr, never a traceback"), whatever the minio client raised: an error answer such as ``SignatureDoesNotMatch``
(refused: exit 1) or a proxy's 5xx page that is no S3 answer (unavailable: exit 3, naming the S3 setting)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from minio.error import InvalidResponseError, S3Error, ServerError
from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import cli
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_UNAVAILABLE
from zoomsymbl_common.records import MEETINGS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_errors import StorageRefused, raise_translated

from tests.common.forget_seed import seed_meeting
from tests.common.test_ops_cli import assert_one_clear_line, zoomsymbl
from tests.common.test_ops_forget import env_for, report
from tests.common.test_ops_retention import tenants_file

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class _GatewayDown(BaseHTTPRequestHandler):
    """A load balancer in front of S3 whose backend is gone: a 502 page, not an S3 error document."""

    def _answer(self) -> None:
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = _answer  # noqa: N815 (http.server's names)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the command's output, not the server's."""


@pytest.fixture
def gateway_down() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayDown)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unclassified_s3_answer_is_one_line_not_a_traceback() -> None:
    refused = S3Error(None, "AccessDenied", "Access Denied.", "/b", "req", "host")  # type: ignore[arg-type]
    code, line, document = cli.failure(refused)
    assert code == EXIT_FAILED
    assert "AccessDenied" in line and "\n" not in line
    assert document["error"]["kind"] == "failed"
    down = ServerError("server failed with HTTP status code 502", 502)
    code, line, document = cli.failure(down)
    assert code == EXIT_UNAVAILABLE
    assert document["error"]["server"] == "s3"
    assert "ZOOMSYMBL_S3_ENDPOINT" in line


@pytest.mark.integration
@pytest.mark.parametrize("command", ["forget", "retention"])
async def test_s3_refusing_the_credentials_ends_with_one_line_and_exit_1(
    command: str, infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    await seed_meeting(mongo, store, "acme", "m1==")
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    env["ZOOMSYMBL_S3_SECRET_KEY"] = "not-the-secret-key"
    args = ["--tenant", "acme", "--meeting", "m1==", "--yes"] if command == "forget" else ["--tenant", "acme"]
    if command == "retention":  # acme keeps 30 days: make the meeting expired
        await mongo.db[MEETINGS].update_one({"meeting_uuid": "m1=="}, {"$set": {"created_at": LONG_AGO}})
    ran = await zoomsymbl(command, *args, "--json", env=env)
    assert ran.code == EXIT_FAILED, ran.err
    assert_one_clear_line(ran, f"zoomsymbl {command}:", "SignatureDoesNotMatch")
    assert "not-the-secret-key" not in ran.err + ran.out
    assert report(ran)["error"]["exit_code"] == EXIT_FAILED
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0, "nothing erased: the survey stopped first"


@pytest.mark.integration
async def test_a_gateway_page_instead_of_s3_is_exit_3_naming_the_setting(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path, gateway_down: str
) -> None:
    await seed_meeting(mongo, store, "acme", "m1==")
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    env["ZOOMSYMBL_S3_ENDPOINT"] = gateway_down
    env["ZOOMSYMBL_S3_SECURE"] = "false"
    ran = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "m1==", "--json", env=env)
    assert ran.code == EXIT_UNAVAILABLE, ran.err
    assert_one_clear_line(ran, "ZOOMSYMBL_S3_ENDPOINT")
    assert json.loads(ran.out)["error"]["server"] == "s3"


@pytest.mark.parametrize("status", [507, 520])  # statuses urllib3's retry does not turn into a MaxRetryError
def test_a_proxys_page_with_another_5xx_is_unavailable_not_refused(status: int) -> None:
    """minio raises InvalidResponseError for an answer that is not S3's XML: before, the CLI ended such an outage
    with exit 1 (refused) and a service spent its retry budget on it as an unexpected error."""
    page = InvalidResponseError(status, "text/html", "<html>Origin is unreachable</html>")
    code, line, document = cli.failure(page)
    assert code == EXIT_UNAVAILABLE and document["error"]["server"] == "s3"
    assert "ZOOMSYMBL_S3_ENDPOINT" in line
    with pytest.raises(StorageUnavailable, match=f"InvalidResponseError {status}"):
        raise_translated(page, "bucket", "key")
    refused = InvalidResponseError(403, "text/html", "<html>WAF says no</html>")
    assert cli.failure(refused)[0] == EXIT_FAILED
    with pytest.raises(StorageRefused, match="ZOOMSYMBL_S3_ENDPOINT"):  # a refusal naming what to check
        raise_translated(refused, "bucket", "key")
