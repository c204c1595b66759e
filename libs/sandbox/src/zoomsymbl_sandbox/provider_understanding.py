"""SANDBOX "language understanding": deterministic rules over transcript sentences. Pure.

Nothing here understands language. A sentence ending in ``?`` is a question; one that commits someone
("I will", "I'll", "we need to", "please", "let's") is an action item; one about sending, scheduling or
following up later is a follow-up; one that says something was agreed or decided is a decision. Tests
and the demo can therefore predict every item from the words spoken, and a wrong speaker or time shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE = re.compile(r"[^.?!]+[.?!]?")
_ACTION = re.compile(r"\b(i will|i'll|we will|we'll|i am going to|i'm going to|we need to|need to|please|let's)\b")
_FOLLOW_UP = re.compile(r"\b(send|follow up|follow-up|schedule|tomorrow|next week|get back)\b")
_DECISION = re.compile(r"\b(agreed|decided|decision|we will go with|let's go with|approved)\b")


@dataclass(frozen=True)
class Line:
    """One utterance: who (a name or a label), when (seconds) and what."""

    speaker: str
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Found:
    """One sentence classified as ``kind``, with the line it came from."""

    kind: str
    sentence: str
    line: Line


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip() and re.search(r"\w", s)]


def classify(sentence: str) -> list[str]:
    """Every kind a sentence counts as (a sentence may be an action item and a follow-up)."""
    lower = sentence.casefold()
    kinds = []
    if sentence.endswith("?"):
        kinds.append("question")
    if _DECISION.search(lower):
        kinds.append("decision")
    if _ACTION.search(lower) and not sentence.endswith("?"):
        kinds.append("action_item")
    if _FOLLOW_UP.search(lower) and not sentence.endswith("?"):
        kinds.append("follow_up")
    return kinds


def findings(lines: list[Line]) -> list[Found]:
    """Every classified sentence of ``lines``, in line order."""
    return [Found(kind, s, line) for line in lines for s in sentences(line.text) for kind in classify(s)]


def topic_groups(lines: list[Line], per_topic_s: float = 300.0) -> list[list[Line]]:
    """Lines cut into topics of ``per_topic_s`` seconds of meeting time (at least one line each)."""
    groups: list[list[Line]] = []
    for line in sorted(lines, key=lambda x: x.start_s):
        if not groups or line.start_s - groups[-1][0].start_s >= per_topic_s:
            groups.append([])
        groups[-1].append(line)
    return groups


def headline(group: list[Line]) -> str:
    """The first sentence said in the topic, at most 80 characters."""
    first = next((s for line in group for s in sentences(line.text)), "")
    return first[:80]


_STOP = frozenset(
    [
        "about",
        "after",
        "before",
        "maybe",
        "other",
        "really",
        "right",
        "should",
        "still",
        "thank",
        "things",
        "today",
        "tomorrow",
        "yesterday",
        "again",
        "also",
        "being",
        "could",
        "every",
        "everyone",
        "going",
        "great",
        "hello",
        "their",
        "there",
        "these",
        "thanks",
        "think",
        "this",
        "those",
        "through",
        "would",
        "which",
        "while",
        "where",
        "segment",
        "channel",
    ]
)


def keywords(lines: list[Line], count: int = 3) -> list[tuple[str, int]]:
    """The ``count`` most frequent words of five letters or more (stop words aside), with their counts."""
    seen: dict[str, int] = {}
    for line in lines:
        for word in re.findall(r"[a-z]{5,}", line.text.casefold()):
            if word not in _STOP:
                seen[word] = seen.get(word, 0) + 1
    return sorted(seen.items(), key=lambda item: (-item[1], item[0]))[:count]
