"""A private set of local servers (Kafka, MongoDB-wire, S3, SMTP) that the reliability suite may stop.

The shared servers other engineers' tests use are never touched: this set runs from its own data,
pid and log folders on its own ports (``scripts/infra.py`` with ZS_DATA_DIR, ZS_RUN_DIR,
ZS_LOG_DIR and ZS_*_PORT), reusing the builds cached in ``.cache/``. The S3 secret key and the SMTP
password are recognisable values, so the secrets scan can look for them.
"""

from __future__ import annotations

import email
import random
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]
INFRA_SCRIPT = ROOT / "scripts" / "infra.py"
HOST = "127.0.0.1"
Component = Literal["kafka", "mongo", "s3", "smtp"]
S3_ACCESS_KEY = "reliability-access"
S3_SECRET_KEY = "S3SECRET-rel-7f3a9c1e5b"
SMTP_USER = "zoomsymbl-notifier"
SMTP_PASSWORD = "SMTPPASS-rel-4d8e2a6c0f"
START_TIMEOUT_S = 300.0
_HANDED_OUT: set[int] = set()  # never hand the same port out twice in one test run


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports outside the kernel's ephemeral range.

    A server stopped and started again must get its port back: a port from the ephemeral range
    (what binding to port 0 returns) may meanwhile be the local end of some outgoing connection,
    and the restart would fail with "address already in use".
    """
    low, _ = _ephemeral_range()
    candidates = [p for p in range(max(1024, low - 12_000), low) if p not in _HANDED_OUT]
    random.shuffle(candidates)
    found: list[int] = []
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            _HANDED_OUT.update(found)
            return found
    raise RuntimeError(f"no {count} free ports below {low}")


@dataclass
class PrivateInfra:
    """The private servers under ``base``; ``up``/``down`` one component or all of them."""

    base: Path
    ports: dict[str, int] = field(default_factory=dict)
    _parsed: dict[Path, EmailMessage] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.ports:
            names = ("ZS_KAFKA_PORT", "ZS_KAFKA_CONTROLLER_PORT", "ZS_MONGO_PORT", "ZS_S3_PORT", "ZS_SMTP_PORT")
            self.ports = dict(zip(names, free_ports(len(names)), strict=True))

    @property
    def maildir(self) -> Path:
        """Where the private SMTP sink stores messages."""
        return self.base / "maildir"

    def script_env(self) -> dict[str, str]:
        """The environment of ``scripts/infra.py`` for this set."""
        return {
            "ZS_DATA_DIR": str(self.base / "data"),
            "ZS_RUN_DIR": str(self.base / "run"),
            "ZS_LOG_DIR": str(self.base / "logs"),
            "ZS_SMTP_MAILDIR": str(self.maildir),
            "ZS_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "ZS_S3_SECRET_KEY": S3_SECRET_KEY,
            "ZS_SMTP_AUTH_REQUIRED": "1",
            "ZS_SMTP_USER": SMTP_USER,
            "ZS_SMTP_PASSWORD": SMTP_PASSWORD,
            **{name: str(port) for name, port in self.ports.items()},
        }

    def service_env(self) -> dict[str, str]:
        """What points the services (and test clients) at this set."""
        return {
            "ZOOMSYMBL_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "ZOOMSYMBL_MONGO_URI": self.mongo_uri,
            "ZOOMSYMBL_S3_ENDPOINT": self.s3_endpoint,
            "ZOOMSYMBL_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "ZOOMSYMBL_S3_SECRET_KEY": S3_SECRET_KEY,
            "ZOOMSYMBL_S3_SECURE": "false",
            "ZOOMSYMBL_NOTIFIER_SMTP_PORT": str(self.smtp_port),
            "ZOOMSYMBL_NOTIFIER_SMTP_USERNAME": SMTP_USER,
            "ZOOMSYMBL_NOTIFIER_SMTP_PASSWORD": SMTP_PASSWORD,
        }

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.ports['ZS_KAFKA_PORT']}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{HOST}:{self.ports['ZS_MONGO_PORT']}/"

    @property
    def s3_endpoint(self) -> str:
        return f"{HOST}:{self.ports['ZS_S3_PORT']}"

    @property
    def smtp_port(self) -> int:
        return self.ports["ZS_SMTP_PORT"]

    def log(self, component: Component) -> Path:
        """The log file of one server."""
        return self.base / "logs" / f"{component}.log"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        env = {**_inherited_env(), **self.script_env()}
        done = subprocess.run(
            [sys.executable, str(INFRA_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"infra.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")

    def up(self, *components: Component) -> None:
        """Start the named servers (all when none is named) and wait until they answer."""
        self._run("up", *components)

    def down(self, *components: Component) -> None:
        """Stop the named servers (all when none is named): SIGTERM, then SIGKILL after the grace period."""
        self._run("down", *components, timeout=120.0)

    def mails(self) -> list[EmailMessage]:
        """Every message the private SMTP sink stored, oldest first (each file is parsed once: the sink
        renames a message into place complete and never changes it afterwards)."""
        for path in sorted(self.maildir.glob("*.eml")):
            if path not in self._parsed:
                message = email.message_from_bytes(path.read_bytes(), policy=default)
                assert isinstance(message, EmailMessage)
                self._parsed[path] = message
        return [self._parsed[path] for path in sorted(self._parsed)]

    def raw_mails(self) -> list[bytes]:
        """Every stored message as the bytes the notifier sent (plus the sink's envelope headers)."""
        return [path.read_bytes() for path in sorted(self.maildir.glob("*.eml"))]


def _inherited_env() -> Mapping[str, str]:
    import os

    # The private set must not inherit a ZS_* setting meant for the shared servers.
    return {k: v for k, v in os.environ.items() if not k.startswith("ZS_")}
