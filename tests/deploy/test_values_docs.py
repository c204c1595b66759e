"""values.yaml is documented on every key (a comment line right above it), and the docs cover the chart."""

from __future__ import annotations

import re

from tests.deploy.helm_chart import CHART, EVERY_SERVICE, ROOT, parse, run_helm, set_args

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?:\s|$)")


def undocumented_keys(text: str) -> list[str]:
    """Dotted paths of mapping keys without a comment line directly above (list items' contents are values)."""
    missing: list[str] = []
    path: list[tuple[int, str]] = []
    list_indent: int | None = None
    previous = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip(" "))
        if list_indent is not None and indent <= list_indent and not stripped.startswith("-"):
            list_indent = None
        if stripped.startswith("- ") and list_indent is None:
            list_indent = indent
        match = KEY.match(line)
        if match and list_indent is None:
            while path and path[-1][0] >= indent:
                path.pop()
            path.append((indent, match["key"]))
            if not previous.startswith("#"):
                missing.append(".".join(key for _, key in path))
        previous = stripped
    return missing


def test_every_values_key_has_a_comment() -> None:
    assert undocumented_keys((CHART / "values.yaml").read_text(encoding="utf-8")) == []


def test_the_documentation_check_finds_an_undocumented_key() -> None:
    text = "# documented\na: 1\nb:\n  # nested, documented\n  c: 2\n  d:\n    - e: 3\n"
    assert undocumented_keys(text) == ["b", "b.d"]


def test_runbook_covers_what_a_platform_team_asks() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for topic in (
        "helm upgrade --install",
        "helm rollback",
        "helm uninstall",
        "Strimzi",
        "MinIO",
        "MongoDB",
        "zoomsymbl status",
        "zoomsymbl replay",
        "trace",
        "endpoint.url_validation",
        "app password",
        "429",
        "scratch",
        "existingSecret",
        "Self-hosted transcription",
        "transcriber.enabled",
        "ct2-transformers-converter",
        "nvidia.com/gpu",
        "whisper_max_in_flight",
    ):
        assert topic in runbook, topic


def test_the_object_names_in_kubectl_commands_are_the_ones_the_documented_release_renders() -> None:
    """The runbook installs release ``zoomsymbl`` (``helm upgrade --install zoomsymbl …``), whose objects are
    ``zoomsymbl-<service>``: its commands said ``deploy/zoomsymbl-zoomsymbl-notifier``, which does not exist."""
    rendered = parse(
        run_helm(
            [
                *("template", "zoomsymbl", str(CHART), "--namespace", "zoomsymbl"),
                *set_args(EVERY_SERVICE | {"retention.enabled": "true"}),  # the runbook's Retention section turns it on
            ]
        ).stdout
    )
    kinds = {"deploy": "Deployment", "job": "Job", "cronjob": "CronJob"}
    names = {(m["kind"], m["metadata"]["name"]) for m in rendered}
    documents = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    named: set[tuple[str, str, str]] = set()
    for path in documents:
        text = path.read_text(encoding="utf-8")
        # A Job the page itself makes from a CronJob of the release (the operator pod, a retention run now) exists
        # once that CronJob does: its name is the page's, the CronJob's must be the release's.
        made = {job for _, job in re.findall(r"create job --from=cronjob/(zoomsymbl-[a-z0-9-]+) ([a-z0-9-]+)", text)}
        named |= {
            (kinds[kind], name, path.name)
            for kind, name in re.findall(r"\b(deploy|job|cronjob)/(zoomsymbl-[a-z0-9-]+)", text)
            if not (kind == "job" and name in made)
        }
    assert named, "the scan finds the runbook's commands"
    assert ("CronJob", "zoomsymbl-ops", "operations.md") in named
    assert [(kind, name, doc) for kind, name, doc in sorted(named) if (kind, name) not in names] == []


def test_the_runbooks_helm_timeout_outlasts_the_topics_hook() -> None:
    """``helm --wait --timeout`` counts the pre-install hook: 10 minutes gave up on a topics Job allowed 16."""
    rendered = parse(run_helm(["template", "zoomsymbl", str(CHART), "--namespace", "zoomsymbl"]).stdout)
    (job,) = [m for m in rendered if m["kind"] == "Job"]
    deadline = job["spec"]["activeDeadlineSeconds"]
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    timeouts = [int(minutes) * 60 for minutes in re.findall(r"--wait --timeout (\d+)m", runbook)]
    assert len(timeouts) >= 2, "the install and upgrade commands"
    assert min(timeouts) > deadline
