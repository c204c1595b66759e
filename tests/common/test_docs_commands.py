"""Every ``zoomsymbl …`` the docs show exists, with the options shown, and the exit codes they promise match.

The parser is the real one (``zoomsymbl_common.ops.cli.build_parser``, with the subcommands the installed
packages add); the exit codes are the ``EXIT_*`` constants.
"""

from __future__ import annotations

import argparse
import re

from zoomsymbl_common.ops import cli
from zoomsymbl_common.ops import command as ops_command
from zoomsymbl_common.service import EXIT_CONFIG

from tests.common.docs_text import ELISIONS, PLACEHOLDER, Doc, Shown, code_spans, documents, invocations, planted, units

# An exit code the docs promise, by what the sentence around it says.
_EXIT = re.compile(r"\bexit(?:s|ed)?(?: with)?(?: code| status)?\s\**(\d+)\b", re.IGNORECASE)
PROMISES: tuple[tuple[str, int, str], ...] = (
    (
        r"refus\w* without confirmation|--force with no (?:filter|selection|--tenant)",
        ops_command.EXIT_REFUSED,
        "REFUSED",
    ),
    (r"\b(?:did|does) not answer\b", ops_command.EXIT_UNAVAILABLE, "UNAVAILABLE"),
    (r"invalid arguments", ops_command.EXIT_USAGE, "USAGE"),
    (r"invalid (?:configuration|setting)|naming the variable|the variable named|no tenant", EXIT_CONFIG, "CONFIG"),
)


def subcommand_mentions(docs: list[Doc]) -> list[Shown]:
    """Spans such as ``replay --force`` in prose: a subcommand of ``zoomsymbl`` and an option."""
    names = set(_subparsers(cli.build_parser()) or {})
    return [
        Shown(doc.name, ("zoomsymbl", *span.split()))
        for doc in docs
        for span in code_spans(doc.text)
        if len(span.split()) > 1 and span.split()[0] in names and span.split()[1].startswith("--")
    ]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return None


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def _positionals(parser: argparse.ArgumentParser) -> int:
    return sum(1 for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction))


def cli_problems(shown: Shown, parser: argparse.ArgumentParser) -> list[str]:
    """What in ``shown`` the parser does not have: a subcommand, an option, a positional argument."""
    problems: list[str] = []
    path, current = ["zoomsymbl"], parser
    wants_value, positionals, chosen = False, _positionals(parser), False
    for word in shown.words[1:]:
        if word in ELISIONS:
            wants_value = False
            continue
        if wants_value:
            wants_value = False
            continue
        if word.startswith("-") and len(word) > 1:
            action = _options(current).get(word.split("=", 1)[0])
            if action is None:
                problems.append(f"{shown}: `{' '.join(path)}` has no option {word.split('=', 1)[0]}")
                wants_value = "=" not in word  # its value, if it has one, is not a positional argument
            else:
                wants_value = action.nargs != 0 and "=" not in word
            continue
        subcommands = _subparsers(current)
        if subcommands is not None and not chosen:
            if PLACEHOLDER.fullmatch(word):
                break  # `zoomsymbl <subcommand>`
            if word not in subcommands:
                problems.append(f"{shown}: `{' '.join(path)}` has no subcommand {word!r}")
                break
            path.append(word)
            current, positionals = subcommands[word], _positionals(subcommands[word])
            chosen = _subparsers(current) is None
            continue
        if positionals:
            positionals -= 1
            continue
        problems.append(f"{shown}: `{' '.join(path)}` takes no argument {word!r} (an option missing?)")
    return problems


def exit_code_table(doc: Doc) -> dict[int, str]:
    """Code → meaning of the ``| exit code | meaning |`` table of ``doc``."""
    lines = doc.text.splitlines()
    start = next((n for n, line in enumerate(lines) if re.match(r"\|\s*exit code\s*\|", line)), None)
    table: dict[int, str] = {}
    for line in lines[start + 2 :] if start is not None else []:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or not cells[0].isdigit():
            break
        table[int(cells[0])] = cells[1]
    return table


def subcommand_table(doc: Doc) -> dict[str, str]:
    """Subcommand → image of the ``| subcommand | does | image |`` table of ``doc``."""
    lines = doc.text.splitlines()
    start = next((n for n, line in enumerate(lines) if re.match(r"\|\s*subcommand\s*\|", line)), None)
    table: dict[str, str] = {}
    for line in lines[start + 2 :] if start is not None else []:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            break
        table[cells[0].strip("`").removeprefix("zoomsymbl ")] = cells[-1]
    return table


def subcommand_images() -> dict[str, str]:
    """Every subcommand and the image it runs in: ``any`` for the built-in ones, else its package's service."""
    found = {register().name: "any" for register in cli.BUILT_IN}
    for entry in cli.plugin_entry_points():
        package = entry.dist.name if entry.dist else ""
        found[entry.name] = package.removeprefix("zoomsymbl-")
    return found | {name: image for name, (_, image) in cli.PROVIDED_ELSEWHERE.items() if name not in found}


def _first_words(text: str) -> list[str]:
    plain = re.sub(r"\([^()]*\)|[—:,`]", " ", text.lower())
    return plain.split()[:3]


def exit_table_problems(table: dict[int, str]) -> list[str]:
    """Rows of the table that are no ``EXIT_*`` constant, or mean something else than ``zoomsymbl --help`` says."""
    constants = {value for name, value in vars(ops_command).items() if name.startswith("EXIT_")}
    helped = {
        int(match[1]): match[2] for match in re.finditer(r"^\s+(\d+)\s+(.+)$", cli.EXIT_CODES, flags=re.MULTILINE)
    }
    problems = [f"exit code {code} is documented but no EXIT_* constant" for code in sorted(table.keys() - constants)]
    problems += [f"EXIT_* {code} is not in the table" for code in sorted(constants - table.keys())]
    for code in sorted(table.keys() & helped.keys()):
        if _first_words(table[code]) != _first_words(helped[code]):
            problems.append(f"exit code {code}: documented {table[code]!r}, `zoomsymbl --help` says {helped[code]!r}")
    return problems


def promises(docs: list[Doc]) -> list[tuple[str, int, int, str, str]]:
    """(document, code promised, constant, its name, clause) of every sentence promising an exit code for a
    situation (refused, a server down, a bad setting); a clause naming two codes is left out (a guess)."""
    found = []
    for doc in docs:
        for unit in units(doc.text):
            # A quoted message is part of its sentence: its own ";" and "." end no clause.
            unit = re.sub(r"`[^`]*`", lambda span: re.sub(r"[.;](?=\s)", ",", span[0]), unit)
            for clause in re.split(r"(?<=[.;])\s+|\s\|\s", unit):
                codes = _EXIT.findall(clause)
                if len(codes) != 1:
                    continue
                for pattern, constant, name in PROMISES:
                    if re.search(pattern, clause, flags=re.IGNORECASE):
                        found.append((doc.name, int(codes[0]), constant, name, clause))
    return found


def promise_problems(docs: list[Doc]) -> list[str]:
    """The promised exit codes that differ from the constant of their situation."""
    return [
        f"{doc}: exit {code} promised, EXIT_{name} is {constant}: {clause!r}"
        for doc, code, constant, name, clause in promises(docs)
        if code != constant
    ]


# ---------------------------------------------------------------- the docs as they are


def test_every_zoomsymbl_command_the_docs_show_exists_with_its_options() -> None:
    docs = documents()
    shown = invocations(docs, "zoomsymbl") + subcommand_mentions(docs)
    assert len(shown) > 30, "the scan finds the runbook's commands"
    parser = cli.build_parser()
    assert [problem for line in shown for problem in cli_problems(line, parser)] == []


def test_the_exit_code_table_is_the_commands_constants() -> None:
    operations = next(doc for doc in documents() if doc.name == "docs/operations.md")
    table = exit_code_table(operations)
    assert len(table) >= 5, "the runbook's exit code table is found"
    assert exit_table_problems(table) == []


def test_the_subcommand_table_lists_every_subcommand_and_its_image() -> None:
    operations = next(doc for doc in documents() if doc.name == "docs/operations.md")
    assert subcommand_table(operations) == subcommand_images()


def test_exit_codes_promised_in_prose_are_the_constants() -> None:
    assert {name for *_, name, _ in promises(documents())} >= {"REFUSED", "UNAVAILABLE", "CONFIG"}
    assert promise_problems(documents()) == []


# ---------------------------------------------------------------- the checks catch a planted drift


def _cli_problems(docs: list[Doc]) -> list[str]:
    parser = cli.build_parser()
    shown = invocations(docs, "zoomsymbl") + subcommand_mentions(docs)
    return [problem for line in shown for problem in cli_problems(line, parser)]


def test_a_made_up_option_subcommand_or_argument_is_caught() -> None:
    docs = planted("docs/operations.md", "zoomsymbl status --failed --json", "zoomsymbl status --failed --since 1d")
    assert _cli_problems(docs) == [
        "docs/operations.md: zoomsymbl status --failed --since 1d: `zoomsymbl status` has no option --since"
    ]
    docs = planted("docs/operations.md", "zoomsymbl topics list", "zoomsymbl topics delete")
    assert [p.split(": ")[-1] for p in _cli_problems(docs)] == ["`zoomsymbl topics` has no subcommand 'delete'"]
    docs = planted("docs/operations.md", "zoomsymbl backfill --tenant acme", "zoomsymbl backfill acme")
    assert [p.split(": ")[-1] for p in _cli_problems(docs)] == [
        "`zoomsymbl backfill` takes no argument 'acme' (an option missing?)"
    ]
    docs = planted("docs/operations.md", "`replay --force` with no filter", "`replay --forced` with no filter")
    assert [p.split(": ")[-1] for p in _cli_problems(docs)] == ["`zoomsymbl replay` has no option --forced"]


def test_a_subcommand_missing_from_the_table_is_caught() -> None:
    operations = next(doc for doc in documents() if doc.name == "docs/operations.md")
    row = next(line for line in operations.text.splitlines() if line.startswith("| `zoomsymbl reconcile` |"))
    table = subcommand_table(Doc(operations.name, operations.text.replace(row + "\n", "")))
    assert subcommand_images().keys() - table.keys() == {"reconcile"}


def test_an_exit_code_that_drifted_is_caught() -> None:
    operations = next(doc for doc in documents() if doc.name == "docs/operations.md")
    table = exit_code_table(operations)
    assert exit_table_problems({**table, 5: "killed"}) == ["exit code 5 is documented but no EXIT_* constant"]
    swapped = {**table, 3: table[4], 4: table[3]}
    assert len(exit_table_problems(swapped)) == 2
    docs = planted(
        "docs/operations.md", "changes nothing and exits with code 4", "changes nothing and exits with code 2"
    )
    assert [p.split(": exit")[1][:30] for p in promise_problems(docs)] == [" 2 promised, EXIT_REFUSED is 4"]
