"""The version listing ``forget`` reads itself (ListObjectVersions): what a storage server's answer may not make it do.

The server is ours, but its answer still decides what is deleted: an entry outside the meeting's prefix is never
listed, a page that does not move the listing on or an unreadable answer stops the run (StorageUnavailable) before
anything is deleted. The happy paths run against a real versioned server in test_forget_versioned.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest
from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.ops import forget_objects
from zoomsymbl_common.ops.forget_objects import _listed_versions
from zoomsymbl_common.storage import ObjectStore

PREFIX = "raw/acme/YWJj/"
NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def version(key: str, version_id: str, size: int = 5) -> str:
    return f"<Version><Key>{key}</Key><VersionId>{version_id}</VersionId><Size>{size}</Size></Version>"


def marker(key: str, version_id: str) -> str:
    # Dated as versitygw dates its markers: nanoseconds, which minio-py's parser refuses.
    return (
        f"<DeleteMarker><Key>{key}</Key><VersionId>{version_id}</VersionId>"
        "<LastModified>2026-12-05T15:48:40.39124674Z</LastModified></DeleteMarker>"
    )


def page(*entries: str, truncated: bool = False, next_key: str = "", next_version: str = "", ns: str = NS) -> bytes:
    tail = f"<NextKeyMarker>{next_key}</NextKeyMarker><NextVersionIdMarker>{next_version}</NextVersionIdMarker>"
    body = f"<ListVersionsResult{ns}><IsTruncated>{str(truncated).lower()}</IsTruncated>{''.join(entries)}{tail}"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}</ListVersionsResult>'.encode()


@dataclass
class Answer:
    data: bytes


@dataclass
class Server:
    """Answers each GET with the next page; records the query parameters it was asked with."""

    pages: list[bytes]
    asked: list[dict[str, str]] = field(default_factory=list)

    def _execute(self, method: str, bucket: str, *, query_params: dict[str, str]) -> Answer:
        assert (method, bucket) == ("GET", "bucket")
        self.asked.append(dict(query_params))
        return Answer(self.pages[len(self.asked) - 1])


def listing(server: Server) -> list[tuple[str, int, str]]:
    store = cast(ObjectStore, type("Store", (), {"client": server, "bucket": "bucket"})())
    return list(_listed_versions(store, PREFIX))


def test_versions_and_markers_over_pages_each_once_with_the_markers_passed_on() -> None:
    server = Server(
        [
            page(
                version(f"{PREFIX}a", "v1"),
                marker(f"{PREFIX}b", "m1"),
                truncated=True,
                next_key=f"{PREFIX}b",
                next_version="m1",
            ),
            page(version(f"{PREFIX}b", "m1"), version(f"{PREFIX}b", "v2", 7), ns=""),  # no namespace; m1 repeated
        ]
    )
    assert listing(server) == [(f"{PREFIX}a", 5, "v1"), (f"{PREFIX}b", 0, "m1"), (f"{PREFIX}b", 7, "v2")]
    assert server.asked[0] == {"versions": "", "prefix": PREFIX, "max-keys": "1000"}
    assert server.asked[1] == server.asked[0] | {"key-marker": f"{PREFIX}b", "version-id-marker": "m1"}


def test_an_entry_outside_the_prefix_is_never_listed() -> None:
    server = Server(
        [page(version("raw/acme/YWJjZA/x", "v1"), version("mixed/other.flac", "v2"), version(f"{PREFIX}a", "v3"))]
    )
    assert listing(server) == [(f"{PREFIX}a", 5, "v3")]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (page(version(f"{PREFIX}a", "v1"), truncated=True), "next marker"),
        (b"<ListVersionsResult><Version><Key>unclosed", "unreadable"),
        (page(version(f"{PREFIX}a", "v1", size=-1)), "unreadable"),
        (page("<Version><Key>raw/acme/YWJj/a</Key><Size>5</Size></Version>"), "unreadable"),  # no version id
        (page(version(f"{PREFIX}a", "v1").replace("<Size>5</Size>", "<Size>many</Size>")), "unreadable"),
    ],
    ids=["truncated without a marker", "not XML", "negative size", "no version id", "size not a number"],
)
def test_an_answer_that_cannot_be_trusted_stops_the_listing(answer: bytes, said: str) -> None:
    with pytest.raises(StorageUnavailable, match=said):
        listing(Server([answer]))


def test_a_page_that_does_not_move_on_stops_the_listing() -> None:
    same = page(version(f"{PREFIX}a", "v1"), truncated=True, next_key=f"{PREFIX}a", next_version="v1")
    with pytest.raises(StorageUnavailable, match="moves on"):
        listing(Server([same, same, same]))


def test_a_listing_longer_than_its_bound_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forget_objects, "MAX_VERSION_PAGES", 3)
    pages = [
        page(version(f"{PREFIX}{n}", "v"), truncated=True, next_key=f"{PREFIX}{n}", next_version="v") for n in range(4)
    ]
    with pytest.raises(StorageUnavailable, match="longer than 3 pages"):
        listing(Server(pages))
