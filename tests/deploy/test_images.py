"""The five service images (`make images`) run hardened, as containers, and carry the demo meeting to its e-mail.

Each service runs as ``podman run --read-only --cap-drop ALL --user 10001:10001 --security-opt
no-new-privileges`` with a tmpfs on /tmp and a scratch directory on /scratch (mixer, submitter, transcriber:
what the chart mounts) as its only writable paths, host networking to reach the local servers (private topic
prefix, database and bucket), and the sandboxes as host processes: the ``running_stack`` the demo uses, with a
``service_command`` that starts containers instead of processes. The demo meeting goes to the default tenant
(AssemblyAI + its LLM Gateway) and to a tenant that uses the transcriber, so all five containers carry it.
Runs from `make images-test` (which builds the images from this checkout first and sets ZS_IMAGES_TEST=1);
skips otherwise, and when podman or an image is missing. The images' sizes go to .cache/images/sizes.txt
(docs/images.md).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_common.ops.toolbox import WAITING
from zoomsymbl_sandbox.stack import SERVICES, Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import demo_meeting_spec

from tests.e2e.conftest import mails_for, wait_for_mails
from tests.support.names import token

ROOT = Path(__file__).resolve().parents[2]
TAG = os.environ.get("ZS_IMAGE_TAG", "local")
IMAGES = {service: f"localhost/zoomsymbl-{service}:{TAG}" for service in SERVICES}
PODMAN = shutil.which("podman")
# podman's default runtime (crun) cannot set rlimits on this kind of machine; runc can (docs/images.md).
RUNTIME = shutil.which("runc") or "/usr/sbin/runc"
RUN = token()
# The chart's scratch volumes: the variable that names the directory, mounted at /scratch.
SCRATCH_VARIABLE = {
    "mixer": "ZOOMSYMBL_MIXER_SCRATCH_DIR",
    "submitter": "ZOOMSYMBL_SUBMITTER_WORK_DIR",
    "transcriber": "ZOOMSYMBL_TRANSCRIBER_SCRATCH_DIR",
}
HARDENING = [
    "--read-only",
    "--read-only-tmpfs=false",  # podman would add writable /run and /var/tmp; only /tmp, as in the chart
    "--tmpfs=/tmp:rw,nosuid,nodev,size=256m,mode=1777",
    "--cap-drop=ALL",
    "--user=10001:10001",
    "--security-opt=no-new-privileges",
    "--ulimit=nofile=1024:1024",
    "--ulimit=nproc=1000:1000",
]
TENANTS = {"demo": "Release planning (images)", "local": "Release planning (images, whisper)"}
SPECS = {
    t: demo_meeting_spec(f"img{RUN}{t}==", host_email=f"img-{t}-{RUN}@example.test", topic=TENANTS[t]) for t in TENANTS
}


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``podman --runtime runc <args>``; fails on a non-zero exit."""
    assert PODMAN is not None
    return subprocess.run(
        [PODMAN, "--runtime", RUNTIME, *args], check=True, capture_output=True, text=True, timeout=timeout
    )


def _missing() -> str | None:
    if os.environ.get("ZS_IMAGES_TEST") != "1":
        # Images built from an older checkout would test old code against today's sandboxes (in `make test`).
        return "runs from make images-test, which builds the images from this checkout first (ZS_IMAGES_TEST=1)"
    if PODMAN is None:
        return "podman is not installed (make images installs it)"
    try:
        listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return f"podman does not answer: {exc}"
    absent = [image for image in IMAGES.values() if image not in listed]
    return f"images not built (make images): {', '.join(absent)}" if absent else None


_skip = _missing()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(_skip is not None, reason=str(_skip)),
    pytest.mark.timeout(900),
]


def container_name(service: str) -> str:
    return f"zs-images-{RUN}-{service}"


def container_command(run_dir: Path) -> Callable[[str, dict[str, str]], list[str]]:
    """Stack's ``service_command``: ``podman run`` of the service's image, hardened, with the service's environment."""

    def command(service: str, env: dict[str, str]) -> list[str]:
        # What a host process would inherit, less the build's own commit (the image carries it).
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("ZOOMSYMBL_", "OTEL_")) and k != "ZOOMSYMBL_BUILD_COMMIT"
        }
        env = {**inherited, **env}
        mounts = [f"--volume={env['ZOOMSYMBL_TENANTS_FILE']}:/etc/zoomsymbl/tenants.json:ro"]
        env["ZOOMSYMBL_TENANTS_FILE"] = "/etc/zoomsymbl/tenants.json"
        if service in SCRATCH_VARIABLE:
            scratch = run_dir / f"scratch-{service}"
            scratch.mkdir(exist_ok=True)
            mounts.append(f"--volume={scratch}:/scratch:U")  # U: owned by the container's user, like fsGroup
            env[SCRATCH_VARIABLE[service]] = "/scratch"
        # An env file, so no value is on a command line.
        env_file = run_dir / f"{service}.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        env_file.chmod(0o600)
        assert PODMAN is not None
        return [
            PODMAN, "--runtime", RUNTIME, "run", "--rm", "--pull=never", f"--name={container_name(service)}",
            "--network=host", *HARDENING, *mounts, f"--env-file={env_file}", IMAGES[service],
        ]  # fmt: skip

    return command


def image_sizes() -> dict[str, int]:
    """Bytes of each image, as podman reports them."""
    return {s: int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout) for s, image in IMAGES.items()}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("images-stack")
    config = StackConfig(
        run_dir=run_dir,
        topic_prefix=f"img-{RUN}-",
        database=f"img_{RUN}",
        bucket=f"img-{RUN}",
        zoom={
            "meetings": [s.model_dump(mode="json") for s in SPECS.values()],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        assemblyai={"timings": {"waiting_s": 0.3, "running_s": 0.5}, "whisper_model": "packaged"},
        extra_tenants=[
            {"id": "local", "provider": "whisper", "llm_api_key": "sandbox-assemblyai-key", "llm_auth_scheme": "raw"}
        ],
        service_command=container_command(run_dir),
        # The demo meetings last seconds, which the mixer mixes from their MP4s; copying them to ADTS anyway
        # runs the mixer's own MP4 reader (a child Python process) inside the read-only image.
        env={"ZOOMSYMBL_MIXER_MP4_DIRECT_TRACK_HOURS": "0"},
    )
    try:
        with running_stack(config) as running:
            yield running
    finally:
        # Stack.stop's SIGTERM reaches each service through podman; a container left behind (podman killed) goes.
        for service in SERVICES:
            subprocess.run(
                [str(PODMAN), "--runtime", RUNTIME, "rm", "--force", "--ignore", container_name(service)],
                capture_output=True,
                timeout=60,
            )
        sizes = image_sizes()
        lines = [f"{IMAGES[s]:<40} {sizes[s] / 1e6:6.0f} MB" for s in SERVICES]
        out = ROOT / ".cache" / "images" / "sizes.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def in_container(service: str, code: str) -> str:
    """Run ``python -c code`` inside the running container of ``service`` (as its user); its stdout."""
    return podman("exec", container_name(service), "python", "-c", code).stdout


# Tries to create a file in each directory and to append to each writable-mounted file; prints what worked.
WRITE_PROBE = """
import errno, json, os
results = {}
mounts = []
for line in open("/proc/1/mountinfo"):
    fields = line.split()
    point, options = fields[4], fields[5].split(",")
    if "rw" in options and not point.startswith(("/proc", "/sys", "/dev")):
        mounts.append(point)
for path in sorted(set(mounts) | {"/", "/app", "/app/.venv/bin", "/etc", "/home", "/root", "/run", "/var/tmp",
                                  "/usr/local", "/tmp", "/scratch"}):
    if not os.path.exists(path):
        continue
    target = os.path.join(path, "probe-%d" % os.getpid()) if os.path.isdir(path) else path
    try:
        with open(target, "a"):
            pass
        if target != path:
            os.unlink(target)
        results[path] = "written"
    except OSError as exc:
        results[path] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(results))
"""


async def test_the_demo_meeting_reaches_its_e_mail_through_the_five_containers(stack: Stack) -> None:
    for tenant, spec in SPECS.items():
        assert await stack.trigger_recording_completed(spec.uuid, tenant=tenant) == 200
    await wait_for_mails(list(SPECS.values()), timeout=420)
    for tenant, spec in SPECS.items():
        [message] = mails_for(spec)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = str(body.get_content())
        # Whisper (the AssemblyAI sandbox's, or the transcriber container's) heard the question and its asker.
        assert "Elisa L" in text and "Friday" in text, f"{tenant}: {text}"
        assert "Zoë 🎧 Ng" in text, f"{tenant}: {text}"
    for service in SERVICES:
        assert stack.procs[service].poll() is None, f"{service} container exited; see {stack.log(service)}"
    # The mixer's own MP4 -> ADTS copy (a child Python process) ran in the read-only image; ffmpeg's is only a fallback.
    mixer_log = stack.log("mixer").read_text(encoding="utf-8", errors="replace")
    assert "audio mixed" in mixer_log, f"the mixer's INFO lines are not in {stack.log('mixer')}"
    assert "mp4 tracks copied to adts" in mixer_log, f"see {stack.log('mixer')}"
    assert "track left to ffmpeg" not in mixer_log, f"see {stack.log('mixer')}"


def test_the_retention_cronjobs_command_runs_in_the_notifier_image(stack: Stack) -> None:
    """What the chart's retention CronJob runs (``zoomsymbl retention --yes``) starts in the notifier's read-only
    image as 10001 and reads MongoDB: here a dry run, with a tenants file giving every tenant a retention (the demo's
    meeting, minutes old, has not expired)."""
    tenants = json.loads(
        in_container("notifier", "import os; print(open(os.environ['ZOOMSYMBL_TENANTS_FILE']).read())")
    )
    for tenant in tenants["tenants"]:
        tenant["retention_days"] = 30
    write = f"open('/tmp/tenants-retention.json', 'w').write({json.dumps(json.dumps(tenants))})"
    in_container("notifier", write)
    env = ["--env", "ZOOMSYMBL_TENANTS_FILE=/tmp/tenants-retention.json"]
    ran = podman("exec", *env, container_name("notifier"), "zoomsymbl", "retention", "--json", timeout=120)
    found = {entry["tenant"]: entry for entry in json.loads(ran.stdout)["tenants"]}
    assert set(found) == set(SPECS), found  # the demo's tenants
    assert all(entry["retention_days"] == 30 and entry["expired"] == 0 for entry in found.values()), found


async def test_a_fresh_page_link_made_in_the_notifier_image_opens_the_page_in_the_web_image(stack: Stack) -> None:
    """``zoomsymbl link`` (the notifier's subcommand) runs in the notifier's read-only image with the notifier's own
    environment (page key, page address, tenants), and the web container opens what it prints: the meeting page."""
    await wait_for_mails(list(SPECS.values()), timeout=420)  # the demo meeting is reported (first test above)
    spec = SPECS["demo"]
    ran = podman(
        "exec", container_name("notifier"), "zoomsymbl", "link", "--meeting", spec.uuid, "--days", "1", "--json",
        timeout=120,
    )  # fmt: skip
    [item] = json.loads(ran.stdout)["items"]
    assert spec.host_email in item["recipients"], item
    async with aiohttp.ClientSession() as session, session.get(item["link"]) as response:
        page = await response.text()
    assert response.status == 200, page[:500]
    assert TENANTS["demo"] in page


async def test_the_operator_pods_process_waits_in_the_notifier_image_and_commands_run_beside_it(
    stack: Stack, tmp_path: Path
) -> None:
    """The chart's ``ops`` CronJob: the notifier's image, hardened, running ``python -m zoomsymbl_common.ops.toolbox``
    with the notifier's environment and tenants file says it is ready and waits; ``zoomsymbl`` run in it (as
    ``kubectl exec`` would) reads MongoDB; a stop (SIGTERM, as for a deleted Job) waits for a command still running
    in it (the toolbox is the container's PID 1: its end would kill the command), then ends it with exit 0."""
    await wait_for_mails(list(SPECS.values()), timeout=420)  # the demo meetings are stored
    tenants = podman(
        "inspect", "--format",
        '{{range .Mounts}}{{if eq .Destination "/etc/zoomsymbl/tenants.json"}}{{.Source}}{{end}}{{end}}',
        container_name("notifier"),
    ).stdout.strip()  # fmt: skip
    assert tenants, "the notifier container mounts the tenants file"
    name = container_name("ops")
    env_file = stack.config.run_dir / "notifier.env"  # what the notifier container was started with
    handoff = tmp_path / "handoff"  # where the test lets the command below end
    handoff.mkdir(mode=0o755)
    handoff.chmod(0o755)
    podman(
        "run", "--detach", "--pull=never", f"--name={name}", "--network=host", *HARDENING,
        f"--volume={tenants}:/etc/zoomsymbl/tenants.json:ro", f"--volume={handoff}:/handoff:ro",
        f"--env-file={env_file}",
        # The chart's `command:`, which replaces the image's entrypoint (the service) as --entrypoint does.
        '--entrypoint=["python", "-m", "zoomsymbl_common.ops.toolbox"]', IMAGES["notifier"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while '"operator pod ready' not in (logs := podman("logs", name).stderr):
            assert time.monotonic() < deadline, f"not ready within 60 s: {logs}"
            await asyncio.sleep(0.2)
        listed = podman("exec", name, "zoomsymbl", "status", "--limit", "50", "--json", timeout=120)
        uuids = {item["meeting_uuid"] for item in json.loads(listed.stdout)["items"]}
        assert SPECS["demo"].uuid in uuids, uuids
        stop_while_a_command_runs(name, handoff)
        assert podman("wait", name).stdout.strip() == "0"
        assert '"operator pod stopped: the commands running in it ended"' in podman("logs", name).stderr
    finally:
        podman("rm", "--force", "--ignore", name)


def stop_while_a_command_runs(name: str, handoff: Path) -> None:
    """``podman stop`` of the operator container while a command runs in it: the stop waits for the command (until
    the test lets it end through ``handoff``, mounted at /handoff), which ends on its own with exit 0."""
    assert PODMAN is not None
    command = subprocess.Popen(
        [PODMAN, "--runtime", RUNTIME, "exec", name, "sh", "-c",
         "echo started; while [ ! -e /handoff/go ]; do sleep 0.1; done; echo finished"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert command.stdout is not None and command.stdout.readline() == "started\n"
        stop = subprocess.Popen([PODMAN, "--runtime", RUNTIME, "stop", "--time=60", name], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while WAITING not in (logs := podman("logs", name).stderr):
            assert time.monotonic() < deadline, f"the toolbox did not wait for the command: {logs}"
            time.sleep(0.2)
        assert command.poll() is None, "the command still runs while the container stops"
        (handoff / "go").touch()
        assert command.stdout.read() == "finished\n"
        assert command.wait(timeout=60) == 0
        assert stop.wait(timeout=90) == 0
    finally:
        command.kill()


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_runs_as_10001_without_capabilities(stack: Stack, service: str) -> None:
    lines = in_container(service, "print(open('/proc/1/status').read())").splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    assert status["Uid"].split() == ["10001"] * 4, status["Uid"]
    assert status["Gid"].split() == ["10001"] * 4, status["Gid"]
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, f"{capabilities}: {status[capabilities]}"
    assert status["NoNewPrivs"].strip() == "1"
    assert "zoomsymbl-service" in in_container(service, "print(open('/proc/1/cmdline').read())")


@pytest.mark.parametrize("service", SERVICES)
def test_only_tmp_and_scratch_are_writable(stack: Stack, service: str) -> None:
    results: dict[str, str] = json.loads(in_container(service, WRITE_PROBE))
    writable = sorted(path for path, outcome in results.items() if outcome == "written")
    assert writable == (["/scratch", "/tmp"] if service in SCRATCH_VARIABLE else ["/tmp"]), results
    # The image itself is read-only, not merely owned by another user.
    for path in ("/", "/app", "/app/.venv/bin", "/etc", "/var/tmp"):
        assert results[path] == errno.errorcode[errno.EROFS], (path, results[path])


@pytest.mark.parametrize("service", SERVICES)
async def test_version_names_the_service_and_the_commit_it_was_built_from(stack: Stack, service: str) -> None:
    label = '{{index .Labels "org.opencontainers.image.revision"}}'
    commit = podman("image", "inspect", "--format", label, IMAGES[service]).stdout.strip()
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.config.url(service) + "/version", timeout=aiohttp.ClientTimeout(10)) as response:
            assert response.status == 200
            version = await response.json()
    assert len(commit) == 40, commit
    assert version["service"] == service and version["commit"] == commit, version
    assert version["version"] not in ("", "unknown"), version


def test_sigterm_reaches_each_service_through_podman_and_it_exits_0(stack: Stack) -> None:
    """Last in the file: stops the stack as Kubernetes stops a pod (SIGTERM to the container's process)."""
    stack.stop()
    codes = {service: stack.procs[service].returncode for service in SERVICES}
    assert codes == dict.fromkeys(SERVICES, 0), f"exit codes {codes}; logs in {stack.config.run_dir}"
