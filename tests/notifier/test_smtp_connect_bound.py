"""A relay that takes no connection, or a resolver that never answers, cannot hold a send past :func:`longest_send`.

Before: the server's name was looked up and connected to inside ``socket.create_connection``, before the watchdog
had a socket to cut. The look-up was bounded by nothing of ours (the system resolver's own timeouts, per name
server, attempt and address family), and each of the server's addresses had a whole ``smtp_timeout_seconds`` to
connect: the worker thread (and the outbox round awaiting it) outlived the send's bound, and the outbox's lease with
a step timeout over 0.9 of it, so another deliverer could take the e-mail over while this one might still send it.
Here the step is 10 minutes and the bound 0.9 s.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Sequence

import pytest
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.smtp import SmtpTransport, SmtpUnavailable
from zoomsymbl_notifier.smtp_connection import Address, Resolve

from tests.notifier.harness import make_settings

# The send's bound is 0.9 s (the lease's share); this one only keeps a send held by its 10-minute step timeout (or
# the kernel's SYN retries, about 2 minutes) from holding the run.
_GENEROUS = 30.0


def _bounded(port: int) -> Settings:
    return make_settings(InfraSettings(), port, mail_lease_seconds=1.0, smtp_timeout_seconds=600.0)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """The port of a server that listens but never accepts, its backlog full: a connect to it is never answered
    (Linux drops the SYN of a listener whose accept queue is full), as a relay behind a black-holing firewall."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port), timeout=5.0)  # the one place a backlog of 0 has
    try:
        yield port
    finally:
        queued.close()
        listener.close()


async def _send_or_fail_after(seconds: float, transport: SmtpTransport, stage: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            await transport.send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n")
    except TimeoutError:
        pytest.fail(f"the send was still {stage} after {seconds} s: its bound never ended it")


async def test_a_server_that_never_takes_the_connection_ends_the_send_within_its_bound(full_backlog: int) -> None:
    with pytest.raises(SmtpUnavailable):
        await _send_or_fail_after(_GENEROUS, SmtpTransport(_bounded(full_backlog)), "connecting")


async def test_each_of_the_servers_addresses_has_only_what_is_left_of_the_bound(full_backlog: int) -> None:
    """A name with many addresses, none answering: they are not given a step timeout each."""

    def many(host: str, port: int) -> Sequence[Address]:
        one = socket.getaddrinfo("127.0.0.1", port, socket.AF_INET, socket.SOCK_STREAM)
        return one * 20

    transport = SmtpTransport(_bounded(full_backlog), resolve=many)
    with pytest.raises(SmtpUnavailable):
        await _send_or_fail_after(_GENEROUS, transport, "connecting")


@pytest.fixture
def hanging_resolver() -> Iterator[Resolve]:
    """A resolver that never answers (a name server dropping the queries), until the test is over."""
    released = threading.Event()

    def hang(host: str, port: int) -> Sequence[Address]:
        released.wait()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    try:
        yield hang
    finally:
        released.set()


async def test_a_resolver_that_never_answers_ends_the_send_within_its_bound(hanging_resolver: Resolve) -> None:
    transport = SmtpTransport(_bounded(9), resolve=hanging_resolver)
    with pytest.raises(SmtpUnavailable, match="TimeoutError"):
        await _send_or_fail_after(_GENEROUS, transport, "looking the server's name up")


async def test_a_name_that_does_not_resolve_is_retried() -> None:
    def unknown(host: str, port: int) -> Sequence[Address]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    transport = SmtpTransport(make_settings(InfraSettings(), 9, smtp_host="relay.invalid"), resolve=unknown)
    with pytest.raises(SmtpUnavailable, match="gaierror"):
        await transport.send("notifier@zoomsymbl.test", ("host@example.com",), b"Subject: x\r\n")
