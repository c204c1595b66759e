"""The unfinished multipart uploads ``forget`` lists page by page (ListMultipartUploads) and aborts.

A page may end inside one key's uploads; the next begins after the upload the page names (``NextKeyMarker`` and
``NextUploadIdMarker``). Sent without ``upload-id-marker``, S3 lists only the keys after the marker's: the rest of
that key's uploads (a mixer that died several times uploading one participant's track) were never aborted, while
forget reported success. The fake server below pages as S3 documents it; the real one (versitygw, which refuses its
own markers there) in test_ops_forget_uploads.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from minio import Minio
from minio.error import S3Error
from urllib3 import HTTPResponse
from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.ops.forget_objects import count, delete
from zoomsymbl_common.storage import ObjectStore

PREFIX = "raw/acme/YWJj/"
NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def upload(key: str, upload_id: str) -> str:
    return (
        f"<Upload><Key>{key}</Key><UploadId>{upload_id}</UploadId><Initiated>2026-12-05T15:48:40Z</Initiated></Upload>"
    )


def answer(entries: list[tuple[str, str]], *, truncated: bool, next_key: str = "", next_upload: str = "") -> bytes:
    tail = f"<NextKeyMarker>{next_key}</NextKeyMarker><NextUploadIdMarker>{next_upload}</NextUploadIdMarker>"
    body = "".join(upload(key, upload_id) for key, upload_id in entries)
    head = f"<ListMultipartUploadsResult{NS}><IsTruncated>{str(truncated).lower()}</IsTruncated>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{head}{body}{tail}</ListMultipartUploadsResult>'.encode()


@dataclass
class Answer:
    data: bytes


@dataclass
class Server:
    """An S3 bucket's unfinished uploads, listed as S3 lists them: after ``key-marker``, or after the upload
    ``key-marker`` and ``upload-id-marker`` name together; at most ``page`` uploads an answer (a server may return
    fewer than ``max-uploads``). Records every listing's query and every abort."""

    uploads: list[tuple[str, str]]
    page: int = 2
    asked: list[dict[str, str]] = field(default_factory=list)
    aborted: list[tuple[str, str]] = field(default_factory=list)
    refusal: S3Error | None = None

    def _execute(self, method: str, bucket: str, *, query_params: dict[str, str], **_: Any) -> Answer:
        assert (method, bucket, query_params.get("uploads")) == ("GET", "bucket", "")
        self.asked.append(dict(query_params))
        if self.refusal is not None:
            raise self.refusal
        key, upload_id = query_params.get("key-marker", ""), query_params.get("upload-id-marker", "")
        after = [u for u in sorted(self.uploads) if u[0] > key or (upload_id and u[0] == key and u[1] > upload_id)]
        shown = after[: min(self.page, int(query_params["max-uploads"]))]
        if len(shown) == len(after):
            return Answer(answer(shown, truncated=False))
        return Answer(answer(shown, truncated=True, next_key=shown[-1][0], next_upload=shown[-1][1]))

    def _list_multipart_uploads(self, bucket: str, **kwargs: Any) -> Any:
        """minio-py's own call (which reads this server's ``_execute``): how the listing was read before."""
        return Minio._list_multipart_uploads(cast(Minio, self), bucket, **kwargs)

    def _abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.aborted.append((key, upload_id))
        self.uploads.remove((key, upload_id))

    def get_bucket_versioning(self, bucket: str) -> Any:
        return type("Versioning", (), {"status": None})()

    def list_objects(self, bucket: str, **_: Any) -> list[Any]:
        return []


def on(server: Server) -> ObjectStore:
    return cast(ObjectStore, type("Store", (), {"client": server, "bucket": "bucket"})())


KEY_A, KEY_B = f"{PREFIX}track-1.m4a", f"{PREFIX}track-2.m4a"


async def test_a_page_ending_inside_one_keys_uploads_goes_on_with_that_keys_next_upload() -> None:
    uploads = [(KEY_A, "u1"), (KEY_A, "u2"), (KEY_A, "u3"), (KEY_B, "u4")]
    server = Server(list(uploads))

    assert (await count(on(server), PREFIX)).objects == 4
    assert server.asked[1]["key-marker"] == KEY_A
    assert server.asked[1].get("upload-id-marker") == "u2", "the next page must begin after the upload named"
    assert await delete(on(server), PREFIX) == 4
    assert sorted(server.aborted) == uploads, "every unfinished upload of the meeting is aborted"


async def test_one_key_with_more_uploads_than_a_page_is_listed_to_its_end() -> None:
    uploads = [(KEY_A, f"u{n}") for n in range(7)]
    server = Server(list(uploads))

    assert await delete(on(server), PREFIX) == 7
    assert sorted(server.aborted) == uploads
    assert server.uploads == []


async def test_an_upload_outside_the_prefix_is_never_aborted() -> None:
    server = Server([("raw/acme/YWJjZA/track-1.m4a", "u1"), (KEY_A, "u2")], page=1000)
    server.uploads.append(("mixed/other.flac", "u3"))

    assert await delete(on(server), PREFIX) == 1
    assert server.aborted == [(KEY_A, "u2")]


def _page(text: bytes) -> Server:
    server = Server([])
    server._execute = lambda *_, **__: Answer(text)  # type: ignore[method-assign]
    return server


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (answer([(KEY_A, "u1")], truncated=True), "next marker"),
        (answer([(KEY_A, "u1")], truncated=True, next_key=KEY_A, next_upload=""), "moves on"),
        (b"<ListMultipartUploadsResult><Upload><Key>unclosed", "unreadable"),
        (answer([(KEY_A, "u1")], truncated=False).replace(b"<UploadId>u1</UploadId>", b""), "unreadable"),
    ],
    ids=["truncated without a marker", "a key marker that repeats", "not XML", "no upload id"],
)
async def test_an_answer_that_cannot_be_trusted_stops_before_anything_is_aborted(text: bytes, said: str) -> None:
    server = _page(text)
    with pytest.raises(StorageUnavailable, match=said):
        await delete(on(server), PREFIX)
    assert server.aborted == []


@pytest.mark.parametrize("code", ["AccessDenied", "NotImplemented"])
async def test_credentials_that_may_not_list_uploads_see_none(code: str) -> None:
    refusal = S3Error(HTTPResponse(status=403), code, "refused", "/bucket", "req-1", "host-1")
    server = Server([(KEY_A, "u1")], refusal=refusal)
    assert await delete(on(server), PREFIX) == 0
