"""Static lint of the one service image recipe, deploy/docker/Dockerfile (no Docker engine here to build it).

Every service is built from the same file with ``--build-arg SERVICE=<service> --build-arg PORT=<port>``;
the checks below read it as a build of each service would (ARG values substituted).
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.helm_chart import ROOT, SERVICES, load_values

INSTRUCTION = re.compile(r"^(?P<op>[A-Z]+)\s+(?P<args>.*)$")
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, op: str) -> list[str]:
        """The arguments of every ``op`` instruction in this stage."""
        return [args for name, args in self.instructions if name == op]


@dataclass
class Dockerfile:
    """A parsed Dockerfile: global ARG defaults and the stages."""

    args: dict[str, str]
    stages: list[Stage]


def logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    """Stages and ARG defaults of ``text``; FROM images with ${ARG} substituted."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        match = INSTRUCTION.match(line)
        assert match, f"not an instruction: {line!r}"
        op, rest = match["op"], match["args"]
        if op == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif op == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].lower() == "as" else None
            stages.append(Stage(image=image, name=name))
        else:
            stages[-1].instructions.append((op, rest))
    return Dockerfile(args, stages)


def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def substitute(args: str, service: str, port: int | str) -> str:
    """``args`` with the build arguments of one service's build substituted."""
    return args.replace("${SERVICE}", service).replace("${PORT}", str(port))


def default_port(service: str) -> int:
    """The port the service's settings serve by default."""
    module = importlib.import_module(f"zoomsymbl_{service}.settings")
    return int(module.Settings.model_fields["http_port"].default)


def workspace_libs(service: str) -> set[str]:
    """The libs/ folders the service depends on (its workspace sources), e.g. {"common", "whisper"}."""
    manifest = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8"))
    sources = manifest.get("tool", {}).get("uv", {}).get("sources", {})
    names = {name.removeprefix("zoomsymbl-") for name, source in sources.items() if source.get("workspace")}
    return {name for name in names if (ROOT / "libs" / name / "pyproject.toml").is_file()}


def runs_ffmpeg(service: str) -> bool:
    """True when the service's code, or a workspace library it depends on, starts ffmpeg or ffprobe."""
    roots = [ROOT / "services" / service / "src"] + [ROOT / "libs" / lib / "src" for lib in workspace_libs(service)]
    sources = [path for root in roots for path in root.rglob("*.py")]
    return any(re.search(r"[\"']ff(mpeg|probe)[\"']", path.read_text(encoding="utf-8")) for path in sources)


def test_one_dockerfile_serves_every_service_folder() -> None:
    folders = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())
    assert folders == sorted(SERVICES)
    assert DOCKERFILE.is_file()
    assert sorted(ROOT.glob("services/*/Dockerfile")) == [], "one parameterised Dockerfile, none per service"


def image_problems(parsed: Dockerfile) -> list[str]:
    """Base images that are not pinned to an explicit version (no tag, `latest`, unresolved ARG)."""
    problems: list[str] = []
    stage_names = {stage.name for stage in parsed.stages}
    for stage in parsed.stages:
        if stage.image in stage_names:
            continue
        reference = stage.image.split("@", 1)[0]
        name, _, tag = reference.rpartition(":")
        if "$" in stage.image or not name or "/" in tag or not re.search(r"\d+\.\d+", tag) or tag == "latest":
            problems.append(stage.image)
    return problems


def user_problem(parsed: Dockerfile) -> str | None:
    """Why the final stage's USER is unacceptable (missing, root, or not numeric), or None."""
    users = parsed.stages[-1].args_of("USER")
    if not users:
        return "the final stage sets no USER"
    user = users[-1].split(":")[0]
    if not user.isdigit() or int(user) == 0:
        return f"USER {users[-1]!r} must be numeric and non-root (runAsNonRoot verifies it)"
    return None


def test_base_images_are_pinned_never_latest() -> None:
    assert image_problems(dockerfile()) == []


def test_the_base_image_is_a_build_argument_of_both_stages() -> None:
    parsed = dockerfile()
    assert "BASE_IMAGE" in parsed.args
    build, runtime = parsed.stages[1], parsed.stages[-1]
    # Both stages on the same base: the venv's python links into it.
    assert build.image == runtime.image == parsed.args["BASE_IMAGE"]


def test_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    parsed = dockerfile()
    assert user_problem(parsed) is None
    assert parsed.stages[-1].args_of("USER")[-1].split(":")[0] == str(load_values()["podSecurityContext"]["runAsUser"])


def test_no_secret_is_baked_into_the_image() -> None:
    parsed = dockerfile()
    declared = [a for stage in parsed.stages for a in stage.args_of("ARG") + stage.args_of("ENV")] + list(parsed.args)
    for text in declared:
        assert not re.search(r"(?i)(secret|password|token|_key\b|mongo_uri)", text), text


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_service_own_locked_runtime_dependencies_are_installed(service: str) -> None:
    parsed = dockerfile()
    syncs = [substitute(a, service, 0) for stage in parsed.stages for a in stage.args_of("RUN") if "uv sync" in a]
    assert len(syncs) >= 1
    for command in syncs:
        assert "--frozen" in command and "--no-dev" in command, command
        packages = re.findall(r"--package\s+(\S+)", command)
        assert packages == [f"zoomsymbl-{service}"], command
    copied = " ".join(substitute(a, service, 0) for stage in parsed.stages for a in stage.args_of("COPY"))
    for other in set(SERVICES) - {service}:
        assert f"services/{other}" not in copied, f"{service}'s image must not contain {other}"
    assert "tests" not in copied.split()
    # The sync installs exactly the workspace libraries the service depends on; the runtime stage takes only the venv.
    assert set(re.findall(r"\blibs/([\w-]+)/pyproject", copied)) >= workspace_libs(service)
    assert parsed.stages[-1].args_of("COPY") == ["--from=build /app/.venv /app/.venv"]


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_is_the_service_console_script_and_the_port_its_own(service: str) -> None:
    parsed = dockerfile()
    build, runtime = parsed.stages[1], parsed.stages[-1]
    manifest = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8"))
    script = f"zoomsymbl-{service}"
    assert script in manifest["project"]["scripts"]
    assert runtime.args_of("ENTRYPOINT") == ['["zoomsymbl-service"]']
    link = [substitute(a, service, 0) for a in build.args_of("RUN") if "zoomsymbl-service" in a]
    assert link and f"ln -s {script} /app/.venv/bin/zoomsymbl-service" in link[0]
    # EXPOSE is the PORT build argument, which the build checks against the settings' default port.
    assert runtime.args_of("EXPOSE") == ["${PORT}"]
    assert "model_fields['http_port']" in link[0]
    assert default_port(service) == load_values()[service]["port"]
    assert any("/app/.venv/bin" in env for env in runtime.args_of("ENV"))


def test_the_build_commit_is_served_at_version() -> None:
    runtime = dockerfile().stages[-1]
    assert 'ZOOMSYMBL_BUILD_COMMIT=""' in runtime.args_of("ARG")
    assert any("ZOOMSYMBL_BUILD_COMMIT=${ZOOMSYMBL_BUILD_COMMIT}" in env for env in runtime.args_of("ENV"))


@pytest.mark.parametrize("service", SERVICES)
def test_ffmpeg_is_installed_exactly_where_the_code_runs_it(service: str) -> None:
    parsed = dockerfile()
    installs = [a for a in parsed.stages[-1].args_of("RUN") if re.search(r"apt-get install .*\bffmpeg\b", a)]
    assert len(installs) == 1 and "${FFMPEG_SERVICES}" in installs[0] and "${SERVICE}" in installs[0]
    ffmpeg_services = parsed.args["FFMPEG_SERVICES"].strip('"').split()
    assert (service in ffmpeg_services) == (runs_ffmpeg(service) or service == "mixer")


def _ignored(patterns: list[str], path: str) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        core = pattern.lstrip("!").rstrip("/")
        hit = fnmatch.fnmatch(path, core) or fnmatch.fnmatch(path, f"{core}/*") or path.startswith(core + "/")
        if core.startswith("**/"):
            tail = core[3:]
            hit = hit or any(fnmatch.fnmatch(part, tail) for part in Path(path).parts)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_images_need_and_drops_the_rest() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for needed in (
        "pyproject.toml",
        "uv.lock",
        "libs/common/src/zoomsymbl_common/events.py",
        "libs/whisper/src/zoomsymbl_whisper/transcriber.py",
        "libs/whisper/pyproject.toml",
    ):
        assert not _ignored(patterns, needed), needed
    for service in SERVICES:
        assert not _ignored(patterns, f"services/{service}/src/zoomsymbl_{service}/__init__.py")
        assert not _ignored(patterns, f"services/{service}/pyproject.toml")
    for unwanted in (".venv/bin/python", ".git/config", ".cache/data/kafka/x", "tests/conftest.py", "libs/sandbox/x"):
        assert _ignored(patterns, unwanted), unwanted
    assert _ignored(patterns, "libs/common/src/zoomsymbl_common/__pycache__/events.cpython-311.pyc")


@pytest.mark.parametrize(
    "text",
    [
        "ARG BASE=python:latest\nFROM ${BASE} AS runtime\nUSER 10001\n",
        "FROM python AS runtime\nUSER 10001\n",
        "FROM python:3.11-slim AS runtime\nUSER root\n",
        "FROM python:3.11-slim AS runtime\nUSER 0:0\n",
        "FROM python:3.11-slim AS runtime\nRUN true\n",
    ],
)
def test_the_lint_catches_root_users_and_floating_tags(text: str) -> None:
    parsed = parse_dockerfile(text)
    assert image_problems(parsed) or user_problem(parsed)
