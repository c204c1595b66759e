"""Every ``make …`` the README and docs show is a target of the Makefile, with variables something reads."""

from __future__ import annotations

import re

from tests.common.docs_text import ASSIGNMENT, ELISIONS, PLACEHOLDER, ROOT, Shown, documents, invocations, planted

MAKEFILE = ROOT / "Makefile"


def make_targets_and_variables() -> tuple[set[str], set[str]]:
    """The Makefile's targets, and the variables it sets or reads."""
    text = MAKEFILE.read_text(encoding="utf-8")
    targets = {
        target
        for match in re.finditer(r"^([A-Za-z0-9_.][A-Za-z0-9_. -]*?)\s*:(?!=)", text, flags=re.MULTILINE)
        for target in match[1].split()
    }
    variables = set(re.findall(r"^(?:export\s+)?([A-Z_][A-Z0-9_]*)\s*[?:+]?=", text, flags=re.MULTILINE))
    variables |= set(re.findall(r"\$[({]([A-Z_][A-Z0-9_]*)", text))
    return targets - {".PHONY"}, variables


def script_variables() -> set[str]:
    """Environment variables the scripts the Makefile runs read (``ZS_RESET=1 make infra-up``)."""
    names: set[str] = set()
    for path in (ROOT / "scripts").iterdir():
        if path.suffix in {".py", ".sh"}:
            names |= set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    return names


def make_problems(shown: Shown, targets: set[str], variables: set[str]) -> list[str]:
    """Targets the Makefile lacks and ``VAR=value`` neither it nor its scripts read."""
    problems = []
    for word in shown.words[1:]:
        if word.startswith("-") or PLACEHOLDER.fullmatch(word) or word in ELISIONS:
            continue
        if ASSIGNMENT.fullmatch(word):
            if word.split("=", 1)[0] not in variables:
                problems.append(f"{shown}: nothing reads {word.split('=', 1)[0]}")
        elif word not in targets:
            problems.append(f"{shown}: the Makefile has no target {word!r}")
    return problems


# ---------------------------------------------------------------- the docs as they are


def test_every_make_command_the_docs_show_exists() -> None:
    shown = invocations(documents(), "make")
    assert len(shown) > 20, "the scan finds the make commands"
    targets, variables = make_targets_and_variables()
    assert {"test", "demo", "cluster-test"} <= targets
    problems = [p for line in shown for p in make_problems(line, targets, variables | script_variables())]
    assert problems == []


# ---------------------------------------------------------------- the checks catch a planted drift


def test_a_made_up_make_target_or_variable_is_caught() -> None:
    targets, variables = make_targets_and_variables()
    for old, new, problem in (
        ("make images-test", "make image-test", "the Makefile has no target 'image-test'"),
        ("make demo JAEGER=1", "make demo TRACES=1", "nothing reads TRACES"),
    ):
        docs = planted("README.md", old, new)
        shown = invocations(docs, "make")
        found = [
            p.split(": ")[-1] for line in shown for p in make_problems(line, targets, variables | script_variables())
        ]
        assert found == [problem]
