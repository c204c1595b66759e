"""Meeting page tokens: what they open, for how long, and what they refuse."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.page_tokens import PageClaim, make_page_token, page_url, renewable, verify_page_token
from zoomsymbl_common.signed_tokens import b64, unb64

KEY = "page-key-of-at-least-16-bytes"
NOW = 1_800_000_000.0


def test_a_token_opens_its_meeting_until_it_expires() -> None:
    token = make_page_token(KEY, "acme", "/ab//c==", ttl=timedelta(days=30), now=NOW)
    expires = int(NOW + 30 * 86400)
    assert verify_page_token(KEY, token, now=NOW) == PageClaim("acme", "/ab//c==", expires)
    assert verify_page_token(KEY, token, now=expires - 1) is not None
    assert verify_page_token(KEY, token, now=expires) is None


def test_an_expired_token_still_names_its_meeting_only_when_asked_and_only_if_authentic() -> None:
    token = make_page_token(KEY, "acme", "m==", ttl=timedelta(days=1), now=NOW)
    later = NOW + 400 * 86400
    assert verify_page_token(KEY, token, now=later) is None, "expired: it opens no page"
    claim = verify_page_token(KEY, token, now=later, expired_ok=True)
    assert claim == PageClaim("acme", "m==", int(NOW + 86400))
    subject, expiry, mac = token.split(".")
    assert verify_page_token(KEY, f"{subject}.{int(expiry) - 1}.{mac}", now=later, expired_ok=True) is None
    assert verify_page_token("another-key-of-16-bytes!", token, now=later, expired_ok=True) is None


def test_while_the_key_is_replaced_a_token_of_either_key_opens_its_page() -> None:
    old_key, new_key = "the-page-key-before-0123", KEY
    old = make_page_token(old_key, "acme", "m==", now=NOW)
    new = make_page_token(new_key, "acme", "m==", now=NOW)
    assert verify_page_token(new_key, old, now=NOW) is None, "without the previous key the old links are void"
    assert verify_page_token(new_key, old, now=NOW, previous=old_key) == verify_page_token(old_key, old, now=NOW)
    assert verify_page_token(new_key, new, now=NOW, previous=old_key) is not None
    assert verify_page_token(new_key, old, now=NOW, previous="") is None, "empty: no previous key"
    third = make_page_token("a-third-page-key-0123456", "acme", "m==", now=NOW)
    assert verify_page_token(new_key, third, now=NOW, previous=old_key) is None


def test_an_expired_token_is_renewable_for_the_days_given_after_its_expiry() -> None:
    claim = PageClaim("acme", "m==", int(NOW))
    assert not renewable(claim, 30, NOW - 1), "not expired yet: it opens the page, nothing to renew"
    assert renewable(claim, 30, NOW)
    assert renewable(claim, 30, NOW + 30 * 86400 - 1)
    assert not renewable(claim, 30, NOW + 30 * 86400)
    assert not renewable(claim, 0, NOW), "0: never"


def test_another_key_or_a_changed_meeting_is_refused() -> None:
    token = make_page_token(KEY, "acme", "meeting-1", now=NOW)
    assert verify_page_token("another-key-of-16-bytes!", token, now=NOW) is None
    subject, expiry, mac = token.split(".")
    forged = b64(unb64(subject).replace(b"meeting-1", b"meeting-2"))
    assert verify_page_token(KEY, f"{forged}.{expiry}.{mac}", now=NOW) is None
    assert verify_page_token(KEY, f"{subject}.{int(expiry) + 86400}.{mac}", now=NOW) is None


def test_every_other_last_character_of_the_mac_is_refused() -> None:
    # The MAC's last base64 character carries spare bits: a non-canonical spelling of the same bytes is refused too.
    token = make_page_token(KEY, "acme", "meeting-1", now=NOW)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    others = [token[:-1] + c for c in alphabet if c != token[-1]]
    assert [t for t in others if verify_page_token(KEY, t, now=NOW) is not None] == []


def test_a_callback_token_is_not_a_page_token() -> None:
    callback = make_callback_token(KEY, "acme\x1fmeeting-1", now=NOW)
    assert verify_page_token(KEY, callback, now=NOW) is None


def test_short_keys_and_impossible_subjects_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        make_page_token("short", "acme", "m", now=NOW)
    with pytest.raises(ValueError, match="needs a tenant"):
        make_page_token(KEY, "ac\x1fme", "m", now=NOW)
    with pytest.raises(ValueError, match="needs a tenant"):
        make_page_token(KEY, "acme", "x" * 1025, now=NOW)


def test_the_url_escapes_nothing_it_needs_and_keeps_the_token_whole() -> None:
    token = make_page_token(KEY, "acme", "m/1", now=NOW)
    url = page_url("https://zs.example.com/", token)
    assert url == f"https://zs.example.com/m/{token}"


@given(st.text(max_size=2000))
def test_any_text_is_refused_without_raising(text: str) -> None:
    assert verify_page_token(KEY, text, now=NOW) is None
