"""One version for the whole product, and the step that moves it (docs/releasing.md).

zoomsymbl ships as one release: the Python packages (the workspace root and every member under ``libs/`` and
``services/``), the images built from them (their ``/version``), the Helm chart (``version`` and ``appVersion``:
the default image tag) and the example values, which pin the release's images. They all carry the same version,
and ``CHANGELOG.md`` says what it holds.

    python scripts/release.py check              # every place agrees, the changelog has the version (CI runs it)
    python scripts/release.py bump 0.3.0         # move every place to 0.3.0 and date the changelog's Unreleased

``bump`` rewrites only the version lines (pyproject ``[project] version``, the lock file's entries of the workspace
packages, ``Chart.yaml``'s ``version`` and ``appVersion``, the examples' image tags equal to the old version) and
moves the changelog's ``## Unreleased`` notes under ``## <version> — <date>``. It refuses a version that is not
``MAJOR.MINOR.PATCH`` or not above the current one, an empty ``Unreleased``, and a tree that ``check`` finds
inconsistent to begin with. Tag and publish after it: docs/releasing.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
CHANGELOG = "CHANGELOG.md"
CHART = "deploy/helm/zoomsymbl/Chart.yaml"
EXAMPLES = "deploy/helm/examples"
LOCK = "uv.lock"
UNRELEASED = "## Unreleased"
# The [project] table's version line (the first "version = ..." of a pyproject: [project] comes first in ours).
PYPROJECT_VERSION = re.compile(r'^version = "(?P<v>[^"]*)"$', re.M)
CHART_VERSION = re.compile(r"^version: (?P<v>\S+)$", re.M)
CHART_APP_VERSION = re.compile(r'^appVersion: "(?P<v>[^"]*)"$', re.M)
EXAMPLE_TAG = re.compile(r'^(?P<indent> +)tag: "(?P<v>[^"]*)"$', re.M)
RELEASE_HEADING = re.compile(r"^## (?P<v>\d+\.\d+\.\d+) — (?P<date>\d{4}-\d{2}-\d{2})$", re.M)


class ReleaseError(Exception):
    """The tree or the request does not allow the step; the message says why."""


@dataclass(frozen=True)
class Found:
    """One place that carries the version: the file (relative to the root), what it is, the version it has."""

    path: str
    what: str
    version: str


def pyprojects(root: Path) -> list[Path]:
    """The workspace root's pyproject and every member's (``[tool.uv.workspace] members``)."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    found = [root / "pyproject.toml"]
    for pattern in data["tool"]["uv"]["workspace"]["members"]:
        found += sorted(path / "pyproject.toml" for path in root.glob(pattern) if (path / "pyproject.toml").is_file())
    return found


def package_names(root: Path) -> list[str]:
    """The names of the workspace's packages (root and members), as the lock file lists them."""
    return [tomllib.loads(p.read_text(encoding="utf-8"))["project"]["name"] for p in pyprojects(root)]


def _lock_entry(name: str) -> re.Pattern[str]:
    return re.compile(rf'^(?P<head>\[\[package\]\]\nname = "{re.escape(name)}"\nversion = ")(?P<v>[^"]*)"', re.M)


def places(root: Path) -> Iterator[Found]:
    """Every place that carries the product's version, with the version it has ("" where it is missing)."""
    for path in pyprojects(root):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        yield Found(str(path.relative_to(root)), "[project] version", str(data["project"].get("version", "")))
    lock = (root / LOCK).read_text(encoding="utf-8")
    for name in package_names(root):
        match = _lock_entry(name).search(lock)
        yield Found(LOCK, f"package {name}", match["v"] if match else "")
    chart = (root / CHART).read_text(encoding="utf-8")
    for what, pattern in (("version", CHART_VERSION), ("appVersion", CHART_APP_VERSION)):
        match = pattern.search(chart)
        yield Found(CHART, what, match["v"] if match else "")
    for example in sorted((root / EXAMPLES).glob("*.yaml")):
        for match in EXAMPLE_TAG.finditer(example.read_text(encoding="utf-8")):
            if match["v"]:  # an empty tag means "the chart's appVersion"
                yield Found(str(example.relative_to(root)), "image tag", match["v"])


def current_version(root: Path) -> str:
    """The workspace root's version: what every other place must carry."""
    return str(tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def problems(root: Path) -> list[str]:
    """What keeps the tree from being one consistent release (empty when it is)."""
    version = current_version(root)
    found = [
        f"{p.path}: {p.what} is {p.version or 'missing'}, not {version}" for p in places(root) if p.version != version
    ]
    if not SEMVER.match(version):
        found.insert(0, f"pyproject.toml: {version!r} is not MAJOR.MINOR.PATCH")
    changelog = (root / CHANGELOG).read_text(encoding="utf-8") if (root / CHANGELOG).is_file() else ""
    if UNRELEASED not in changelog.splitlines():
        found.append(f"{CHANGELOG}: no '{UNRELEASED}' section (where the next release's notes are kept)")
    if version not in {m["v"] for m in RELEASE_HEADING.finditer(changelog)}:
        found.append(f"{CHANGELOG}: no '## {version} — <date>' section for the current version")
    return found


def _parts(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    if match is None:
        raise ReleaseError(f"{version!r} is not MAJOR.MINOR.PATCH (e.g. 0.3.0)")
    return int(match[1]), int(match[2]), int(match[3])


def _replace_one(text: str, pattern: re.Pattern[str], old: str, new: str, where: str) -> str:
    match = pattern.search(text)
    if match is None or match["v"] != old:
        raise ReleaseError(f"{where}: version {old} not found where expected")
    return text[: match.start("v")] + new + text[match.end("v") :]


def bump(root: Path, new: str, today: dt.date) -> list[str]:
    """Move every place from the current version to ``new`` and date the changelog; returns the files written."""
    old = current_version(root)
    if _parts(new) <= _parts(old):
        raise ReleaseError(f"{new} is not above the current version {old}")
    if found := problems(root):
        raise ReleaseError("the tree is not one consistent release yet:\n  " + "\n  ".join(found))
    changelog = (root / CHANGELOG).read_text(encoding="utf-8")
    head, _, rest = changelog.partition(UNRELEASED + "\n")
    notes, heading, tail = rest.partition("\n## ")
    if not notes.strip():
        raise ReleaseError(f"{CHANGELOG}: '{UNRELEASED}' is empty: write what {new} changes first")
    texts: dict[Path, str] = {}
    for path in pyprojects(root):
        texts[path] = _replace_one(path.read_text(encoding="utf-8"), PYPROJECT_VERSION, old, new, str(path))
    lock = (root / LOCK).read_text(encoding="utf-8")
    for name in package_names(root):
        lock = _replace_one(lock, _lock_entry(name), old, new, f"{LOCK} ({name})")
    texts[root / LOCK] = lock
    chart = (root / CHART).read_text(encoding="utf-8")
    for pattern in (CHART_VERSION, CHART_APP_VERSION):
        chart = _replace_one(chart, pattern, old, new, CHART)
    texts[root / CHART] = chart
    for example in sorted((root / EXAMPLES).glob("*.yaml")):
        text = example.read_text(encoding="utf-8")
        texts[example] = EXAMPLE_TAG.sub(lambda m: f'{m["indent"]}tag: "{new}"' if m["v"] == old else m[0], text)
    dated = f"{UNRELEASED}\n\n## {new} — {today.isoformat()}\n\n{notes.strip()}\n"
    texts[root / CHANGELOG] = head + dated + (f"\n## {tail}" if heading else "")
    for path, text in texts.items():  # every text computed before the first write: a refusal writes nothing
        path.write_text(text, encoding="utf-8")
    return sorted(str(path.relative_to(root)) for path in texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("check", help="every place carries the same version; the changelog has it")
    moving = steps.add_parser("bump", help="move every place to VERSION and date the changelog's Unreleased notes")
    moving.add_argument("version", help="MAJOR.MINOR.PATCH, above the current one")
    moving.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today(), help="release date (today)")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.step == "check":
        found = problems(root)
        for line in found:
            print(line, file=sys.stderr)
        if not found:
            print(f"zoomsymbl {current_version(root)}: every place agrees")
        return 1 if found else 0
    try:
        written = bump(root, args.version, args.date)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print("\n".join(written))
    print(
        f"now {args.version}: run `uv lock --check`, review `git diff`, commit, tag v{args.version} (docs/releasing.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
