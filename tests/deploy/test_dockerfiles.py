"""Static lint of the service images (there is no Docker engine here to build them)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.helm_chart import ROOT, SERVICES, load_values

INSTRUCTION = re.compile(r"^(?P<op>[A-Z]+)\s+(?P<args>.*)$")


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


def dockerfile(service: str) -> Dockerfile:
    path = ROOT / "services" / service / "Dockerfile"
    return parse_dockerfile(path.read_text(encoding="utf-8"))


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


def test_every_service_folder_has_a_dockerfile() -> None:
    folders = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())
    assert folders == sorted(SERVICES)
    assert all((ROOT / "services" / s / "Dockerfile").is_file() for s in folders)


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


@pytest.mark.parametrize("service", SERVICES)
def test_base_images_are_pinned_never_latest(service: str) -> None:
    assert image_problems(dockerfile(service)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage_runs_as_a_numeric_non_root_user(service: str) -> None:
    parsed = dockerfile(service)
    assert user_problem(parsed) is None
    assert parsed.stages[-1].args_of("USER")[-1].split(":")[0] == str(load_values()["podSecurityContext"]["runAsUser"])


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_service_own_locked_runtime_dependencies_are_installed(service: str) -> None:
    parsed = dockerfile(service)
    syncs = [args for stage in parsed.stages for args in stage.args_of("RUN") if "uv sync" in args]
    assert len(syncs) >= 1
    for command in syncs:
        assert "--frozen" in command and "--no-dev" in command, command
        packages = re.findall(r"--package\s+(\S+)", command)
        assert packages == [f"zoomsymbl-{service}"], command
    copied = " ".join(args for stage in parsed.stages for args in stage.args_of("COPY"))
    for other in set(SERVICES) - {service}:
        assert f"services/{other}" not in copied, f"{service}'s image must not contain {other}"
    assert "libs/sandbox" not in copied and "tests" not in copied.split()
    # Exactly the workspace libraries the service depends on: a missing one fails the sync, an extra one is dead weight.
    assert set(re.findall(r"\blibs/([\w-]+)/", copied)) == workspace_libs(service)


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_is_the_service_console_script(service: str) -> None:
    runtime = dockerfile(service).stages[-1]
    manifest = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8"))
    script = f"zoomsymbl-{service}"
    assert script in manifest["project"]["scripts"]
    assert runtime.args_of("ENTRYPOINT") == [f'["{script}"]']
    assert runtime.args_of("EXPOSE") == [str(load_values()[service]["port"])]
    assert any("/app/.venv/bin" in env for env in runtime.args_of("ENV"))


@pytest.mark.parametrize("service", SERVICES)
def test_ffmpeg_is_installed_exactly_where_the_code_runs_it(service: str) -> None:
    runtime = dockerfile(service).stages[-1]
    installs_ffmpeg = any(re.search(r"apt-get install .*\bffmpeg\b", run) for run in runtime.args_of("RUN"))
    expected = runs_ffmpeg(service) or service == "mixer"
    assert installs_ffmpeg == expected


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
