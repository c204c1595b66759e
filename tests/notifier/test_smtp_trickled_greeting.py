"""A relay that trickles its greeting (or its reply to STARTTLS) line by line, each line within the socket timeout,
cannot hold a send past :func:`longest_send`.

Before: the send's watchdog watched the connection only once it was greeted (and, with ``starttls``, secured): a
greeting of endless ``220-`` lines held the worker thread, and the handler or sweeper round awaiting it, for ever,
past the outbox's lease (another replica then took the e-mail over while this one still waited).
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator

import pytest
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.smtp import SmtpTransport, SmtpUnavailable

from tests.notifier.harness import make_settings

_LINES = 400  # 20 s of trickle, then the relay hangs up (a client without a bound then fails, but was not cut)


class TricklingRelay:
    """Greets with ``220-`` lines, one every 50 ms, until the client cuts the connection (``cut_by_client``) or
    :data:`_LINES` lines went out; with ``starttls``, greets and answers EHLO at once, then trickles its reply to
    STARTTLS the same way."""

    def __init__(self, *, starttls: bool) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._starttls = starttls
        self._stop = threading.Event()
        self.cut_by_client = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TricklingRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop trickling and wait for the relay's thread (what it saw is then final)."""
        self._stop.set()
        self._listener.close()
        self._thread.join(30)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            if self._starttls:
                conn.sendall(b"220 relay.test ready\r\n")
                conn.recv(1024)  # EHLO
                conn.sendall(b"250-relay.test\r\n250 STARTTLS\r\n")
                conn.recv(1024)  # STARTTLS
            self.cut_by_client = self._trickle(conn)

    def _trickle(self, conn: socket.socket) -> bool:
        """True when the client hung up while the relay still had lines to send."""
        for _ in range(_LINES):
            try:
                conn.sendall(b"220-still thinking\r\n")
            except OSError:
                return True
            if _hung_up(conn, 0.0):
                return True
            if self._stop.wait(0.05):
                return _hung_up(conn, 5.0)  # the test is done: did the client hang up first?
        return False


def _hung_up(conn: socket.socket, wait: float) -> bool:
    try:
        readable, _, _ = select.select([conn], [], [], wait)
        return bool(readable) and not conn.recv(1024)
    except OSError:
        return True


@pytest.fixture(params=[False, True], ids=["greeting", "starttls"])
def relay(request: pytest.FixtureRequest) -> Iterator[TricklingRelay]:
    with TricklingRelay(starttls=request.param) as relay:
        yield relay


async def test_a_trickled_greeting_or_starttls_reply_ends_the_send_within_its_bound(relay: TricklingRelay) -> None:
    security = "starttls" if relay._starttls else "none"
    # Each step may take 5 s; the whole send at most 0.9 s (the lease's share): the trickle outlasts the bound.
    settings = make_settings(InfraSettings(), relay.port, mail_lease_seconds=1.0, smtp_security=security)
    with pytest.raises(SmtpUnavailable):
        await SmtpTransport(settings).send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n\r\nx\r\n")
    relay.close()
    assert relay.cut_by_client, "the send's bound cut the trickle, not the relay's own patience"
