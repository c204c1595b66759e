"""A relay (or a man in the middle) that trickles its TLS handshake, a byte at a time, cannot hold a send past
:func:`longest_send`; and the connection's sockets are closed however it ends.

Before: the watchdog watched the connection only from its first SMTP reply on. With ``tls`` smtplib shook hands
inside ``connect()``, before the client had a socket to cut; with ``starttls`` it wrapped the socket (detaching
the plain one the watchdog would have cut) and shook hands in the same call. CPython gives a handshake one socket
timeout in all, so the worker thread (and the handler or sweeper round awaiting it) was held one
``smtp_timeout_seconds`` past the send's bound: past the outbox's lease when that step is over a tenth of it. Here
the step is 10 minutes and the bound 0.9 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import smtplib
import socket

import pytest
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.smtp import SmtpTransport, SmtpUnavailable
from zoomsymbl_notifier.smtp_connection import Client, Watchdog

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp_trickle import (
    EHLO_STARTTLS,
    GO_AHEAD,
    GREETING,
    READ,
    TricklingRelay,
    lines,
    record_bytes,
)

_SCRIPTS = {
    "tls": (READ,),  # reads the ClientHello, then trickles its answer
    "starttls": (GREETING, READ, EHLO_STARTTLS, READ, GO_AHEAD, READ),
}
# The send's bound is 0.9 s (the lease's share); this one only keeps a send cut by nothing but its 10-minute step
# timeout from holding the run.
_GENEROUS = 30.0


def _sockets() -> set[str]:
    """This process's open sockets (``socket:[inode]``). A test compares those opened while it ran, not counts: a
    leftover of an earlier test may be closed by garbage collection at any time meanwhile."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since it was listed
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(target)
    return found


async def _send_or_fail_after(seconds: float, settings: Settings) -> None:
    try:
        async with asyncio.timeout(seconds):
            await SmtpTransport(settings).send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n")
    except TimeoutError:
        pytest.fail(f"the send was still in its TLS handshake after {seconds} s: its watchdog never cut it")


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_a_trickled_tls_handshake_ends_the_send_within_its_bound(security: str) -> None:
    before = _sockets()
    relay = TricklingRelay(_SCRIPTS[security], record_bytes(), every=0.2, patience=120.0)  # one byte every 0.2 s
    settings = make_settings(
        InfraSettings(), relay.port, mail_lease_seconds=1.0, smtp_timeout_seconds=600.0, smtp_security=security
    )
    with relay, pytest.raises(SmtpUnavailable):
        await _send_or_fail_after(_GENEROUS, settings)
    assert relay.cut_by_client, "the send's bound cut the trickle, not the relay's own patience"
    assert _sockets() - before == set(), "the socket the handshake ran on is closed, not left to the collector"


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_a_failed_tls_handshake_leaves_no_socket_open(security: str) -> None:
    """A relay answering the ClientHello in plain text (``tls`` against a submission port, a broken STARTTLS):
    the attempt is retried, and the socket the handshake ran on is closed, not left to the garbage collector."""
    before = _sockets()
    with TricklingRelay(_SCRIPTS[security], lines(GREETING), every=0.05, patience=5.0) as relay:
        settings = make_settings(InfraSettings(), relay.port, mail_lease_seconds=60.0, smtp_security=security)
        with pytest.raises(SmtpUnavailable, match="SSLError"):
            await SmtpTransport(settings).send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n")
    assert _sockets() - before == set()


async def test_a_relay_not_offering_starttls_hears_nothing_more() -> None:
    """``starttls`` is never given up for plain text (the handshake is ours now, not smtplib's ``starttls``)."""
    script = (GREETING, READ, b"250-relay.test\r\n250 8BITMIME\r\n", READ)
    with TricklingRelay(script, iter(()), every=0.05, patience=0.0) as relay:
        settings = make_settings(InfraSettings(), relay.port, smtp_security="starttls")
        with pytest.raises(SmtpUnavailable, match="SMTPNotSupportedError"):
            await SmtpTransport(settings).send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n")
    assert relay.heard[0].startswith(b"ehlo ") and relay.heard[1] == b"", "after its EHLO, the client hung up"


def test_smtplib_still_opens_its_connection_through_get_socket() -> None:
    """:class:`Client` overrides smtplib's private ``_get_socket`` to hand the socket to the watchdog before anything
    is read from it (or a TLS handshake starts on it). A Python whose smtplib no longer calls it so would leave the
    greeting and the handshake unwatched again: this fails first."""
    assert list(inspect.signature(vars(smtplib.SMTP)["_get_socket"]).parameters) == ["self", "host", "port", "timeout"]
    watched: list[socket.socket] = []

    class Recording(Watchdog):
        def watch(self, sock: socket.socket) -> None:
            watched.append(sock)
            super().watch(sock)

    with TricklingRelay((GREETING,), iter(()), every=0.05, patience=0.0) as relay, Recording(60.0) as watchdog:
        client = Client("127.0.0.1", relay.port, timeout=5.0, watchdog=watchdog)
        try:
            assert client.sock is not None and watched == [client.sock], "the connection is watched from its start"
        finally:
            client.close()
