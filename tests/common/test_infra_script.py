"""Pure parts of scripts/infra.py: configuration, pid ownership, Kafka properties. No servers needed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import infra
from tests.support.eventually import eventually_sync


def fake_proc(root: Path, pid: int, argv: list[str], state: str = "S", start: int = 4242) -> None:
    """A /proc/<pid> with the two files infra.py reads; the command name holds a space and a ')'."""
    folder = root / str(pid)
    folder.mkdir(parents=True)
    rest = [state, "1"] + ["0"] * 17 + [str(start)] + ["0"] * 10
    (folder / "stat").write_text(f"{pid} (we ird) name) {' '.join(rest)}\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    # Between fork and exec the child still shows our own command line: wait for the exec.
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    eventually_sync(
        lambda: cmdline.read_bytes().split(b"\0")[0], lambda name: name == b"sleep", timeout=10, what="the exec"
    )
    yield proc
    proc.kill()
    proc.wait(timeout=10)


# ---------------------------------------------------------------- configuration


def test_ports_default_when_unset_or_blank() -> None:
    assert infra.parse_port({}, "ZS_KAFKA_PORT") == 19092
    assert infra.parse_port({"ZS_MONGO_PORT": "  "}, "ZS_MONGO_PORT") == 27117
    assert infra.parse_port({"ZS_S3_PORT": "9000"}, "ZS_S3_PORT") == 9000


@pytest.mark.parametrize("raw", ["abc", "0", "65536", "-1", "80.5"])
def test_a_bad_port_names_the_variable(raw: str) -> None:
    with pytest.raises(infra.InfraError, match=r"ZS_SMTP_PORT='.*' is not a TCP port"):
        infra.parse_port({"ZS_SMTP_PORT": raw}, "ZS_SMTP_PORT")


def test_config_defaults_live_under_the_repository_cache(tmp_path: Path) -> None:
    cfg = infra.load_config({}, root=tmp_path)
    assert cfg.data_dir == tmp_path.resolve() / ".cache" / "data"
    assert cfg.smtp_maildir == cfg.data_dir / "smtp" / "maildir"
    assert dict(cfg.ports) == infra.PORT_DEFAULTS
    assert (cfg.s3_access_key, cfg.s3_secret_key) == ("zoomsymbl", "zoomsymbl-local-secret")


def test_config_follows_the_environment(tmp_path: Path) -> None:
    env = {
        "ZS_DATA_DIR": "elsewhere/data",
        "ZS_KAFKA_PORT": "29092",
        "ZS_S3_ACCESS_KEY": "ak",
        "ZS_S3_SECRET_KEY": "sk",
        "ZS_SMTP_MAILDIR": str(tmp_path / "mail"),
    }
    cfg = infra.load_config(env, root=tmp_path)
    assert cfg.data_dir == tmp_path.resolve() / "elsewhere" / "data"  # relative to the repository
    assert cfg.ports["ZS_KAFKA_PORT"] == 29092
    assert (cfg.s3_access_key, cfg.s3_secret_key) == ("ak", "sk")
    assert cfg.smtp_maildir == tmp_path.resolve() / "mail"


def test_two_servers_on_one_port_is_refused_naming_both(tmp_path: Path) -> None:
    with pytest.raises(infra.InfraError, match="ZS_MONGO_PORT and ZS_S3_PORT are both 7070"):
        infra.load_config({"ZS_MONGO_PORT": "7070"}, root=tmp_path)


def test_env_prints_shell_safe_exports(tmp_path: Path) -> None:
    cfg = infra.load_config({"ZS_S3_SECRET_KEY": "it's secret", "ZS_SMTP_PORT": "2626"}, root=tmp_path)
    lines = infra.env_lines(cfg)
    assert "export ZOOMSYMBL_KAFKA_BOOTSTRAP=127.0.0.1:19092" in lines
    assert "export ZOOMSYMBL_MONGO_URI=mongodb://127.0.0.1:27117/" in lines
    assert "export ZOOMSYMBL_S3_ENDPOINT=127.0.0.1:7070" in lines
    assert "export ZOOMSYMBL_S3_SECURE=false" in lines
    assert "export ZOOMSYMBL_NOTIFIER_SMTP_PORT=2626" in lines  # the notifier's setting (nothing read ZOOMSYMBL_SMTP_*)
    assert """export ZOOMSYMBL_S3_SECRET_KEY='it'"'"'s secret'""" in lines
    assert f"export ZS_SMTP_MAILDIR={cfg.smtp_maildir}" in lines


# ---------------------------------------------------------------- Kafka properties


def test_server_properties_describe_a_single_loopback_node(tmp_path: Path) -> None:
    text = infra.render_server_properties(29092, 29093, tmp_path / "logs")
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["log.dirs"] == str(tmp_path / "logs")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.min.isr", "min.insync.replicas"):
        assert props[key] == "1"
    assert props["num.partitions"] == "3"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_server_properties_escape_backslashes() -> None:
    assert "log.dirs=/data/a\\\\b\n" in infra.render_server_properties(1, 2, Path("/data/a\\b"))


def test_kafka_advises_a_fresh_start_only_past_thousands_of_test_partitions(tmp_path: Path) -> None:
    [kafka] = infra.make_servers(infra.load_config({}, root=tmp_path), ["kafka"])
    log_dir = kafka.data_dir / "logs"
    log_dir.mkdir(parents=True)
    assert kafka.advice() is None  # a fresh broker
    for n in range(infra.KAFKA_PARTITIONS_ADVISED):
        (log_dir / f"t-{n:05d}-provider.job-status.v1-0").mkdir()
    for internal in ("__consumer_offsets-0", "__cluster_metadata-0"):
        (log_dir / internal).mkdir()
    (log_dir / "meta.properties").write_text("")
    assert kafka.advice() is None  # at the threshold: internal topics and files do not count
    (log_dir / "t-extra-topic-0").mkdir()
    advice = kafka.advice()
    assert advice is not None
    assert f"{infra.KAFKA_PARTITIONS_ADVISED + 1} partitions" in advice and "ZS_RESET=1" in advice


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert infra.parse_java_major(output) == major


# ---------------------------------------------------------------- pid files and ownership


def test_pid_file_round_trip(tmp_path: Path) -> None:
    fake_proc(tmp_path / "proc", 321, ["java", "kafka.Kafka"], start=777)
    path = tmp_path / "kafka.pid"
    infra.write_pid_file(path, 321, "127.0.0.1:1,127.0.0.1:2", proc_root=tmp_path / "proc")
    assert infra.read_pid_file(path) == infra.PidRecord(321, 777, "127.0.0.1:1,127.0.0.1:2")


@pytest.mark.parametrize(
    ("content", "record"),
    [
        ("", None),
        ("garbage\n", None),
        ("123\n", infra.PidRecord(123, None, "")),
        ("123 - -\n", infra.PidRecord(123, None, "")),
    ],
)
def test_pid_file_parsing_tolerates_short_and_garbled_files(
    tmp_path: Path, content: str, record: infra.PidRecord | None
) -> None:
    path = tmp_path / "x.pid"
    path.write_text(content)
    assert infra.read_pid_file(path) == record


def test_missing_pid_file_reads_as_none(tmp_path: Path) -> None:
    assert infra.read_pid_file(tmp_path / "absent.pid") is None


def test_ownership_needs_the_program_and_the_recorded_start(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, ["/usr/bin/java", "-cp", "x/*", "kafka.Kafka", "server.properties"], start=500)
    fake_proc(tmp_path, 11, ["/repo/.cache/bin/zoomsymbl-ferretdb", "--listen-addr", "x"])
    fake_proc(tmp_path, 12, ["vim", "notes-about-zoomsymbl-ferretdb.txt"])
    assert infra.is_ours(10, "kafka.Kafka", 500, proc_root=tmp_path)
    assert infra.is_ours(10, "kafka.Kafka", None, proc_root=tmp_path)
    assert not infra.is_ours(10, "kafka.Kafka", 499, proc_root=tmp_path)  # the PID was recycled
    assert not infra.is_ours(10, "versitygw", 500, proc_root=tmp_path)
    assert infra.is_ours(11, "zoomsymbl-ferretdb", None, proc_root=tmp_path)
    assert not infra.is_ours(12, "zoomsymbl-ferretdb", None, proc_root=tmp_path)
    assert not infra.is_ours(13, "kafka.Kafka", None, proc_root=tmp_path)  # no such process


def test_a_zombie_is_not_running(tmp_path: Path) -> None:
    fake_proc(tmp_path, 20, ["versitygw"], state="Z")
    assert infra.proc_identity(20, tmp_path) is None
    assert not infra.is_ours(20, "versitygw", None, proc_root=tmp_path)


def test_ownership_of_a_real_process(sleeper: subprocess.Popen[bytes]) -> None:
    identity = infra.proc_identity(sleeper.pid)
    assert identity is not None
    argv, start = identity
    assert argv == ["sleep", "60"]
    assert infra.is_ours(sleeper.pid, "sleep", start)
    assert not infra.is_ours(sleeper.pid, "sleep", start + 1)


def test_down_never_signals_a_process_that_is_not_ours(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = infra.load_config({}, root=tmp_path)
    run_dir = tmp_path / ".cache" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "smtp.pid").write_text(f"{sleeper.pid}\n")  # a recycled PID: now some unrelated `sleep`
    assert infra.cmd_down(cfg) == 0
    assert sleeper.poll() is None
    assert not (run_dir / "smtp.pid").exists()
    assert "no longer ours" in capsys.readouterr().out


def test_stop_terminates_our_process_and_removes_its_pid_file(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    class Sleeper(infra.Server):
        name = "sleeper"
        program = "sleep"

    server = Sleeper(infra.load_config({}, root=tmp_path))
    server.pid_file.parent.mkdir(parents=True)
    infra.write_pid_file(server.pid_file, sleeper.pid, "")
    assert server.running_pid() == sleeper.pid
    record = infra.read_pid_file(server.pid_file)
    assert record is not None
    assert server.stop(record.pid, record.start, sleeper)
    assert sleeper.poll() == -15
    assert not server.pid_file.exists()
    assert server.running_pid() is None


# ---------------------------------------------------------------- ports and logs


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert infra.port_in_use(port)
    assert not infra.port_in_use(port)


def test_log_tail_shows_only_what_this_start_wrote(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("old run\n")
    offset = log.stat().st_size
    with log.open("a") as fh:
        fh.writelines(f"line {i}\n" for i in range(30))
    tail = infra.log_tail(log, offset)
    assert "old run" not in tail
    assert tail.splitlines() == [f"line {i}" for i in range(10, 30)]
    assert infra.log_tail(tmp_path / "absent.log", 0) == "(no log written)"


def test_unknown_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(infra.ROOT / "scripts" / "infra.py"), "launch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
