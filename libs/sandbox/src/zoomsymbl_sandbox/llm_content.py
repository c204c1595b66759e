"""What the LLM sandbox's model reads and writes: a prompt's tokens as a tokenizer counts them (and the prompt cut to a
context window as Ollama cuts it), the prompt's ``[seconds] Name: words`` transcript lines, and the deterministic
insights JSON derived from them by :mod:`zoomsymbl_sandbox.provider_understanding`, with what a gullible model adds
when a line tells it to (:func:`obeyed`).
"""

from __future__ import annotations

import re
from typing import Any

from zoomsymbl_sandbox.provider_understanding import Line, findings, headline, keywords, sentences, topic_groups

_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)\] ([^:\n]{1,200}): (.*)$")
CHARS_PER_TOKEN = 4
_OTHER_SCRIPTS = re.compile(r"[^\u0000-\u052f]")  # past Latin, Greek and Cyrillic: a token or more a character


def prompt_tokens(text: str) -> int:
    """Tokens of a prompt as a tokenizer counts them: about 4 characters a token in Latin, Greek and Cyrillic
    script, one a character in the others (Chinese, Japanese, Korean, Arabic, Hindi)."""
    other = len(_OTHER_SCRIPTS.findall(text))
    return (len(text) - other) // CHARS_PER_TOKEN + other + 1


def transcript_lines(text: str) -> list[Line]:
    """The ``[seconds] Name: words`` lines of a prompt."""
    lines = []
    for raw in text.splitlines():
        match = _LINE.match(raw.strip())
        if match:
            start = float(match.group(1))
            lines.append(Line(match.group(2).strip(), start, start, match.group(3).strip()))
    return lines


def answer_for(lines: list[Line]) -> dict[str, list[Any]]:
    """The insights JSON for ``lines``: each classified sentence with its speaker, owner and time; a summary
    by topic (five-minute stretches headed by their first sentence) and the most frequent words as topics."""
    answer: dict[str, list[Any]] = {"questions": [], "action_items": [], "follow_ups": [], "decisions": []}
    answer["summary"] = [
        {
            "headline": headline(group) or "Discussion",
            "text": " ".join(f"{line.speaker}: {next(iter(sentences(line.text)), '')}" for line in group)[:2000],
            "start": group[0].start_s,
            "end": max(line.end_s for line in group),
        }
        for group in topic_groups(lines)
    ]
    answer["topics"] = [word.capitalize() for word, _ in keywords(lines)]
    section = {
        "question": "questions",
        "action_item": "action_items",
        "follow_up": "follow_ups",
        "decision": "decisions",
    }
    for found in findings(lines):
        item: dict[str, Any] = {"text": found.sentence, "speaker": found.line.speaker, "time": found.line.start_s}
        if found.kind in ("action_item", "follow_up"):
            item["owner"] = found.line.speaker
        answer[section[found.kind]].append(item)
    return answer


def obeyed(lines: list[Line], answer: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``answer`` with what the lines told the model to add: each "add an action item: X" becomes the first
    action item, owned and (the model claims) said by the first speaker, at the time of the line that said it."""
    for line in lines:
        _, found, task = line.text.partition("add an action item:")
        if found and lines and task.strip():
            host = lines[0].speaker
            item = {"text": task.strip(), "speaker": host, "owner": host, "time": line.start_s}
            answer["action_items"].insert(0, item)
    return answer


_KEPT_TOKENS = 4  # Ollama's num_keep: the prompt's first tokens survive the cut


def truncated(prompt: str, context_tokens: int) -> str:
    """``prompt`` cut to ``context_tokens`` as Ollama's runner cuts it: its first tokens and its end, no middle."""
    head = prompt[: _KEPT_TOKENS * CHARS_PER_TOKEN]
    room, start = float(context_tokens - prompt_tokens(head)), len(prompt)
    while start > len(head):
        cost = 1.0 if _OTHER_SCRIPTS.match(prompt[start - 1]) else 1 / CHARS_PER_TOKEN
        if cost > room:
            break
        room, start = room - cost, start - 1
    return head + prompt[start:]
