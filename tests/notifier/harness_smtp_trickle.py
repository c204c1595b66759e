"""A relay that keeps a send waiting without ever letting one socket step time out: it says a few lines, then
trickles something (``220-`` lines, the bytes of a TLS record) a piece at a time, each piece well within
``smtp_timeout_seconds``, until the client hangs up or the test stops it."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator, Sequence

READ = None  # a step of the relay's script: read what the client says (a command, a TLS ClientHello)

GREETING = b"220 relay.test ready\r\n"
EHLO_STARTTLS = b"250-relay.test\r\n250 STARTTLS\r\n"
GO_AHEAD = b"220 2.0.0 ready to start TLS\r\n"
# A TLS handshake record announcing 16384 bytes (a ServerHello would start so): the client waits for all of them.
TLS_RECORD = b"\x16\x03\x03\x40\x00\x02"


def lines(line: bytes) -> Iterator[bytes]:
    while True:
        yield line


def record_bytes() -> Iterator[bytes]:
    """The record one byte at a time, then its (never complete) body."""
    yield from (bytes([b]) for b in TLS_RECORD)
    while True:
        yield b"\x00"


class TricklingRelay:
    """Plays ``script`` (bytes to send, :data:`READ` to read), then sends the ``pieces`` one every ``every``
    seconds for ``patience`` seconds at most, or until the client hangs up (``cut_by_client``) or
    :meth:`close` stops it (it then hangs up itself)."""

    def __init__(
        self, script: Sequence[bytes | None], pieces: Iterator[bytes], *, every: float, patience: float
    ) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._script = script
        self._pieces = pieces
        self._every = every
        self._count = int(patience / every)
        self._stop = threading.Event()
        self.heard: list[bytes] = []  # what each READ step read (b"": the client had hung up)
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
            for step in self._script:
                if step is READ:
                    self.heard.append(conn.recv(65536))
                else:
                    conn.sendall(step)
            self.cut_by_client = self._trickle(conn)

    def _trickle(self, conn: socket.socket) -> bool:
        """True when the client hung up while the relay still had pieces to send."""
        for _, piece in zip(range(self._count), self._pieces, strict=False):
            try:
                conn.sendall(piece)
            except OSError:
                return True
            if _hung_up(conn, 0.0):
                return True
            if self._stop.wait(self._every):
                return _hung_up(conn, 5.0)  # the test is done: did the client hang up first?
        return False


def _hung_up(conn: socket.socket, wait: float) -> bool:
    """Whether the client closed its side within ``wait`` seconds (what it still sends is read and dropped)."""
    try:
        while select.select([conn], [], [], wait)[0]:
            if not conn.recv(65536):
                return True
    except OSError:
        return True
    return False
