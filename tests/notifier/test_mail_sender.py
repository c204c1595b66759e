"""The sender address (``mail_from``): one our SMTP client cannot send from stops the notifier at start, by name.

With ``mail_from: Zoë <zoë@example.com>`` the notifier started, and every report, failure notice and digest was
refused before it reached the server and recorded ``rejected``: given up for good, not sent either once the setting
was fixed. A recipient's Unicode local part now goes out with SMTPUTF8 where the relay offers it, but the sender's
still may not: a relay without SMTPUTF8 would take no e-mail at all from it (RFC 6531 has no downgrade of MAIL FROM).
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.settings import load_settings
from zoomsymbl_notifier.settings import Settings

FIXED = {
    "Zoë <zoë@example.com>": "Zoë <zoe@example.com>",  # a Unicode display name is fine, a Unicode local part is not
    "bot@exämple.com": "bot@xn--exmple-cua.com",
    "bot@example.com\r\nBcc: x@evil.test": "bot@example.com",
    "no address": "zoomsymbl@localhost",
}


@pytest.mark.parametrize("mail_from", list(FIXED))
def test_a_sender_address_smtp_cannot_carry_is_refused_at_start_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, mail_from: str
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET", "a-secret-of-at-least-16-bytes")
    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_MAIL_FROM", mail_from)
    with pytest.raises(ConfigError) as caught:
        load_settings(Settings)
    assert set(caught.value.variables) == {"ZOOMSYMBL_NOTIFIER_MAIL_FROM"}

    monkeypatch.setenv("ZOOMSYMBL_NOTIFIER_MAIL_FROM", FIXED[mail_from])
    assert load_settings(Settings).mail_from == FIXED[mail_from]
