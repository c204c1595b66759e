"""A MongoDB-wire server that filters inside its database, for benchmarks: FerretDB 1.24 on PostgreSQL.

The local server every test uses is FerretDB on SQLite, which answers any filter but ``_id`` alone by
reading and decoding every document of the collection in Go (a ``find_one`` by two fields on 2,000
documents: ~74 ms here). Its PostgreSQL backend pushes scalar equality filters down into SQL
(``_jsonb->'field' @> value``), so PostgreSQL does the scan in C (the same lookup: ~3.7 ms). A benchmark
whose figure is bound by the SQLite backend measures that server, not our code; with ``--mongo postgresql``
it runs against this one as well, on the same machine, to show which.

Only for benchmarks: PostgreSQL (Debian's ``postgresql`` package; ``initdb`` and ``pg_ctl`` from
``/usr/lib/postgresql/<version>/bin``) is started in a scratch folder on a free port, run as the
``postgres`` user when we are root (PostgreSQL refuses root), and everything is removed on exit. The
FerretDB binary is the project's own wrapper (``infra/ferretdb``, ``--postgresql-url``), rebuilt once
when the one in ``.cache/bin`` predates that flag.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common import ROOT, free_port, log

READY_SECONDS = 60.0


# ``--mongo`` of the benchmarks that take it: what each choice runs on.
MONGO_SERVERS = {
    "sqlite": "the local FerretDB 1.24 on SQLite (what the tests use)",
    "postgresql": "FerretDB 1.24 on PostgreSQL (filters run in the database)",
}


class PostgresMissing(RuntimeError):
    """PostgreSQL's server programs are not installed (``apt-get install postgresql``)."""


def postgres_bin() -> Path:
    """The folder of the newest installed PostgreSQL's ``initdb`` and ``pg_ctl``."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise PostgresMissing("no initdb: install Debian's postgresql package to run this benchmark on PostgreSQL")
    return Path(on_path).resolve().parent


def ferretdb_binary() -> Path:
    """The wrapper binary of this checkout's infra/ferretdb, as ``scripts/infra.py`` builds it (built when missing)."""
    sys.path.insert(0, str(ROOT))
    from scripts import infra

    mongo = infra.Mongo(infra.load_config(os.environ))
    mongo.build()
    return mongo.binary


@contextlib.contextmanager
def ferretdb_on_postgresql(work: Path) -> Iterator[str]:
    """Start PostgreSQL and FerretDB on it under ``work``; yield the MongoDB URI; stop and remove both."""
    bin_dir = postgres_bin()
    binary = ferretdb_binary()
    folder = work / f"pg-{os.getpid()}"
    folder.mkdir(parents=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresMissing("as root, PostgreSQL needs the postgres user (Debian's package adds it)") from None
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, pg_port, port = folder / "data", free_port(), free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    ferretdb: subprocess.Popen[bytes] | None = None
    try:
        _run("initdb", [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = f"-p {pg_port} -k {folder} -c listen_addresses=127.0.0.1"
        _run("pg_ctl start", [*pg_ctl, "-l", str(folder / "postgres.log"), "-o", options, "-w", "start"])
        where = ["-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres"]
        _run("createdb", [*as_user, str(bin_dir / "createdb"), *where, "ferretdb"])
        url = f"postgres://postgres@127.0.0.1:{pg_port}/ferretdb"
        with (folder / "ferretdb.log").open("wb") as out:
            ferretdb = subprocess.Popen(
                [str(binary), "--listen-addr", f"127.0.0.1:{port}", "--postgresql-url", url, "--log-level", "error",
                 "--data-dir", str(folder / "unused")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        uri = f"mongodb://127.0.0.1:{port}/"
        _wait_ready(uri, ferretdb)
        log(f"FerretDB on PostgreSQL ({bin_dir.parts[-2]}) at {uri}")
        yield uri
    finally:
        if ferretdb is not None:
            ferretdb.terminate()
            try:
                ferretdb.wait(timeout=30)
            except subprocess.TimeoutExpired:
                ferretdb.kill()
                ferretdb.wait(timeout=30)
        if data.is_dir():
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, check=False, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _run(what: str, args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what}: exit {done.returncode}: {done.stderr.strip()[-500:]}")


def _wait_ready(uri: str, process: subprocess.Popen[bytes]) -> None:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"FerretDB on PostgreSQL exited with {process.returncode} before it answered")
        client: MongoClient[dict[str, object]] = MongoClient(uri, directConnection=True, serverSelectionTimeoutMS=1000)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise
        finally:
            client.close()
        time.sleep(0.2)


@contextlib.contextmanager
def mongo_server(choice: str, work: Path) -> Iterator[None]:
    """``--mongo``: the local server as it is (``sqlite``), or FerretDB on PostgreSQL for the time inside, found
    by this process and the services it starts through ``ZOOMSYMBL_MONGO_URI``."""
    if choice == "sqlite":
        yield
        return
    with ferretdb_on_postgresql(work) as uri:
        os.environ["ZOOMSYMBL_MONGO_URI"] = uri
        yield


def result_name(name: str, choice: str) -> str:
    """``bench/results/<name>.json`` on the local server, ``<name>-postgresql.json`` on the other."""
    return name if choice == "sqlite" else f"{name}-{choice}"
