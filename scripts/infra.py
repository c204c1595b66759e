"""Build, start, check and stop the real local servers that tests and services use (no Docker).

    python scripts/infra.py build         resolve/build everything into .cache/, start nothing
    python scripts/infra.py up [--reset] [COMPONENT ...]
                                          build what is missing, start what is not running, wait until ready
    python scripts/infra.py status        one line per component; exit 0 if all are up, else 3
    python scripts/infra.py down [COMPONENT ...]
                                          stop exactly the processes recorded in .cache/run/*.pid (`stop` = `down`)
    python scripts/infra.py env           the `export` lines that point tests and services at the servers
    python scripts/infra.py secure-kafka up|down --dir DIR
                                          a second, private Kafka with SASL_SSL and mutual-TLS listeners under
                                          DIR, for the Kafka security tests (scripts/secure_kafka.py)

Servers: Kafka 4.3.1 (KRaft, single node), FerretDB (MongoDB wire protocol, SQLite), versitygw (S3 API,
posix backend), an SMTP sink (scripts/smtp_sink.py); plus ffmpeg/ffprobe from the system.
Environment: ZS_DATA_DIR (default .cache/data, one folder per server below it; a relative path is taken
from the repository root, as is ZS_SMTP_MAILDIR), ports ZS_KAFKA_PORT (19092), ZS_KAFKA_CONTROLLER_PORT
(19093), ZS_MONGO_PORT (27117), ZS_S3_PORT (7070), ZS_SMTP_PORT (2525), S3 root credentials
ZS_S3_ACCESS_KEY/ZS_S3_SECRET_KEY, ZS_SMTP_MAILDIR (default <data>/smtp/maildir), ZS_SMTP_AUTH_REQUIRED
(see smtp_sink.py), ZS_RESET=1 (same as --reset: wipe the data of stopped servers before starting).
COMPONENT is kafka, mongo, s3 or smtp (default: all four), so one server can be stopped and started
again while the others run (e.g. `infra.py stop kafka`, then `infra.py up kafka`).
Logs go to ZS_LOG_DIR (default .cache/logs)/<server>.log, PIDs and the lock to ZS_RUN_DIR (default
.cache/run)/<server>.pid; with ZS_DATA_DIR, ZS_RUN_DIR, ZS_LOG_DIR and the ports a second, private set of
servers runs beside the shared one, reusing the same builds in .cache/. Everything binds to 127.0.0.1.
Every wait has a deadline and every subprocess a timeout; a server that does not become ready within
START_DEADLINE_S is stopped again and `up` exits 1 with the end of its log.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
KAFKA_VERSION = "4.3.1"
VERSITYGW_MODULE = "github.com/versity/versitygw/cmd/versitygw@v1.7.0"
HOST = "127.0.0.1"
START_DEADLINE_S = 90.0  # a failed `up` must exit within 2 minutes, stopping what it started included
LOCK_TIMEOUT_S = 1800.0  # another `up` may be in the middle of a cold Go build
TRUTHY = frozenset({"1", "true", "yes", "on"})
PORT_DEFAULTS = {
    "ZS_KAFKA_PORT": 19092,
    "ZS_KAFKA_CONTROLLER_PORT": 19093,
    "ZS_MONGO_PORT": 27117,
    "ZS_S3_PORT": 7070,
    "ZS_SMTP_PORT": 2525,
}


class InfraError(Exception):
    """A problem the user has to fix; the message says what and how."""


# ---------------------------------------------------------------- configuration


def parse_port(env: Mapping[str, str], name: str) -> int:
    """The port in ``env[name]``, or its default; a bad value names the variable."""
    raw = env.get(name, "").strip()
    if not raw:
        return PORT_DEFAULTS[name]
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not 1 <= int(raw) <= 65535:
        raise InfraError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


@dataclass(frozen=True)
class Config:
    root: Path
    data_dir: Path
    ports: Mapping[str, int]
    s3_access_key: str
    s3_secret_key: str
    smtp_maildir: Path
    run_dir: Path | None = None  # pid files and the lock; None = <root>/.cache/run
    log_dir: Path | None = None  # server logs; None = <root>/.cache/logs

    @property
    def cache(self) -> Path:
        return self.root / ".cache"

    @property
    def run_path(self) -> Path:
        return self.run_dir or self.cache / "run"

    @property
    def log_path(self) -> Path:
        return self.log_dir or self.cache / "logs"

    @property
    def bin_dir(self) -> Path:
        return self.cache / "bin"

    @property
    def kafka_libs(self) -> Path:
        return self.cache / f"kafka-{KAFKA_VERSION}" / "libs"


def load_config(env: Mapping[str, str], root: Path = ROOT) -> Config:
    ports = {name: parse_port(env, name) for name in PORT_DEFAULTS}
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise InfraError(f"{seen[port]} and {name} are both {port}; give each server its own port")
        seen[port] = name
    data_dir = (root / (env.get("ZS_DATA_DIR", "").strip() or ".cache/data")).resolve()
    maildir = env.get("ZS_SMTP_MAILDIR", "").strip()
    run_dir, log_dir = env.get("ZS_RUN_DIR", "").strip(), env.get("ZS_LOG_DIR", "").strip()
    return Config(
        root=root,
        data_dir=data_dir,
        ports=ports,
        s3_access_key=env.get("ZS_S3_ACCESS_KEY") or "zoomsymbl",
        s3_secret_key=env.get("ZS_S3_SECRET_KEY") or "zoomsymbl-local-secret",
        smtp_maildir=(root / maildir).resolve() if maildir else data_dir / "smtp" / "maildir",
        run_dir=(root / run_dir).resolve() if run_dir else None,
        log_dir=(root / log_dir).resolve() if log_dir else None,
    )


def env_lines(cfg: Config) -> list[str]:
    """What `env` prints: shell-quoted exports for tests and services."""
    values = {
        "ZOOMSYMBL_KAFKA_BOOTSTRAP": f"{HOST}:{cfg.ports['ZS_KAFKA_PORT']}",
        "ZOOMSYMBL_MONGO_URI": f"mongodb://{HOST}:{cfg.ports['ZS_MONGO_PORT']}/",
        "ZOOMSYMBL_S3_ENDPOINT": f"{HOST}:{cfg.ports['ZS_S3_PORT']}",
        "ZOOMSYMBL_S3_ACCESS_KEY": cfg.s3_access_key,
        "ZOOMSYMBL_S3_SECRET_KEY": cfg.s3_secret_key,
        "ZOOMSYMBL_S3_SECURE": "false",
        "ZOOMSYMBL_NOTIFIER_SMTP_HOST": HOST,
        "ZOOMSYMBL_NOTIFIER_SMTP_PORT": str(cfg.ports["ZS_SMTP_PORT"]),
        "ZS_SMTP_MAILDIR": str(cfg.smtp_maildir),
    }
    return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


# ---------------------------------------------------------------- processes and files


def proc_identity(pid: int, proc_root: Path = Path("/proc")) -> tuple[list[str], int] | None:
    """(argv, start time in clock ticks) of a live, non-zombie process, else None."""
    try:
        stat = (proc_root / str(pid) / "stat").read_text()
        argv = (proc_root / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name in parentheses may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return [a.decode(errors="replace") for a in argv if a], int(fields[19])


def is_ours(pid: int, program: str, start: int | None, proc_root: Path = Path("/proc")) -> bool:
    """Whether ``pid`` still runs ``program`` and, if recorded, started when we started it.

    Checking both means a recycled PID is never signalled."""
    ident = proc_identity(pid, proc_root)
    if ident is None:
        return False
    argv, started = ident
    runs_program = any(arg == program or arg.endswith("/" + program) for arg in argv)
    return runs_program and (start is None or start == started)


class PidRecord(NamedTuple):
    """What a pid file holds: ``<pid> <start ticks or -> <addresses or ->``, one line."""

    pid: int
    start: int | None  # /proc/<pid>/stat field 22: tells a recycled PID from ours
    addresses: str  # where the process listens, e.g. "127.0.0.1:19092,127.0.0.1:19093"


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``; None if the file is absent or garbled."""
    try:
        parts = path.read_text().split()
    except OSError:
        return None
    if not parts or not parts[0].isdigit():
        return None
    start = parts[1] if len(parts) > 1 else "-"
    addresses = parts[2] if len(parts) > 2 else "-"
    return PidRecord(int(parts[0]), int(start) if start.isdigit() else None, "" if addresses == "-" else addresses)


def write_pid_file(path: Path, pid: int, addresses: str, proc_root: Path = Path("/proc")) -> None:
    ident = proc_identity(pid, proc_root)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid} {ident[1] if ident else '-'} {addresses or '-'}\n")
    os.replace(tmp, path)


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def run(
    cmd: Sequence[str], timeout: float, what: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run to completion and return stdout; failure or timeout raise InfraError with the output's tail."""
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=full_env
        )
    except subprocess.TimeoutExpired:
        raise InfraError(f"{what}: `{shlex.join(cmd)}` did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise InfraError(f"{what}: `{shlex.join(cmd)}` exited with {done.returncode}:\n{tail}")
    return done.stdout


def require_tool(name: str, purpose: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"`{name}` is not on PATH; it is needed {purpose}. Install it and run again.")
    return path


def parse_java_major(version_output: str) -> int | None:
    """17 from 'openjdk version "17.0.15"', 8 from 'java version "1.8.0_392"'."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@functools.cache
def require_java() -> str:
    java = require_tool("java", "to run Kafka (Java 17 or newer)")
    done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    major = parse_java_major(done.stderr + done.stdout)
    if major is None or major < 17:
        raise InfraError(f"Kafka {KAFKA_VERSION} needs Java 17 or newer; `{java} -version` says {major}")
    return java


def log_tail(path: Path, offset: int, lines: int = 20) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Serialise `build`/`up`/`down` runs so two of them never start the same server twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        deadline, waited = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    print(f"waiting for another infra.py to finish (lock {shown(path)}) ...", file=sys.stderr)
                    waited = True
                if time.monotonic() > deadline:
                    raise InfraError(f"another infra.py still holds {path} after {timeout:.0f}s") from None
                time.sleep(0.25)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rotate_log(path: Path, max_bytes: int = 20 * 1024 * 1024) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_suffix(".log.1"))


def shown(path: Path) -> str:
    """A path relative to the repository when it is inside it: shorter lines in status output."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# ---------------------------------------------------------------- servers


class Server:
    """A long-running local server: built into .cache/, started detached, known by its pid file."""

    name = ""
    program = ""  # an argv entry of the running process: exactly this, or a path ending in /<program>
    port_env = ""
    stop_grace_s = 10.0

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.log_offset = 0

    @property
    def port(self) -> int:
        return self.cfg.ports[self.port_env]

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def port_envs(self) -> tuple[str, ...]:
        return (self.port_env,)

    @property
    def data_dir(self) -> Path:
        return self.cfg.data_dir / self.name

    @property
    def log_file(self) -> Path:
        return self.cfg.log_path / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.cfg.run_path / f"{self.name}.pid"

    def build(self) -> bool:
        """Make what the server needs exist in .cache/; True if something was built."""
        return False

    def prepare(self) -> None:
        """Create data folders and config files before a start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        raise NotImplementedError

    def extra_env(self) -> dict[str, str]:
        return {}

    def probe(self) -> str | None:
        """None when the server answers a real request, else why it did not."""
        raise NotImplementedError

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def advice(self) -> str | None:
        """A line for the developer about this server's data (printed by ``up`` and ``status``), or None."""
        return None

    @property
    def addresses(self) -> str:
        return ",".join(f"{HOST}:{self.cfg.ports[env]}" for env in self.port_envs)

    def running(self) -> PidRecord | None:
        """The pid file's record if that process is alive and ours."""
        recorded = read_pid_file(self.pid_file)
        if recorded is not None and is_ours(recorded.pid, self.program, recorded.start):
            return recorded
        return None

    def running_pid(self) -> int | None:
        recorded = self.running()
        return recorded.pid if recorded else None

    def launch(self) -> subprocess.Popen[bytes]:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        rotate_log(self.log_file)
        with self.log_file.open("ab") as log:
            self.log_offset = log.tell()
            log.write(f"=== infra.py: starting {self.name} at {time.strftime('%FT%T%z')} ===\n".encode())
            log.flush()
            # A new session: the server outlives this script and ignores the terminal's Ctrl-C.
            proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env={**os.environ, **self.extra_env()},
                start_new_session=True,
            )
        write_pid_file(self.pid_file, proc.pid, self.addresses)
        return proc

    def stop(
        self, pid: int, start: int | None, child: subprocess.Popen[bytes] | None = None, grace: float | None = None
    ) -> bool:
        """SIGTERM, SIGKILL after the grace period; True (and the pid file removed) once it is gone."""
        term_wait = self.stop_grace_s if grace is None else grace
        for sig, wait_s in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 2.0)):
            if not is_ours(pid, self.program, start):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and is_ours(pid, self.program, start):
                if child is not None:
                    child.poll()  # reap our own child, else it lingers as a zombie
                time.sleep(0.1)
        gone = not is_ours(pid, self.program, start)
        if gone:
            self.pid_file.unlink(missing_ok=True)
        return gone


def render_server_properties(
    port: int, controller_port: int, log_dir: Path, overrides: Mapping[str, str] | None = None
) -> str:
    """A single-node KRaft broker+controller on loopback with a static voter set (``overrides`` win)."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "3",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        **(overrides or {}),
    }
    lines = [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in props.items()]
    return (
        "# written by scripts/infra.py before every start: change the script, not this file\n" + "\n".join(lines) + "\n"
    )


# The broker's heap, and how many partitions of earlier tests make `up` and `status` say how to start empty.
KAFKA_HEAP = "-Xmx1g"
KAFKA_PARTITIONS_ADVISED = 5_000


class Kafka(Server):
    name = "kafka"
    program = "kafka.Kafka"
    port_env = "ZS_KAFKA_PORT"
    stop_grace_s = 30.0

    @property
    def port_envs(self) -> tuple[str, ...]:
        return ("ZS_KAFKA_PORT", "ZS_KAFKA_CONTROLLER_PORT")

    @property
    def properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def classpath(self) -> str:
        return f"{self.cfg.kafka_libs}/*"

    def build(self) -> bool:
        libs = self.cfg.kafka_libs
        pom = self.cfg.root / "infra" / "kafka" / "pom.xml"
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        marker = libs / ".zoomsymbl-resolved"
        if marker.is_file() and marker.read_text().strip() == digest:
            return False
        if self.running_pid() is not None:
            raise InfraError(f"kafka: {shown(pom)} changed while Kafka runs; run `infra.py down` first")
        mvn = require_tool("mvn", "to resolve the Kafka jars from Maven Central")
        fresh = libs.with_name("libs.tmp")
        shutil.rmtree(fresh, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies"]
        run([*cmd, f"-DoutputDirectory={fresh}", "-DincludeScope=runtime"], 1200, "kafka: resolving jars")
        if not (fresh / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
            raise InfraError(f"kafka: mvn finished but {fresh} lacks kafka_2.13-{KAFKA_VERSION}.jar")
        (fresh / marker.name).write_text(digest + "\n")
        # Swap in a fresh folder, so jars of an older pom never linger on the classpath.
        old = libs.with_name("libs.old")
        shutil.rmtree(old, ignore_errors=True)
        if libs.exists():
            libs.rename(old)
        fresh.rename(libs)
        shutil.rmtree(old, ignore_errors=True)
        return True

    def prepare(self) -> None:
        super().prepare()
        ports = self.cfg.ports
        log_dir = self.data_dir / "logs"
        self.properties.write_text(
            render_server_properties(ports["ZS_KAFKA_PORT"], ports["ZS_KAFKA_CONTROLLER_PORT"], log_dir)
        )
        if (log_dir / "meta.properties").is_file():
            return
        tool = [require_java(), "-XX:TieredStopAtLevel=1", "-cp", self.classpath, "kafka.tools.StorageTool"]
        cluster_id = run([*tool, "random-uuid"], 40, "kafka: cluster id").strip().splitlines()[-1]
        if not re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id):
            raise InfraError(f"kafka: StorageTool random-uuid printed {cluster_id!r}, not a cluster id")
        run([*tool, "format", "-t", cluster_id, "-c", str(self.properties)], 40, "kafka: formatting storage")

    def advice(self) -> str | None:
        # Every test's topics are its own; a session deletes its own at its end (tests/support/names.py), but
        # interrupted sessions and benchmarks leave theirs. Each partition costs the broker heap: a day of tests
        # and benchmarks (thousands of partitions, before the clean-up) ran 512 MiB out of memory on 2026-12-04.
        log_dir = self.data_dir / "logs"
        partitions = sum(1 for p in log_dir.glob("*-*") if p.is_dir() and not p.name.startswith("__"))
        if partitions <= KAFKA_PARTITIONS_ADVISED:
            return None
        return (
            f"kafka holds {partitions} partitions of earlier tests; near {KAFKA_PARTITIONS_ADVISED * 3} its heap "
            "runs out: `make infra-down` then `make infra-up ZS_RESET=1` starts it empty"
        )

    def command(self) -> list[str]:
        return [
            require_java(),
            KAFKA_HEAP,
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
            "-cp",
            self.classpath,
            "kafka.Kafka",
            str(self.properties),
        ]

    def probe(self) -> str | None:
        import asyncio
        import logging

        from aiokafka.client import AIOKafkaClient

        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # connection refusals are expected here

        async def broker_count() -> int:
            client = AIOKafkaClient(bootstrap_servers=self.address, request_timeout_ms=5000)
            try:
                await client.bootstrap()
                metadata = await client.fetch_all_metadata()
                return len(metadata.brokers())
            finally:
                await client.close()

        try:
            brokers = asyncio.run(asyncio.wait_for(broker_count(), 8))
        except Exception as exc:  # any failure just means "not ready yet"; the reason is reported
            return f"metadata request failed: {type(exc).__name__}: {exc}"
        return None if brokers else "metadata lists no broker yet"


class GoServer(Server):
    """A server whose binary is built with the Go toolchain into .cache/bin/."""

    def go_build(self, go: str) -> None:
        raise NotImplementedError

    @property
    def binary(self) -> Path:
        return self.cfg.bin_dir / self.program

    def build(self) -> bool:
        # Existence is enough: a build started elsewhere (another checkout step) renames its result in.
        if self.binary.is_file():
            return False
        self.cfg.bin_dir.mkdir(parents=True, exist_ok=True)
        self.go_build(require_tool("go", f"to build {self.program} (Go 1.24 or newer)"))
        return True


class Mongo(GoServer):
    """FerretDB with the SQLite backend, from the wrapper module in infra/ferretdb."""

    name = "mongo"
    program = "zoomsymbl-ferretdb"
    port_env = "ZS_MONGO_PORT"

    @property
    def source(self) -> Path:
        return self.cfg.root / "infra" / "ferretdb"

    @functools.cached_property
    def binary(self) -> Path:
        """Named after the wrapper's sources, so a checkout that changed them builds its own (the old one stays); read
        once per server object (build, start and the command line all ask)."""
        digest = hashlib.sha256()
        for path in [*sorted(self.source.glob("*.go")), self.source / "go.mod", self.source / "go.sum"]:
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return self.cfg.bin_dir / f"ferretdb-{digest.hexdigest()[:12]}" / self.program

    def go_build(self, go: str) -> None:
        src = self.source
        env = {"GOFLAGS": "-mod=mod"}
        if not (src / "go.sum").is_file():
            run([go, "mod", "tidy"], 900, "mongo: go mod tidy", cwd=src, env=env)
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.binary.with_name(f".{self.program}.{os.getpid()}.tmp")
        run([go, "build", "-o", str(tmp), "."], 1800, "mongo: building FerretDB", cwd=src, env=env)
        os.replace(tmp, self.binary)

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--listen-addr",
            self.address,
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "error",
        ]

    def probe(self) -> str | None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://{self.address}/",
            directConnection=True,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=5000,
        )
        try:
            client.admin.command("ping")
        except PyMongoError as exc:
            return f"ping failed: {type(exc).__name__}: {exc}"
        finally:
            client.close()
        return None


class S3(GoServer):
    """versitygw, posix backend; metadata in a sidecar folder, so the filesystem needs no xattrs."""

    name = "s3"
    program = "versitygw"
    port_env = "ZS_S3_PORT"

    def go_build(self, go: str) -> None:
        gobin = self.cfg.bin_dir / f".gobin.{os.getpid()}"
        try:
            run([go, "install", VERSITYGW_MODULE], 1800, "s3: building versitygw", env={"GOBIN": str(gobin)})
            os.replace(gobin / self.program, self.binary)
        finally:
            shutil.rmtree(gobin, ignore_errors=True)

    def prepare(self) -> None:
        for sub in ("buckets", "meta"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        buckets, meta = self.data_dir / "buckets", self.data_dir / "meta"
        return [str(self.binary), "--port", self.address, "--quiet", "posix", "--sidecar", str(meta), str(buckets)]

    def extra_env(self) -> dict[str, str]:
        # Credentials through the environment keep them out of `ps` output; versitygw reads both spellings.
        access, secret = self.cfg.s3_access_key, self.cfg.s3_secret_key
        return {
            "ROOT_ACCESS_KEY_ID": access,
            "ROOT_ACCESS_KEY": access,
            "ROOT_SECRET_ACCESS_KEY": secret,
            "ROOT_SECRET_KEY": secret,
        }

    def probe(self) -> str | None:
        import urllib3
        from minio import Minio
        from minio.error import MinioException

        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=5.0), retries=False)
        client = Minio(self.address, self.cfg.s3_access_key, self.cfg.s3_secret_key, secure=False, http_client=http)
        try:
            client.list_buckets()
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            return f"list_buckets failed: {type(exc).__name__}: {exc}"
        finally:
            http.clear()
        return None


class Smtp(Server):
    """scripts/smtp_sink.py: stores every message as an .eml file in the maildir."""

    name = "smtp"
    program = "smtp_sink.py"
    port_env = "ZS_SMTP_PORT"

    def prepare(self) -> None:
        super().prepare()
        self.cfg.smtp_maildir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        script = self.cfg.root / "scripts" / self.program
        port, maildir = str(self.port), str(self.cfg.smtp_maildir)
        return [sys.executable, str(script), "--host", HOST, "--port", port, "--maildir", maildir]

    def wipe(self) -> None:
        super().wipe()
        # A maildir outside the data folder may be shared: remove only the messages.
        for pattern in ("*.eml", "tmp/*.eml.tmp"):
            for path in self.cfg.smtp_maildir.glob(pattern):
                path.unlink(missing_ok=True)

    def probe(self) -> str | None:
        import smtplib

        try:
            with smtplib.SMTP(HOST, self.port, timeout=3) as smtp:
                code, _ = smtp.ehlo()
        except (smtplib.SMTPException, OSError) as exc:
            return f"EHLO failed: {type(exc).__name__}: {exc}"
        return None if code == 250 else f"EHLO answered {code}"


COMPONENTS = ("kafka", "mongo", "s3", "smtp")


def make_servers(cfg: Config, only: Sequence[str] = ()) -> list[Server]:
    """Every server, or only those named in ``only`` (in start order either way)."""
    unknown = sorted(set(only) - set(COMPONENTS))
    if unknown:
        raise InfraError(f"unknown component(s) {unknown!r}; choose among {list(COMPONENTS)!r}")
    servers: list[Server] = [Kafka(cfg), Mongo(cfg), S3(cfg), Smtp(cfg)]
    return [server for server in servers if not only or server.name in only]


# ---------------------------------------------------------------- ffmpeg and toolchains

MEDIA_TOOLS = ("ffmpeg", "ffprobe")


def media_tool_status(name: str) -> tuple[bool, str]:
    path = shutil.which(name)
    if path is None:
        return False, "not on PATH"
    try:
        first = run([path, "-version"], 20, name).splitlines()[0]
    except (InfraError, IndexError) as exc:
        return False, f"{path}: {exc}"
    return True, f"{path} ({first})"


def ensure_media_tools() -> None:
    """ffmpeg and ffprobe from Debian when missing and we are root; otherwise say how to get them."""
    if all(shutil.which(name) for name in MEDIA_TOOLS):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InfraError("ffmpeg/ffprobe are not on PATH; install them (Debian/Ubuntu: sudo apt-get install ffmpeg)")
    print("ffmpeg   installing with apt-get ...", flush=True)
    install = ["apt-get", "install", "-y", "--no-install-recommends", "ffmpeg"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        run(install, 1200, "ffmpeg: apt-get install", env=env)
    except InfraError:
        run(["apt-get", "update"], 600, "ffmpeg: apt-get update", env=env)
        run(install, 1200, "ffmpeg: apt-get install", env=env)


def toolchain_line(name: str, purpose: str) -> str:
    path = shutil.which(name)
    return f"{name:<8} {'found ' + path if path else 'MISSING'} (needed {purpose})"


# ---------------------------------------------------------------- commands


def lock_file(cfg: Config) -> Path:
    return cfg.run_path / "infra.lock"


def build_all(cfg: Config, servers: Sequence[Server], verbose: bool) -> None:
    require_java()
    if verbose:
        print(toolchain_line("java", "to run Kafka"))
        print(toolchain_line("mvn", "only to resolve the Kafka jars"))
        print(toolchain_line("go", "only to build FerretDB and versitygw"))
    for server in servers:
        started = time.monotonic()
        if server.build():
            print(f"{server.name:<8} built in {time.monotonic() - started:.0f}s", flush=True)
        elif verbose:
            print(f"{server.name:<8} cached")
    ensure_media_tools()
    if verbose:
        for name in MEDIA_TOOLS:
            print(f"{name:<8} {media_tool_status(name)[1]}")


def await_ready(server: Server, child: subprocess.Popen[bytes] | None, deadline: float) -> str | None:
    """Poll until the server answers; on failure stop what we started and return a message with its log."""
    started = time.monotonic()
    while True:
        if child is not None and (code := child.poll()) is not None:
            reason = f"exited with code {code}"
            break
        if child is None and server.running_pid() is None:
            reason = "stopped while we waited for it"
            break
        error = server.probe()
        if error is None:
            verb = f"started in {time.monotonic() - started:.1f}s" if child else "already running"
            print(f"{server.name:<8} up  pid {server.running_pid()}  {server.address}  {verb}", flush=True)
            return None
        if time.monotonic() > deadline:
            reason = f"not ready in time ({error})"
            break
        time.sleep(0.5)
    if child is not None:
        recorded = read_pid_file(server.pid_file)
        server.stop(child.pid, recorded.start if recorded else None, child, grace=3.0)
    tail = log_tail(server.log_file, server.log_offset if child else 0)
    return (
        f"{server.name} failed to start: {reason}. Log {server.log_file} ends with:\n{tail}\n"
        f"(servers that did start keep running; `infra.py down` stops them, `up --reset` wipes stopped ones' data)"
    )


def cmd_up(cfg: Config, reset: bool, only: Sequence[str] = ()) -> int:
    servers = make_servers(cfg, only)
    with exclusive_lock(lock_file(cfg)):
        build_all(cfg, servers, verbose=False)
        running = {server.name: server.running() for server in servers}
        moved = [
            f"{server.name} runs (pid {record.pid}) on {record.addresses}, but the environment asks for "
            f"{server.addresses}; run `infra.py down` first"
            for server in servers
            if (record := running[server.name]) and record.addresses and record.addresses != server.addresses
        ]
        if moved:
            raise InfraError("\n".join(moved))
        to_start = [server for server in servers if running[server.name] is None]
        conflicts = [
            f"{server.name}: port {cfg.ports[env]} on {HOST} is already in use by a process we did not start; "
            f"stop it or move {server.name} with {env}=<free port>"
            for server in to_start
            for env in server.port_envs
            if port_in_use(cfg.ports[env])
        ]
        if conflicts:
            raise InfraError("\n".join(conflicts))
        deadline = time.monotonic() + START_DEADLINE_S
        for server in servers:
            if server in to_start:
                server.pid_file.unlink(missing_ok=True)  # absent, or stale: its process is gone
            if reset and server in to_start:
                server.wipe()
                print(f"{server.name:<8} data wiped ({shown(server.data_dir)})")
            elif reset:
                print(f"{server.name:<8} data kept: it is running (`infra.py down` first to wipe it)")
        children: dict[str, subprocess.Popen[bytes]] = {}
        for server in to_start:
            server.prepare()
            children[server.name] = server.launch()
        failures = [
            failure
            for server in servers
            if (failure := await_ready(server, children.get(server.name), deadline)) is not None
        ]
    if failures:
        raise InfraError("\n\n".join(failures))
    for name in MEDIA_TOOLS:
        print(f"{name:<8} {media_tool_status(name)[1]}")
    for server in servers:
        if (advice := server.advice()) is not None:
            print(f"{server.name:<8} {advice}")
    print('all up; for the environment run: eval "$(uv run python scripts/infra.py env)"')
    return 0


def cmd_down(cfg: Config, only: Sequence[str] = ()) -> int:
    ok = True
    servers = make_servers(cfg, only)
    with exclusive_lock(lock_file(cfg)):
        for server in reversed(servers):
            recorded = read_pid_file(server.pid_file)
            if recorded is None:
                print(f"{server.name:<8} not running (no pid file)")
                continue
            pid, start, _ = recorded
            if not is_ours(pid, server.program, start):
                server.pid_file.unlink(missing_ok=True)
                print(f"{server.name:<8} pid {pid} is gone or no longer ours; removed the stale pid file")
            elif server.stop(pid, start):
                print(f"{server.name:<8} stopped (pid {pid})")
            else:
                ok = False
                print(f"{server.name:<8} pid {pid} survived SIGKILL; pid file kept", file=sys.stderr)
    return 0 if ok else 1


def cmd_status(cfg: Config) -> int:
    all_up = True
    for server in make_servers(cfg):
        pid = server.running_pid()
        error = server.probe() if pid is not None else None
        if pid is None:
            taken = any(port_in_use(cfg.ports[env]) for env in server.port_envs)
            state = "foreign" if taken else "down"
        else:
            state = "up" if error is None else "unready"
        all_up = all_up and state == "up"
        detail = f"  ({error})" if error else ""
        print(
            f"{server.name:<8} {state:<8} pid={pid or '-'!s:<8} {server.address:<16} {shown(server.log_file)}{detail}"
        )
        if (advice := server.advice()) is not None:
            print(f"{server.name:<8} {advice}")
    for name in MEDIA_TOOLS:
        found, detail = media_tool_status(name)
        all_up = all_up and found
        print(f"{name:<8} {'up' if found else 'down':<8} pid={'-':<8} {'-':<16} {detail}")
    return 0 if all_up else 3


def cmd_build(cfg: Config) -> int:
    with exclusive_lock(lock_file(cfg)):
        build_all(cfg, make_servers(cfg), verbose=True)
    return 0


def cmd_secure_kafka(action: str, work_dir: Path) -> int:
    if __package__:
        from scripts import secure_kafka
    else:  # run as a script: let secure_kafka's `import infra` find this very module, not a second copy
        sys.modules.setdefault("infra", sys.modules[__name__])
        import secure_kafka  # type: ignore[import-not-found,no-redef]
    return secure_kafka.main(action, work_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local servers for zoomsymbl (no Docker).")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="build what is missing, start what is not running, wait until ready")
    up.add_argument("--reset", action="store_true", help="wipe the data of stopped servers first (or ZS_RESET=1)")
    # No argparse `choices`: with nargs="*" Python 3.11 rejects an empty list; make_servers checks names.
    only_help = f"only these servers, among {', '.join(COMPONENTS)} (default: all)"
    up.add_argument("components", nargs="*", metavar="COMPONENT", help=only_help)
    down = commands.add_parser("down", aliases=["stop"], help="stop the servers this script started")
    down.add_argument("components", nargs="*", metavar="COMPONENT", help=only_help)
    commands.add_parser("status", help="one line per component; exit 0 if all are up, else 3")
    commands.add_parser("build", help="resolve and build everything into .cache/, start nothing")
    commands.add_parser("env", help="print export lines for tests and services")
    secure = commands.add_parser(
        "secure-kafka", help="a second, private Kafka with SASL_SSL and mutual-TLS listeners (scripts/secure_kafka.py)"
    )
    secure.add_argument("action", choices=("up", "down"))
    secure.add_argument("--dir", required=True, type=Path, help="its own folder: TLS material, data, log, pid file")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(os.environ)
        if args.command == "up":
            reset = args.reset or os.environ.get("ZS_RESET", "").strip().lower() in TRUTHY
            return cmd_up(cfg, reset, args.components)
        if args.command in ("down", "stop"):
            return cmd_down(cfg, args.components)
        if args.command == "status":
            return cmd_status(cfg)
        if args.command == "build":
            return cmd_build(cfg)
        if args.command == "secure-kafka":
            return cmd_secure_kafka(args.action, args.dir)
        print("\n".join(env_lines(cfg)))
        return 0
    except InfraError as exc:
        print(f"infra.py {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a data folder that cannot be created, a full disk: say so without a traceback
        print(f"infra.py {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
