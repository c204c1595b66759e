"""One send's SMTP connection, under its :class:`Watchdog` from the moment its socket exists to its close.

The per-step socket timeouts alone bound no send: a server may trickle a reply line by line. The watchdog cuts the
connection once the send's bound (:func:`~zoomsymbl_notifier.smtp.longest_send`) is up, whatever the thread is
waiting for: a reply, or a TLS handshake. smtplib shakes hands inside the calls that create the TLS socket (``tls``:
in ``connect``, before the client has a socket; ``starttls``: it wraps the plain socket, detaching it, and shakes
hands in one call), out of reach of any watcher; CPython bounds a handshake by one socket timeout in all, so a
relay trickling it held the thread one ``smtp_timeout_seconds`` past the bound (and past the outbox's lease with a
step timeout over a tenth of it). So :class:`Client` creates its sockets itself: the plain one is handed to the
watchdog as it connects, the TLS one (same descriptor) before its handshake starts.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class Client(smtplib.SMTP):
    """smtplib's client, watched, knowing when the whole message went out, and waiting longer for its reply.

    RFC 5321 4.5.3.2.6 gives the reply to the final "." 10 minutes: the server may be filtering the message,
    and a client giving up sooner "would typically result in delivery of multiple copies". It gets what is
    left of the send's bound (``final_reply_seconds``), not one step's ``smtp_timeout_seconds``.
    """

    body_sent = False
    final_reply_seconds: float | None = None

    def __init__(self, host: str, port: int, *, timeout: float, watchdog: Watchdog, **kwargs: Any) -> None:
        self._watchdog = watchdog
        self._server_name = host  # the name its certificate must carry
        super().__init__(host, port, timeout=timeout, **kwargs)  # connects and reads the greeting

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's private hook for connect's socket (pinned by tests/notifier/test_smtp_trickled_handshake.py),
        # made as smtplib.SMTP's makes it. Never SMTP_SSL's: that one shakes hands before returning it to be watched.
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._watchdog.watch(sock)
        return sock

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
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

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
