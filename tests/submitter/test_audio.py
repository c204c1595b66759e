"""Where providers get the audio: a stream from S3, or a presigned URL on the public endpoint only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AnyHttpUrl
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.logs import redact
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter.audio import AudioSource


def test_no_public_endpoint_means_no_url() -> None:
    audio = AudioSource(InfraSettings())
    assert audio.presigned_url("bucket", "mixed/acme/x.flac") is None
    assert audio.path == "upload"


def test_a_public_endpoint_means_the_url_path() -> None:
    audio = AudioSource(InfraSettings(), public_endpoint=AnyHttpUrl("https://s3.example.com"))
    assert audio.path == "url"
    assert audio.presigned_url("bucket", "mixed/acme/x.flac") is not None


@pytest.mark.parametrize(
    ("endpoint", "prefix"),
    [
        ("https://s3.example.com", "https://s3.example.com/bucket/mixed/acme/x.flac?"),
        ("http://files.example.com:9000", "http://files.example.com:9000/bucket/mixed/acme/x.flac?"),
    ],
)
def test_the_url_points_at_the_public_endpoint_and_is_never_logged(endpoint: str, prefix: str) -> None:
    audio = AudioSource(InfraSettings(), public_endpoint=AnyHttpUrl(endpoint))
    url = audio.presigned_url("bucket", "mixed/acme/x.flac")
    assert url is not None
    assert url.get_secret_value().startswith(prefix)
    assert "X-Amz-Signature" in url.get_secret_value()
    assert url.get_secret_value() not in redact(f"submitting {url.get_secret_value()}")


@pytest.mark.integration
async def test_the_stream_reopens_for_every_attempt(infra: InfraSettings, store: ObjectStore) -> None:
    await store.put_file("mixed/acme/a.flac", __file__)
    audio = AudioSource(infra)
    opener = audio.opener(infra.s3_bucket, "mixed/acme/a.flac")
    first = b"".join([chunk async for chunk in opener()])
    second = b"".join([chunk async for chunk in opener()])
    assert first == second == Path(__file__).read_bytes()
    assert await audio.size(infra.s3_bucket, "mixed/acme/a.flac") == len(first)


@pytest.mark.integration
async def test_a_missing_mixed_file_is_poison(infra: InfraSettings, store: ObjectStore) -> None:
    with pytest.raises(PoisonInputError, match="not found"):
        await AudioSource(infra).size(infra.s3_bucket, "mixed/acme/gone.flac")
