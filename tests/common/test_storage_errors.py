"""S3 error answers: refused keys, names and sizes are poison; server errors and throttling are retryable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from minio.error import S3Error
from urllib3 import HTTPResponse
from zoomsymbl_common.errors import ObjectNotFound, ObjectRejected, PoisonInputError, RetryableError, StorageUnavailable
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_errors import translate_s3_error

KEY = "raw/acme/bWVldGluZw/f1.m4a"


def answer(status: int, code: str, message: str = "refused") -> S3Error:
    return S3Error(HTTPResponse(status=status), code, message, f"/bucket/{KEY}", "req-1", "host-1")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "KeyTooLongError"),
        (400, "InvalidArgument"),
        (400, "InvalidObjectName"),
        (400, "XMinioInvalidObjectName"),
        (400, "EntityTooLarge"),
        (409, "ExistingObjectIsDirectory"),
        (409, "ObjectParentIsFile"),
    ],
)
def test_a_refused_key_name_or_size_is_poison(status: int, code: str) -> None:
    error = translate_s3_error(answer(status, code, "Your key is too long."), "bucket", KEY)
    assert isinstance(error, ObjectRejected) and isinstance(error, PoisonInputError)
    assert (error.stage, error.code, error.key, error.bucket) == ("storage", code, KEY, "bucket")
    assert code in error.reason and repr(KEY) in error.reason and "'Your key is too long.'" in error.reason


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable"), (400, "RequestTimeout"), (502, "")],
)
def test_server_errors_and_throttling_stay_retryable(status: int, code: str) -> None:
    error = translate_s3_error(answer(status, code), "bucket", KEY)
    assert isinstance(error, StorageUnavailable) and isinstance(error, RetryableError)


def test_a_refusal_code_in_a_server_error_is_not_trusted_as_poison() -> None:
    assert isinstance(translate_s3_error(answer(500, "InvalidArgument"), "bucket", KEY), StorageUnavailable)


def test_a_missing_object_is_not_found() -> None:
    error = translate_s3_error(answer(404, "NoSuchKey"), "bucket", KEY)
    assert isinstance(error, ObjectNotFound) and error.key == KEY


@pytest.mark.parametrize("code", ["AccessDenied", "BucketAlreadyOwnedByYou", "NoSuchBucket"])
def test_other_answers_are_left_to_the_caller(code: str) -> None:
    assert translate_s3_error(answer(403 if code == "AccessDenied" else 409, code), "bucket", KEY) is None


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"audio"


@pytest.mark.integration
async def test_the_local_server_refusing_an_overlong_segment_is_poison(store: ObjectStore) -> None:
    """versitygw answers 409 when the long segment would be a directory and 400 when it is the file name."""
    for key in ("raw/acme/" + "k" * 300 + "/f1.m4a", "raw/acme/" + "k" * 300):
        with pytest.raises(ObjectRejected) as caught:
            await store.put_stream(key, one_chunk())
        assert caught.value.key == key
