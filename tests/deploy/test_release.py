"""One version for the whole product (scripts/release.py, docs/releasing.md): the tree is one consistent release,
``check`` finds any place that drifted, and ``bump`` moves every place and dates the changelog, or writes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import release
from tests.deploy.helm_chart import ROOT

DAY = dt.date(2027, 1, 15)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of every file that carries the version (and nothing else), laid out as in the repository."""
    files = [p.relative_to(ROOT) for p in release.pyprojects(ROOT)]
    files += [Path(release.LOCK), Path(release.CHART), Path(release.CHANGELOG)]
    files += [p.relative_to(ROOT) for p in (ROOT / release.EXAMPLES).glob("*.yaml")]
    for relative in files:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, tmp_path / relative)
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


def next_minor(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


def add_unreleased_note(root: Path, note: str) -> None:
    path = root / release.CHANGELOG
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## Unreleased\n", f"## Unreleased\n\n{note}\n", 1), encoding="utf-8")


def clear_unreleased(root: Path) -> None:
    path = root / release.CHANGELOG
    head, _, rest = path.read_text(encoding="utf-8").partition("## Unreleased\n")
    _, heading, tail = rest.partition("\n## ")
    path.write_text(f"{head}## Unreleased\n{heading}{tail}", encoding="utf-8")


def test_the_repository_is_one_consistent_release() -> None:
    assert release.problems(ROOT) == []
    version = release.current_version(ROOT)
    places = list(release.places(ROOT))
    assert {p.version for p in places} == {version}
    # Every kind of place is read: a pattern that matched nothing would make the check vacuous.
    assert {p.what for p in places} >= {"[project] version", "version", "appVersion", "image tag"}
    assert sum(p.path == release.LOCK for p in places) == len(release.pyprojects(ROOT)) >= 10


def test_check_runs_as_a_command_and_names_a_drifted_place(tree: Path) -> None:
    ok = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release.py"), "--root", str(tree), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    chart = tree / release.CHART
    version = release.current_version(tree)
    chart.write_text(chart.read_text(encoding="utf-8").replace(f'appVersion: "{version}"', 'appVersion: "9.9.9"'))
    drifted = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release.py"), "--root", str(tree), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert drifted.returncode == 1
    assert f"{release.CHART}: appVersion is 9.9.9, not {version}" in drifted.stderr


@pytest.mark.parametrize(
    ("place", "old", "new"),
    [
        ("services/mixer/pyproject.toml", 'version = "{v}"', 'version = "0.0.1"'),
        ("uv.lock", 'name = "zoomsymbl-web"\nversion = "{v}"', 'name = "zoomsymbl-web"\nversion = "0.0.1"'),
        ("deploy/helm/examples/transcriber-values.yaml", 'tag: "{v}"', 'tag: "0.0.1"'),
        ("CHANGELOG.md", "## {v} — ", "## v{v} — "),
    ],
    ids=["a member's pyproject", "a lock entry", "an example's image tag", "the changelog's section"],
)
def test_check_finds_each_kind_of_drift(tree: Path, place: str, old: str, new: str) -> None:
    version = release.current_version(tree)
    path = tree / place
    text = path.read_text(encoding="utf-8")
    assert old.format(v=version) in text
    path.write_text(text.replace(old.format(v=version), new.format(v=version), 1), encoding="utf-8")
    assert len(release.problems(tree)) == 1


def test_bump_moves_every_place_and_dates_the_unreleased_notes(tree: Path) -> None:
    old = release.current_version(tree)
    new = next_minor(old)
    add_unreleased_note(tree, "- Something users will notice.")
    before = snapshot(tree)

    written = release.bump(tree, new, DAY)

    assert release.problems(tree) == []
    assert {p.version for p in release.places(tree)} == {new}
    after = snapshot(tree)
    assert set(written) == {name for name in after if after[name] != before[name]}
    changelog = after[release.CHANGELOG]
    assert f"## Unreleased\n\n## {new} — {DAY.isoformat()}\n\n- Something users will notice.\n" in changelog
    assert f"## {old} — " in changelog, "earlier releases stay"
    for name in written:  # only version lines change (and the changelog's heading): nothing else of any file
        if name == release.CHANGELOG:
            continue
        changed = [(a, b) for a, b in zip(before[name].splitlines(), after[name].splitlines(), strict=True) if a != b]
        assert changed and all(a.replace(old, new) == b for a, b in changed), name


@pytest.mark.parametrize(
    ("version", "why"),
    [("0.0.9", "not above"), ("1.0", "MAJOR.MINOR.PATCH"), ("1.0.0-rc1", "MAJOR.MINOR.PATCH"), ("01.0.0", "MAJOR")],
)
def test_bump_refuses_a_version_that_is_not_a_step_up_and_writes_nothing(tree: Path, version: str, why: str) -> None:
    add_unreleased_note(tree, "- A change.")
    before = snapshot(tree)
    with pytest.raises(release.ReleaseError, match=why):
        release.bump(tree, version, DAY)
    assert snapshot(tree) == before


def test_bump_refuses_empty_notes_and_an_inconsistent_tree_and_writes_nothing(tree: Path) -> None:
    new = next_minor(release.current_version(tree))
    clear_unreleased(tree)
    assert release.problems(tree) == []
    before = snapshot(tree)
    with pytest.raises(release.ReleaseError, match="Unreleased' is empty"):
        release.bump(tree, new, DAY)
    assert snapshot(tree) == before

    add_unreleased_note(tree, "- A change.")
    chart = tree / release.CHART
    chart.write_text(chart.read_text(encoding="utf-8").replace("\nversion: ", "\nversion: 7", 1), encoding="utf-8")
    before = snapshot(tree)
    with pytest.raises(release.ReleaseError, match="not one consistent release"):
        release.bump(tree, new, DAY)
    assert snapshot(tree) == before


def test_every_service_reports_the_release_it_was_built_as() -> None:
    # /version and zoomsymbl_build_info read the installed package's metadata: an environment (or image) not
    # synced after a bump would report the old release.
    from importlib import metadata

    version = release.current_version(ROOT)
    for name in release.package_names(ROOT)[1:]:  # the workspace root is not installed as a package
        assert metadata.version(name) == version, name
