"""Pure parts of the Zoom sandbox: signatures, path decoding, listing windows, byte ranges."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import pytest
from zoomsymbl_sandbox.zoom_api import recordings_window
from zoomsymbl_sandbox.zoom_download import ByteRange, RangeNotSatisfiable, parse_range
from zoomsymbl_sandbox.zoom_http import ZoomApiError, classify_route, meeting_path_id
from zoomsymbl_sandbox.zoom_signing import (
    is_valid_zoom_signature,
    sign_zoom_webhook,
    url_validation_response,
)

SECRET = "s3cr3t-zoom"
BODY = b'{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}'


def test_signature_matches_vector_computed_with_openssl() -> None:
    # printf 'v0:1700000000:<BODY>' | openssl dgst -sha256 -hmac s3cr3t-zoom
    expected = "v0=e2208933fdc82eff6f4bada1ec8cf9ebb82b4fb8ba5ecd5fe7413d3c9225571b"
    assert sign_zoom_webhook(SECRET, "1700000000", BODY) == expected


def test_signature_covers_raw_utf8_bytes() -> None:
    # printf 'v0:1700000000:{"name":"Zo\xc3\xab"}' | openssl dgst -sha256 -hmac s3cr3t-zoom
    expected = "v0=47f148a0a467e72abd55c1cc3bff1abe0c55cb2b3af2be24b4ede1a43a5f4035"
    assert sign_zoom_webhook(SECRET, "1700000000", '{"name":"Zoë"}'.encode()) == expected


def test_signature_check_rejects_other_timestamp_or_body() -> None:
    signature = sign_zoom_webhook(SECRET, "1700000000", BODY)
    assert is_valid_zoom_signature(SECRET, "1700000000", BODY, signature)
    assert not is_valid_zoom_signature(SECRET, "1700000001", BODY, signature)
    assert not is_valid_zoom_signature(SECRET, "1700000000", BODY + b" ", signature)
    assert not is_valid_zoom_signature("other", "1700000000", BODY, signature)


def test_url_validation_response_vector() -> None:
    # printf 'qgg8vlvZRS6UYooatFL8Aw' | openssl dgst -sha256 -hmac s3cr3t-zoom
    assert url_validation_response(SECRET, "qgg8vlvZRS6UYooatFL8Aw") == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "24555345dd04006902163d2584689c1c8616bf2285427db746e692b7b1dee331",
    }


@pytest.mark.parametrize("uuid", ["/ajXp112QmuoKj4854875==", "abc//def==", "plain+Uuid==", "one/slash=="])
def test_double_encoded_uuid_decodes(uuid: str) -> None:
    assert meeting_path_id(quote(quote(uuid, safe=""), safe="")) == uuid


@pytest.mark.parametrize("uuid", ["/ajXp112QmuoKj4854875==", "abc//def=="])
def test_single_encoded_uuid_that_needs_double_encoding_is_lost(uuid: str) -> None:
    assert meeting_path_id(quote(uuid, safe="")) is None


def test_single_encoded_uuid_without_slash_pairs_decodes() -> None:
    assert meeting_path_id(quote("one/slash==", safe="")) == "one/slash=="
    assert meeting_path_id("84712345678") == "84712345678"


def test_routes_are_classified_on_the_raw_path() -> None:
    assert classify_route("/v2/meetings/%252Fab%253D%253D/recordings") == ("get_recordings", None)
    assert classify_route("/v2/users/me/recordings") == ("list_recordings", None)
    assert classify_route("/rec/download/f-1") == ("download", "f-1")
    assert classify_route("/_sandbox/stats") == (None, None)


def test_listing_window_serves_one_month_and_of_more_its_last_month() -> None:
    today = date(2025, 3, 20)
    assert recordings_window({"from": "2025-01-01", "to": "2025-02-01"}, today) == (
        date(2025, 1, 1),
        date(2025, 2, 1),
    )
    # Longer: its last month, as Zoom answers it (github.com/zoom/api/issues/36); a month back from the 31st of
    # March is the last day of February.
    assert recordings_window({"from": "2025-01-01", "to": "2025-02-02"}, today) == (date(2025, 1, 2), date(2025, 2, 2))
    assert recordings_window({"from": "2024-01-01", "to": "2025-03-31"}, today) == (
        date(2025, 2, 28),
        date(2025, 3, 31),
    )
    with pytest.raises(ZoomApiError) as caught:
        recordings_window({"from": "2025-02-03", "to": "2025-02-02"}, today)
    assert (caught.value.status, caught.value.code) == (400, 300)
    # Without dates, today to tomorrow, as the cloud-recording reference documents (the phone listing has its own).
    assert recordings_window({}, today) == (today, date(2025, 3, 21))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=100-199", ByteRange(100, 199)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=900-5000", ByteRange(900, 999)),
        ("bytes=0-1,5-9", None),
        (None, None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


def test_range_past_the_end_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=1000-", 1000)
