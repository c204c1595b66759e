"""A relay that trickles its greeting (or its reply to STARTTLS) line by line, each line within the socket timeout,
cannot hold a send past :func:`longest_send`.

Before: the send's watchdog watched the connection only once it was greeted (and, with ``starttls``, secured): a
greeting of endless ``220-`` lines held the worker thread, and the handler or sweeper round awaiting it, for ever,
past the outbox's lease (another replica then took the e-mail over while this one still waited).
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.smtp import SmtpTransport, SmtpUnavailable

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp_trickle import EHLO_STARTTLS, GREETING, READ, TricklingRelay, lines

# 400 lines, one every 50 ms (20 s), then the relay hangs up (a client without a bound then fails, but was not cut).
_PATIENCE = 20.0
_STARTTLS = (GREETING, READ, EHLO_STARTTLS, READ)  # greets and answers EHLO at once, then trickles its STARTTLS reply


@pytest.mark.parametrize("security", ["none", "starttls"], ids=["greeting", "starttls"])
async def test_a_trickled_greeting_or_starttls_reply_ends_the_send_within_its_bound(security: str) -> None:
    script = _STARTTLS if security == "starttls" else ()
    relay = TricklingRelay(script, lines(b"220-still thinking\r\n"), every=0.05, patience=_PATIENCE)
    # Each step may take 5 s; the whole send at most 0.9 s (the lease's share): the trickle outlasts the bound.
    settings = make_settings(InfraSettings(), relay.port, mail_lease_seconds=1.0, smtp_security=security)
    with relay, pytest.raises(SmtpUnavailable):
        await SmtpTransport(settings).send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n\r\nx\r\n")
    assert relay.cut_by_client, "the send's bound cut the trickle, not the relay's own patience"
