"""The chunk-signed streaming PUT against the worked example of AWS's SigV4 streaming page (its test vector)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from minio.credentials.credentials import Credentials
from zoomsymbl_common.s3_chunked import ChunkSigner, encoded_length, seed_signature, signed_headers

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html, "Example: PUT Object" (AWS's own example keys).
ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = datetime(2013, 5, 24, tzinfo=UTC)
SIZE, CHUNK = 66_560, 64 * 1024
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def example_headers() -> dict[str, str]:
    url = urlsplit("https://s3.amazonaws.com/examplebucket/chunkObject.txt")
    return signed_headers(
        url,
        region="us-east-1",
        credentials=Credentials(ACCESS, SECRET),
        size=SIZE,
        chunk=CHUNK,
        date=DATE,
        extra={"x-amz-storage-class": "REDUCED_REDUNDANCY"},
    )


def test_the_headers_and_seed_signature_are_those_of_the_example() -> None:
    headers = example_headers()
    assert headers["Content-Length"] == "66824"
    assert headers["x-amz-decoded-content-length"] == "66560"
    assert headers["Content-Encoding"] == "aws-chunked"
    assert seed_signature(headers) == SEED
    assert headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/20130524/us-east-1/s3/aws4_request"
    )


def test_each_chunk_signature_chains_the_previous_one_as_in_the_example() -> None:
    signer = ChunkSigner(secret_key=SECRET, region="us-east-1", date=DATE, seed=SEED)
    body = b"a" * SIZE
    frames = [body[:CHUNK], body[CHUNK:], b""]
    headers = [signer.header(frame) for frame in frames]
    assert [h.split(b"=")[1].strip().decode() for h in headers] == CHUNK_SIGNATURES
    assert headers[0] == b"10000;chunk-signature=" + CHUNK_SIGNATURES[0].encode() + b"\r\n"
    assert headers[1].startswith(b"400;chunk-signature=")
    wire = b"".join(h + f + b"\r\n" for h, f in zip(headers, frames, strict=True))
    assert len(wire) == 66_824 == encoded_length(SIZE, CHUNK)


@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 65_535, 65_536, 65_537, 3 * 65_536, 5 << 20])
def test_the_announced_length_is_the_length_sent(size: int) -> None:
    signer = ChunkSigner(secret_key=SECRET, region="us-east-1", date=DATE, seed=SEED)
    frames = [size_ for size_ in [CHUNK] * (size // CHUNK) + ([size % CHUNK] if size % CHUNK else []) + [0]]
    sent = sum(len(signer.header(b"x" * n)) + n + 2 for n in frames)
    assert encoded_length(size, CHUNK) == sent


def test_chunks_below_the_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        encoded_length(100, 4096)
