"""One send's SMTP connection, under its :class:`Watchdog` from the moment its socket exists to its close.

The per-step socket timeouts alone bound no send: a server may trickle a reply line by line. The watchdog cuts the
connection once the send's bound (:func:`~zoomsymbl_notifier.smtp.longest_send`) is up, whatever the thread is
waiting for: a reply, or a TLS handshake. smtplib shakes hands inside the calls that create the TLS socket (``tls``:
in ``connect``, before the client has a socket; ``starttls``: it wraps the plain socket, detaching it, and shakes
hands in one call), out of reach of any watcher; CPython bounds a handshake by one socket timeout in all, so a
relay trickling it held the thread one ``smtp_timeout_seconds`` past the bound (and past the outbox's lease with a
step timeout over a tenth of it). So :class:`Client` creates its sockets itself: the plain one is handed to the
watchdog before its connect (a cut wakes it), the TLS one (same descriptor) before its handshake starts. The
server's name is looked up in a thread of its own (:func:`resolved`), given up on at the step timeout or the bound.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Address = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]
Resolve = Callable[[str, int], Sequence[Address]]
"""Looks the server up as ``socket.getaddrinfo(host, port, type=SOCK_STREAM)`` does (the system resolver by default);
raises :class:`OSError` when the name does not resolve. It may hang: it is waited for only so long."""


def system_resolve(host: str, port: int) -> Sequence[Address]:
    """The system resolver's addresses of ``host`` (glibc: its own timeouts, per name server and attempt)."""
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)


class Client(smtplib.SMTP):
    """smtplib's client, watched, knowing when the whole message went out, and waiting longer for its reply.

    RFC 5321 4.5.3.2.6 gives the reply to the final "." 10 minutes: the server may be filtering the message,
    and a client giving up sooner "would typically result in delivery of multiple copies". It gets what is
    left of the send's bound (``final_reply_seconds``), not one step's ``smtp_timeout_seconds``.
    """

    body_sent = False
    final_reply_seconds: float | None = None

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        watchdog: Watchdog,
        resolve: Resolve = system_resolve,
        **kwargs: Any,
    ) -> None:
        self._watchdog = watchdog
        self._resolve = resolve
        self._server_name = host  # the name its certificate must carry
        super().__init__(host, port, timeout=timeout, **kwargs)  # connects and reads the greeting

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's private hook for connect's socket (pinned by tests/notifier/test_smtp_trickled_handshake.py),
        # made as smtplib.SMTP's makes it. Never SMTP_SSL's: that one shakes hands before returning it to be watched.
        return connection(host, port, timeout, self.source_address, self._watchdog, self._resolve)

    def secure(self, context: ssl.SSLContext) -> None:
        """STARTTLS (RFC 3207), as smtplib's ``starttls`` does it, with the handshake watched. A server not offering
        it raises :class:`smtplib.SMTPNotSupportedError`: never on without it."""
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        code, reply = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, reply)
        if self.sock is None:  # a reply was read from it: only a thread closing the client could do this
            raise smtplib.SMTPServerDisconnected("connection closed during STARTTLS")
        self.sock = self.handshake(self.sock, context)
        self.file = None
        # RFC 3207 4.2: whatever the server said before TLS is forgotten (its EHLO is asked again).
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False

    def handshake(self, plain: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        """``plain`` wrapped in TLS, the handshake under the watchdog; on any failure its descriptor is closed."""
        owner: socket.socket = plain  # until wrapped; then the TLS socket (wrapping detaches the plain one)
        try:
            owner = tls = context.wrap_socket(plain, server_hostname=self._server_name, do_handshake_on_connect=False)
            self._watchdog.watch(tls)
            tls.do_handshake()
        except BaseException:
            owner.close()
            raise
        return tls

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        if not isinstance(s, str):  # commands are str; the message (ending CR LF "." CR LF) is the only bytes
            self.body_sent = True
            if self.sock is not None and self.final_reply_seconds is not None:
                self.sock.settimeout(self.final_reply_seconds)


class TlsClient(Client, smtplib.SMTP_SSL):
    """:class:`Client` over implicit TLS."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.handshake(super()._get_socket(host, port, timeout), self.context)


class Watchdog:
    """Cuts the connection of a send still running after ``seconds``.

    A connection cut after the message went out may still leave a delivered copy behind (the rare
    repeat the Message-ID folds), but only past a bound no working server comes near.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._deadline = time.monotonic() + self._seconds
        self._timer.start()
        return self

    def left(self) -> float:
        """Seconds until the connection is cut (0 once it is due)."""
        deadline = time.monotonic() + self._seconds if self._deadline is None else self._deadline
        return max(0.0, deadline - time.monotonic())

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock``, the connection's socket from now on, when the time is up (now, if it is already)."""
        with self._lock:
            self._sock, expired = sock, self._expired
        if expired:
            _cut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired, sock = True, self._sock
        if sock is not None:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    # shutdown() (not close()) wakes a recv() or handshake blocked in the worker thread at once. The plain socket's
    # shutdown even for a TLS one: SSLSocket's also drops its TLS state, and a handshake not yet started would then
    # fail with an AttributeError (no outcome the send defines), not an OSError. A closed or detached socket has no
    # descriptor left (EBADF): nothing else's is ever cut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def resolved(resolve: Resolve, host: str, port: int, seconds: float) -> Sequence[Address]:
    """``host``'s addresses, or :class:`TimeoutError` after ``seconds``. getaddrinfo cannot be interrupted: the
    look-up runs in a daemon thread of its own, left to end in the background when it is given up on."""
    answer: list[Sequence[Address] | Exception] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            answer.append(resolve(host, port))
        except Exception as exc:  # raised in the sending thread below, as create_connection would have
            answer.append(exc)
        finally:
            done.set()

    threading.Thread(target=look_up, name="smtp-resolve", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"the SMTP server's name did not resolve within {seconds:.1f} s")
    if isinstance(answer[0], Exception):
        raise answer[0]
    return answer[0]


def connection(
    host: str, port: int, timeout: float, source: Any, watchdog: Watchdog, resolve: Resolve
) -> socket.socket:
    """A TCP connection to ``host``, as ``socket.create_connection`` makes it (each address in turn), with the
    look-up and each connect bounded by ``timeout`` and by what is left of ``watchdog``'s bound, and each socket
    watched from before its connect: a server's many addresses, or one that never answers, cannot hold the send."""
    error: OSError = OSError(f"no address of {host!r}")
    for family, kind, proto, _, address in resolved(resolve, host, port, min(timeout, watchdog.left())):
        left = watchdog.left()
        if left <= 0:
            raise TimeoutError("the send's bound was up before a connection to the SMTP server") from None
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(min(timeout, left))
            if source:
                sock.bind(source)
            watchdog.watch(sock)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(timeout)
        return sock
    raise error
