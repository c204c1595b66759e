"""A private CA, a second CA that signed nothing we serve, and a server certificate for 127.0.0.1/localhost.

Made with openssl as the secured Kafka's are (scripts/secure_kafka.py); used by the tests that put TLS in front
of a local server (S3, the MongoDB-wire server, an OTLP receiver).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from scripts import secure_kafka


@dataclass(frozen=True)
class TlsMaterial:
    folder: Path

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate."""
        return self.folder / "ca.pem"

    @property
    def other_ca_file(self) -> Path:
        """A CA that signed nothing served here: trusting only it must refuse the server."""
        return self.folder / "other-ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key_file(self) -> Path:
        return self.folder / "server.key"

    def server_context(self) -> ssl.SSLContext:
        """The server side's context with the certificate loaded."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_tls_material(folder: Path) -> TlsMaterial:
    """Both CAs and the server's certificate (127.0.0.1, localhost) in ``folder``."""
    for name in ("ca", "other-ca"):
        secure_kafka.make_ca(folder, name)
    secure_kafka.make_leaf(folder, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    return TlsMaterial(folder)
