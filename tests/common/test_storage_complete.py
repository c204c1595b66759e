"""A multipart upload whose completion fails after S3 answered 200 is not acknowledged (no server needed).

MinIO (and S3) answer a CompleteMultipartUpload that takes a while with 200 at once and spaces to keep the
connection; a completion that then fails ends the answer with an ``<Error>`` document. minio read that as the
completed upload: ``put_stream`` returned its byte count for an object that was never written.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from minio.datatypes import Part
from minio.error import S3Error
from zoomsymbl_common.errors import ObjectRejected, StorageUnavailable, UploadAborted
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import MIN_PART_SIZE, ObjectStore

KEY = "mixed/acme/bWVldGluZw.mix-0123456789ab.opus"


class _SlowCompletion(BaseHTTPRequestHandler):
    """Just enough of S3 for one multipart upload; the completion answers 200, spaces, then ``server.completion``."""

    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "uploads" in query:
            body = b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId>"
            self._send(200, body + b"</InitiateMultipartUploadResult>", {"Content-Type": "application/xml"})
            return
        self.server.completions += 1  # type: ignore[attr-defined]
        self._send(200, b" " * 64 + self.server.completion, {"Content-Type": "text/event-stream"})  # type: ignore[attr-defined]

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, headers={"ETag": '"5d41402abc4b2a76b9719d911017c592"'})

    def do_DELETE(self) -> None:  # the upload's abort
        self.server.aborts += 1  # type: ignore[attr-defined]
        self._send(204)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def fake_s3() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowCompletion)
    server.completions = server.aborts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _store(server: ThreadingHTTPServer) -> ObjectStore:
    endpoint = f"127.0.0.1:{server.server_address[1]}"
    return ObjectStore(InfraSettings().model_copy(update={"s3_endpoint": endpoint, "s3_secure": False}), bucket="bkt")


async def _two_parts() -> AsyncIterator[bytes]:
    for _ in range(MIN_PART_SIZE // (1 << 20)):
        yield b"\0" * (1 << 20)
    yield b"end"


def _error(code: str) -> bytes:
    return (
        f"<Error><Code>{code}</Code><Message>failed</Message><Key>{KEY}</Key><BucketName>bkt</BucketName>"
        "<Resource>/bkt/k</Resource><RequestId>r1</RequestId><HostId>h1</HostId></Error>"
    ).encode()


async def test_a_completed_upload_returns_its_size(fake_s3: ThreadingHTTPServer) -> None:
    # As MinIO ends a successful answer it started with spaces: the document without an XML declaration.
    fake_s3.completion = (  # type: ignore[attr-defined]
        b"<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>&quot;abc-2&quot;</ETag>"
        b"</CompleteMultipartUploadResult>"
    )
    assert await _store(fake_s3).put_stream(KEY, _two_parts(), part_size=MIN_PART_SIZE) == MIN_PART_SIZE + 3
    assert fake_s3.completions == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", ["InternalError", "XMinioWriteQuorum", "SlowDown"])
async def test_a_completion_failing_after_200_is_storage_unavailable(fake_s3: ThreadingHTTPServer, code: str) -> None:
    fake_s3.completion = _error(code)  # type: ignore[attr-defined]
    with pytest.raises(StorageUnavailable) as caught:
        await _store(fake_s3).put_stream(KEY, _two_parts(), part_size=MIN_PART_SIZE)
    assert isinstance(caught.value.__cause__, S3Error) and caught.value.__cause__.code == code
    assert fake_s3.completions == 1 and fake_s3.aborts == 1  # type: ignore[attr-defined]


async def test_a_completion_refused_after_200_is_what_the_code_says(fake_s3: ThreadingHTTPServer) -> None:
    fake_s3.completion = b'<?xml version="1.0" encoding="UTF-8"?>\n' + _error("EntityTooSmall")  # type: ignore[attr-defined]
    with pytest.raises(ObjectRejected):
        await _store(fake_s3).put_stream(KEY, _two_parts(), part_size=MIN_PART_SIZE)
    fake_s3.completion = _error("NoSuchUpload")  # type: ignore[attr-defined]
    with pytest.raises(UploadAborted, match="NoSuchUpload"):  # aborted under us (forget): retryable, a new upload
        await _store(fake_s3).put_stream(KEY, _two_parts(), part_size=MIN_PART_SIZE)


async def test_the_mixers_own_completion_raises_the_error_too(fake_s3: ThreadingHTTPServer) -> None:
    """The mixer completes its parallel multipart uploads with the store's client (``zoomsymbl_mixer.multipart``)."""
    fake_s3.completion = _error("XMinioWriteQuorum")  # type: ignore[attr-defined]
    client = _store(fake_s3).client
    with pytest.raises(S3Error, match="XMinioWriteQuorum"):
        await asyncio.to_thread(client._complete_multipart_upload, "bkt", KEY, "u1", [Part(1, "5d41402abc4b2a76")])
