"""One streamed S3 PUT of a known size, signed chunk by chunk (SigV4 ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``).

Amazon S3 API reference, "Signature Calculations for the Authorization Header: Transferring Payload
in Multiple Chunks (Chunked Upload)":
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html. The request's headers are signed
once (the *seed* signature, with ``x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD``,
``Content-Encoding: aws-chunked``, ``x-amz-decoded-content-length`` and a ``Content-Length`` that counts
every chunk's metadata); the body is a series of chunks ``hex(size);chunk-signature=<sig>\\r\\n<data>\\r\\n``
and a final empty one, each signature chaining the previous one and the SHA-256 of the chunk's bytes. So
every byte is signed (integrity over plain HTTP too, unlike ``UNSIGNED-PAYLOAD``), and the body can be
sent while it is still being produced: the mixer sends a raw track to S3 as it downloads it, in one
request, instead of a multipart upload (which some servers, versitygw's posix backend among them, copy
a second time when it completes). AWS S3, MinIO, Ceph RGW and versitygw accept it; AWS SDKs use it for
streamed uploads. S3 takes at most 5 GiB in one PUT.

The example of that page (a 66,560-byte object in 64 KiB chunks) is this module's test vector.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import SplitResult

from minio.credentials.credentials import Credentials
from minio.helpers import DictType
from minio.signer import sign_v4_s3

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
MAX_SINGLE_PUT_BYTES = 5 << 30  # S3's limit for one PUT
MIN_CHUNK_BYTES = 8 << 10  # every chunk but the last (the page above)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SIGNATURE = ";chunk-signature="
_SIGNATURE_HEX = 64


def encoded_length(size: int, chunk: int) -> int:
    """The ``Content-Length`` of ``size`` bytes in ``chunk``-byte chunks (the last shorter) and the final empty one."""
    if chunk < MIN_CHUNK_BYTES:
        raise ValueError(f"chunks of at least {MIN_CHUNK_BYTES} bytes")
    full, last = divmod(size, chunk)
    return full * _frame_length(chunk) + (_frame_length(last) if last else 0) + _frame_length(0)


def _frame_length(data: int) -> int:
    return len(f"{data:x}") + len(_SIGNATURE) + _SIGNATURE_HEX + 2 + data + 2


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: datetime, region: str, service: str = "s3") -> bytes:
    """SigV4's key for one day, region and service."""
    key = _hmac(("AWS4" + secret_key).encode(), date.strftime("%Y%m%d"))
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def signed_headers(
    url: SplitResult,
    *,
    region: str,
    credentials: Credentials,
    size: int,
    chunk: int,
    date: datetime,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The PUT's headers with ``Authorization`` (the seed signature), for ``size`` bytes in ``chunk``-byte chunks."""
    headers: DictType = {
        "Host": url.netloc,
        **(extra or {}),
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(encoded_length(size, chunk)),
        "x-amz-content-sha256": STREAMING,
        "x-amz-date": date.strftime("%Y%m%dT%H%M%SZ"),
        "x-amz-decoded-content-length": str(size),
    }
    if credentials.session_token:
        headers["X-Amz-Security-Token"] = credentials.session_token
    signed = sign_v4_s3(
        method="PUT",
        url=url,
        region=region,
        headers=headers,
        credentials=credentials,
        content_sha256=STREAMING,
        date=date,
    )
    return {name: value for name, value in signed.items() if isinstance(value, str)}


def seed_signature(headers: Mapping[str, str]) -> str:
    """The signature of the headers (``Authorization``'s), which the first chunk's signature chains."""
    return headers["Authorization"].rsplit("Signature=", 1)[1].strip()


class ChunkSigner:
    """Signs the chunks of one request in order: each signature covers the previous one."""

    def __init__(self, *, secret_key: str, region: str, date: datetime, seed: str, service: str = "s3") -> None:
        self._key = signing_key(secret_key, date, region, service)
        self._prefix = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                date.strftime("%Y%m%dT%H%M%SZ"),
                f"{date:%Y%m%d}/{region}/{service}/aws4_request",
            )
        )
        self.previous = seed

    def header(self, data: bytes) -> bytes:
        """The metadata line that goes before ``data`` (``b""`` for the final chunk); the data follows, then CRLF."""
        digest = hashlib.sha256(data).hexdigest()
        to_sign = f"{self._prefix}\n{self.previous}\n{_EMPTY_SHA256}\n{digest}"
        self.previous = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{len(data):x}{_SIGNATURE}{self.previous}\r\n".encode()
