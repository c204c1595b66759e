"""The x-zm-signature check and the url_validation answer, against the Zoom sandbox's own signing."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoomsymbl_ingest.signature import SignatureRejected, encrypted_token, sign, verify
from zoomsymbl_sandbox.zoom import encrypt_plain_token, sign_zoom_webhook

SECRET = "s3cr3t-token"
NOW = 1_714_600_000.0


def check(body: bytes, *, timestamp: str | None, signature: str | None, now: float = NOW) -> None:
    verify(SECRET, timestamp=timestamp, signature=signature, body=body, now=now, tolerance_seconds=300)


def rejection(body: bytes, **kwargs: object) -> str:
    with pytest.raises(SignatureRejected) as caught:
        check(body, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.binary(max_size=2048))
def test_sign_matches_the_sandbox_for_any_body(body: bytes) -> None:
    assert sign(SECRET, "1714600000", body) == sign_zoom_webhook(SECRET, "1714600000", body)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0))
def test_a_changed_byte_breaks_the_signature(body: bytes, where: int) -> None:
    ts = str(int(NOW))
    signature = sign_zoom_webhook(SECRET, ts, body)
    index = where % len(body)
    tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
    assert rejection(tampered, timestamp=ts, signature=signature) == "bad_signature"


def test_a_signed_recent_request_passes() -> None:
    body = '{"event":"recording.completed","name":"Zoë 🎧 Ng"}'.encode()
    ts = str(int(NOW) - 299)
    check(body, timestamp=ts, signature=sign_zoom_webhook(SECRET, ts, body))


def test_missing_headers_are_refused() -> None:
    body = b"{}"
    ts = str(int(NOW))
    assert rejection(body, timestamp=None, signature=sign_zoom_webhook(SECRET, ts, body)) == "missing_signature"
    assert rejection(body, timestamp=ts, signature=None) == "missing_signature"
    assert rejection(body, timestamp=ts, signature="") == "missing_signature"


def test_a_tenant_without_a_webhook_secret_refuses_even_a_correct_empty_key_signature() -> None:
    # Anyone can sign with the empty key; a tenants file holding no webhook secret must refuse everything.
    ts = str(int(NOW))
    with pytest.raises(SignatureRejected, match="no_webhook_secret_configured"):
        verify("", timestamp=ts, signature=sign_zoom_webhook("", ts, b"{}"), body=b"{}", now=NOW, tolerance_seconds=300)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    ts = str(int(NOW))
    assert rejection(b"{}", timestamp=ts, signature=sign_zoom_webhook("other", ts, b"{}")) == "bad_signature"


def test_a_signature_of_another_timestamp_is_refused() -> None:
    signature = sign_zoom_webhook(SECRET, str(int(NOW) - 1), b"{}")
    assert rejection(b"{}", timestamp=str(int(NOW)), signature=signature) == "bad_signature"


def test_garbage_and_non_ascii_signatures_are_refused() -> None:
    ts = str(int(NOW))
    assert rejection(b"{}", timestamp=ts, signature="v0=zzz") == "bad_signature"
    assert rejection(b"{}", timestamp=ts, signature="v0=é\udcff") == "bad_signature"


def test_an_old_or_future_timestamp_is_refused_even_when_signed() -> None:
    for ts in (str(int(NOW) - 301), str(int(NOW) + 301)):
        assert rejection(b"{}", timestamp=ts, signature=sign_zoom_webhook(SECRET, ts, b"{}")) == "stale_timestamp"


def test_a_non_numeric_timestamp_is_refused() -> None:
    for ts in ("yesterday", "-5", "١٢٣", "1" * 20):
        assert rejection(b"{}", timestamp=ts, signature=sign(SECRET, ts, b"{}")) == "bad_timestamp"


def test_a_millisecond_timestamp_is_understood() -> None:
    ts = str(int(NOW * 1000))
    check(b"{}", timestamp=ts, signature=sign_zoom_webhook(SECRET, ts, b"{}"))


def test_the_default_clock_accepts_a_fresh_signature() -> None:
    ts = str(int(time.time()))
    verify(SECRET, timestamp=ts, signature=sign(SECRET, ts, b"x"), body=b"x", now=time.time(), tolerance_seconds=5)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.text(min_size=1, max_size=64))
def test_encrypted_token_matches_the_sandbox(plain: str) -> None:
    assert encrypted_token(SECRET, plain) == encrypt_plain_token(SECRET, plain)
