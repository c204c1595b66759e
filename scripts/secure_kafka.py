"""A second, private Kafka with TLS and SASL listeners, for the tests of zoomsymbl's Kafka security settings.

    python scripts/infra.py secure-kafka up --dir DIR     start it (free ports, own data, own TLS material);
                                                          prints where it listens and the test credentials as JSON
    python scripts/infra.py secure-kafka down --dir DIR   stop exactly the process recorded in DIR/run

It uses the jars the shared Kafka uses (.cache/kafka-<version>/libs) and nothing of the shared server:
every file (TLS material, data, log, pid file) lives under DIR. Listeners, all on 127.0.0.1:

- SASL_SSL: SCRAM-SHA-512 and SCRAM-SHA-256, users created at format time (``--add-scram``);
  the server certificate names ``127.0.0.1`` and ``localhost`` and is signed by DIR/tls/ca.pem.
- SSL: mutual TLS, a client certificate signed by the same CA is required (DIR/tls/client.pem, client.key).
- CONTROLLER: plaintext, KRaft only.

Authorization is on (StandardAuthorizer, nothing allowed without an ACL). Super users: ``admin``, the
test users ``zoomsymbl`` and ``zoomsymbl256``, the mutual-TLS client (``CN=client``) and ANONYMOUS (the
broker's own requests on the plaintext CONTROLLER listener). The users ``zoomsymbl-<service>``
(ingest, mixer, submitter, transcriber, notifier, topics) may do only what ACLs allow: the tests
grant them the ones docs/kafka-security.md lists (:func:`kafka_acls` runs kafka-acls' AclCommand).

DIR/tls/other-ca.pem is a CA that signed nothing here (the "wrong CA" of the tests). The passwords are
random per start and written only to DIR/secure-kafka.json and DIR/admin.properties (mode 0600).
"""

from __future__ import annotations

import json
import secrets
import shlex
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__:
    from scripts import infra
else:  # run as `python scripts/infra.py`: scripts/ is on sys.path
    import infra  # type: ignore[no-redef]

INFO_FILE = "secure-kafka.json"
ADMIN_PROPERTIES = "admin.properties"
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
SUPER_USERS = ("admin", "zoomsymbl", "zoomsymbl256", "CN=client", "ANONYMOUS")
# Users with no rights but their ACLs: one per principal of the ACL table in docs/kafka-security.md.
ACL_USERS = tuple(f"zoomsymbl-{name}" for name in ("ingest", "mixer", "submitter", "transcriber", "notifier", "topics"))
OPENSSL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SecureKafkaInfo:
    """Where the secured broker listens, its TLS files and its test users (what `up` prints)."""

    pid: int
    sasl_bootstrap: str  # SASL_SSL listener
    ssl_bootstrap: str  # SSL listener that requires a client certificate
    ca_file: str
    other_ca_file: str
    client_cert_file: str
    client_key_file: str
    users: dict[str, dict[str, str]]  # name -> {"mechanism": ..., "password": ...}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((infra.HOST, 0))
        return int(sock.getsockname()[1])


def openssl(args: list[str], what: str, cwd: Path) -> None:
    infra.run([infra.require_tool("openssl", "to make the test TLS material"), *args], OPENSSL_TIMEOUT_S, what, cwd=cwd)


def make_ca(folder: Path, name: str) -> None:
    """``name``.pem and ``name``.key: a self-signed CA (EC P-256, valid 2 days)."""
    openssl(
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=zoomsymbl test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ],
        f"secure-kafka: {name}",
        folder,
    )  # fmt: skip


def make_leaf(folder: Path, name: str, extensions: str) -> None:
    """``name``.pem and ``name``.key signed by ca.pem, with ``extensions`` (an openssl extension section body)."""
    (folder / f"{name}.ext").write_text(extensions)
    openssl(
        [
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        ],
        f"secure-kafka: {name} key",
        folder,
    )  # fmt: skip
    openssl(
        [
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        ],
        f"secure-kafka: signing {name}",
        folder,
    )  # fmt: skip


def make_tls_material(folder: Path, keystore_password: str) -> None:
    """A CA, the broker's PKCS#12 keystore (127.0.0.1, localhost), a client certificate, and an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    make_leaf(folder, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    make_leaf(folder, "client", "extendedKeyUsage=clientAuth\n")
    openssl(
        [
            "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
            "-name", "kafka", "-out", "server.p12", "-passout", f"pass:{keystore_password}",
        ],
        "secure-kafka: keystore",
        folder,
    )  # fmt: skip
    for key in folder.glob("*.key"):
        key.chmod(0o600)


def jaas(user: str, password: str) -> str:
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'


class SecureKafka(infra.Kafka):
    """The shared Kafka's build and start/stop, with SASL_SSL and SSL listeners instead of PLAINTEXT."""

    name = "kafka-secure"

    def __init__(self, cfg: infra.Config, users: dict[str, dict[str, str]], keystore_password: str) -> None:
        super().__init__(cfg)
        self.users = users
        self.keystore_password = keystore_password

    @property
    def port_envs(self) -> tuple[str, ...]:
        return ("ZS_KAFKA_PORT", "ZS_KAFKA_SSL_PORT", "ZS_KAFKA_CONTROLLER_PORT")

    @property
    def tls_dir(self) -> Path:
        return self.cfg.data_dir / "tls"

    def server_properties(self) -> str:
        ports, tls = self.cfg.ports, self.tls_dir
        sasl, ssl_port = f"{infra.HOST}:{ports['ZS_KAFKA_PORT']}", f"{infra.HOST}:{ports['ZS_KAFKA_SSL_PORT']}"
        admin = self.users["admin"]["password"]
        controller = f"{infra.HOST}:{ports['ZS_KAFKA_CONTROLLER_PORT']}"
        overrides = {
            "listeners": f"SASL_SSL://{sasl},SSL://{ssl_port},CONTROLLER://{controller}",
            "advertised.listeners": f"SASL_SSL://{sasl},SSL://{ssl_port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls / "server.p12"),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            "listener.name.ssl.ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": ";".join(f"User:{user}" for user in SUPER_USERS),
            "allow.everyone.if.no.acl.found": "false",
        }
        for mechanism in SCRAM_MECHANISMS:
            overrides[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = jaas("admin", admin)
        return infra.render_server_properties(
            ports["ZS_KAFKA_PORT"], ports["ZS_KAFKA_CONTROLLER_PORT"], self.data_dir / "logs", overrides
        )

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        make_tls_material(self.tls_dir, self.keystore_password)
        self.properties.write_text(self.server_properties())
        self.properties.chmod(0o600)
        java = infra.require_java()
        tool = [java, "-XX:TieredStopAtLevel=1", "-cp", self.classpath, "kafka.tools.StorageTool"]
        cluster_id = infra.run([*tool, "random-uuid"], 40, "secure-kafka: cluster id").strip().splitlines()[-1]
        scram = [
            arg
            for user, spec in self.users.items()
            for mechanism in ((*SCRAM_MECHANISMS,) if user == "admin" else (spec["mechanism"],))
            for arg in ("--add-scram", f"{mechanism}=[name={user},password={spec['password']}]")
        ]
        infra.run([*tool, "format", "-t", cluster_id, "-c", str(self.properties), *scram], 40, "secure-kafka: format")

    def probe(self) -> str | None:
        import asyncio
        import logging
        import ssl

        from aiokafka.client import AIOKafkaClient

        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        context = ssl.create_default_context(cafile=str(self.tls_dir / "ca.pem"))

        async def broker_count() -> int:
            client = AIOKafkaClient(
                bootstrap_servers=self.address,
                request_timeout_ms=5000,
                security_protocol="SASL_SSL",
                ssl_context=context,
                sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username="admin",
                sasl_plain_password=self.users["admin"]["password"],
            )
            try:
                await client.bootstrap()
                return len((await client.fetch_all_metadata()).brokers())
            finally:
                await client.close()

        try:
            brokers = asyncio.run(asyncio.wait_for(broker_count(), 8))
        except Exception as exc:  # any failure just means "not ready yet"; the reason is reported
            return f"SASL_SSL metadata request failed: {type(exc).__name__}"
        return None if brokers else "metadata lists no broker yet"


def secure_config(work_dir: Path, ports: dict[str, int]) -> infra.Config:
    base = infra.load_config({})
    return infra.Config(
        root=base.root,
        data_dir=work_dir,
        ports={**base.ports, **ports},
        s3_access_key=base.s3_access_key,
        s3_secret_key=base.s3_secret_key,
        smtp_maildir=work_dir / "unused-maildir",
        run_dir=work_dir / "run",
        log_dir=work_dir / "logs",
    )


def up(work_dir: Path, deadline_s: float = infra.START_DEADLINE_S) -> SecureKafkaInfo:
    """Start the secured broker under ``work_dir`` (which must not hold a running one) and wait until it answers."""
    work_dir = work_dir.resolve()
    if (info := read_info(work_dir)) is not None and infra.read_pid_file(pid_file(work_dir)) is not None:
        raise infra.InfraError(f"a secured Kafka (pid {info.pid}) may still run from {work_dir}: run `down` first")
    ports = {name: free_port() for name in ("ZS_KAFKA_PORT", "ZS_KAFKA_SSL_PORT", "ZS_KAFKA_CONTROLLER_PORT")}
    users = {
        "admin": {"mechanism": "SCRAM-SHA-512", "password": secrets.token_urlsafe(18)},
        "zoomsymbl": {"mechanism": "SCRAM-SHA-512", "password": secrets.token_urlsafe(18)},
        "zoomsymbl256": {"mechanism": "SCRAM-SHA-256", "password": secrets.token_urlsafe(18)},
    } | {user: {"mechanism": "SCRAM-SHA-512", "password": secrets.token_urlsafe(18)} for user in ACL_USERS}
    server = SecureKafka(secure_config(work_dir, ports), users, secrets.token_urlsafe(18))
    server.build()
    server.prepare()
    child = server.launch()
    failure = infra.await_ready(server, child, time.monotonic() + deadline_s)
    if failure is not None:
        raise infra.InfraError(failure)
    tls = server.tls_dir
    info = SecureKafkaInfo(
        pid=child.pid,
        sasl_bootstrap=server.address,
        ssl_bootstrap=f"{infra.HOST}:{ports['ZS_KAFKA_SSL_PORT']}",
        ca_file=str(tls / "ca.pem"),
        other_ca_file=str(tls / "other-ca.pem"),
        client_cert_file=str(tls / "client.pem"),
        client_key_file=str(tls / "client.key"),
        users=users,
    )
    path = work_dir / INFO_FILE
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(info), indent=2) + "\n")
    admin = work_dir / ADMIN_PROPERTIES
    admin.touch(mode=0o600)
    admin.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.jaas.config={jaas('admin', users['admin']['password'])}\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={info.ca_file}\n"
    )
    return info


def kafka_acls(work_dir: Path, args: list[str], timeout: float = 60.0) -> str:
    """Run Kafka's own kafka-acls (AclCommand) as ``admin`` against the broker under ``work_dir``; its stdout."""
    info = read_info(work_dir.resolve())
    if info is None:
        raise infra.InfraError(f"no secured Kafka was started under {work_dir}")
    cfg = secure_config(work_dir.resolve(), {})
    classpath = f"{cfg.kafka_libs}/*"
    config = str(work_dir.resolve() / ADMIN_PROPERTIES)
    command = [infra.require_java(), "-XX:TieredStopAtLevel=1", "-cp", classpath, "org.apache.kafka.tools.AclCommand"]
    base = ["--bootstrap-server", info.sasl_bootstrap, "--command-config", config]
    return infra.run([*command, *base, *args], timeout, "kafka-acls")


def down(work_dir: Path) -> bool:
    """Stop the secured broker recorded under ``work_dir`` by its pid; True when none runs afterwards."""
    work_dir = work_dir.resolve()
    recorded = infra.read_pid_file(pid_file(work_dir))
    if recorded is None:
        return True
    server = SecureKafka(secure_config(work_dir, {}), {}, "")
    if not infra.is_ours(recorded.pid, server.program, recorded.start):
        pid_file(work_dir).unlink(missing_ok=True)
        return True
    return server.stop(recorded.pid, recorded.start)


def pid_file(work_dir: Path) -> Path:
    return work_dir / "run" / f"{SecureKafka.name}.pid"


def read_info(work_dir: Path) -> SecureKafkaInfo | None:
    """What the last `up` under ``work_dir`` wrote, or None."""
    try:
        return SecureKafkaInfo(**json.loads((work_dir / INFO_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def main(action: str, work_dir: Path) -> int:
    """`infra.py secure-kafka up|down --dir DIR`."""
    if action == "up":
        info = up(work_dir)
        print(json.dumps(asdict(info), indent=2))
        print(f"stop it with: python scripts/infra.py secure-kafka down --dir {shlex.quote(str(work_dir))}")
        return 0
    ok = down(work_dir)
    print("kafka-secure stopped" if ok else "kafka-secure survived SIGKILL; pid file kept")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit("run it through scripts/infra.py: python scripts/infra.py secure-kafka up|down --dir DIR")
