"""Per-job callback tokens: only the holder of the secret can make one, and it names exactly one job."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import make_callback_token, verify_callback_token
from zoomsymbl_common.logs import redact
from zoomsymbl_common.signed_tokens import checked_key

SECRET = SecretStr("a-notifier-secret-of-enough-length")
URL_SAFE = set(string.ascii_letters + string.digits + "-_.")


def test_a_token_names_its_job() -> None:
    token = make_callback_token(SECRET, "3f1c0a9e" * 4)
    assert verify_callback_token(SECRET, token) == "3f1c0a9e" * 4


def test_a_token_is_safe_in_a_url_path_and_a_header() -> None:
    token = make_callback_token(SECRET, "meeting/with spaces?&=#ü")
    assert set(token) <= URL_SAFE
    assert verify_callback_token(SECRET, token) == "meeting/with spaces?&=#ü"


def test_another_secret_rejects_the_token() -> None:
    token = make_callback_token(SECRET, "job-1")
    assert verify_callback_token("another-secret-of-enough-length", token) is None


def test_a_token_cannot_be_moved_to_another_job() -> None:
    token = make_callback_token(SECRET, "job-1")
    other = make_callback_token(SECRET, "job-2")
    _ref, expiry, mac = token.split(".")
    assert verify_callback_token(SECRET, f"{other.split('.')[0]}.{expiry}.{mac}") is None


def test_a_token_expires() -> None:
    made = 1_800_000_000.0
    token = make_callback_token(SECRET, "job-1", ttl=timedelta(days=7), now=made)
    assert verify_callback_token(SECRET, token, now=made + 7 * 86400 - 1) == "job-1"
    assert verify_callback_token(SECRET, token, now=made + 7 * 86400) is None


def test_the_expiry_cannot_be_extended() -> None:
    made = 1_800_000_000.0
    ref, expiry, mac = make_callback_token(SECRET, "job-1", now=made).split(".")
    for later in (str(int(expiry) + 86400), "0" + expiry, expiry + "0"):
        assert verify_callback_token(SECRET, f"{ref}.{later}.{mac}", now=made) is None


def test_a_token_of_the_old_two_part_shape_is_refused() -> None:
    ref, _, mac = make_callback_token(SECRET, "job-1").split(".")
    assert verify_callback_token(SECRET, f"{ref}.{mac}") is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "a.1.c",
        "am9i.-1.AAAA",
        "am9i.１２.AAAA",
        "!!!.???",
        "am9i.AAAA",
        "x" * 5000,
    ],
)
def test_malformed_tokens_are_rejected_not_raised(token: str) -> None:
    assert verify_callback_token(SECRET, token) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_callback_token("short", "job-1")


def test_a_settings_key_is_checked_as_the_tokens_will_use_it_in_bytes_not_characters() -> None:
    assert checked_key(SecretStr("é" * 8)).get_secret_value() == "é" * 8  # 8 characters, 16 bytes: enough
    with pytest.raises(ValueError, match=r"^must be at least 16 bytes$"):
        checked_key(SecretStr("é" * 7 + "x"))  # 15 bytes
    with pytest.raises(ValueError, match=r"^must be at least 16 bytes$"):
        checked_key(SecretStr(""))  # required unless an empty key means something
    assert checked_key(SecretStr(""), empty="no links").get_secret_value() == ""
    with pytest.raises(ValueError, match=r"^must be empty \(no links\) or at least 16 bytes$"):
        checked_key(SecretStr("short"), empty="no links")
    make_callback_token(SecretStr("é" * 8), "job-1")  # what the check lets through, the token module takes


def test_tokens_never_reach_the_logs() -> None:
    token = make_callback_token(SECRET, "job-logged")
    assert token not in redact(f"callback for {token}")


@given(st.text(min_size=1, max_size=200), st.text(alphabet=string.ascii_letters + "-_.", min_size=1, max_size=80))
def test_any_tampering_is_detected(job_ref: str, junk: str) -> None:
    token = make_callback_token(SECRET, job_ref)
    assert verify_callback_token(SECRET, token) == job_ref
    assert verify_callback_token(SECRET, token + junk) is None
    assert verify_callback_token(SECRET, junk + token) is None
    assert verify_callback_token(SECRET, token[:-1]) is None
