"""Unicode bidirectional controls in outside text: what each surface keeps of them. Pure.

A participant named ``"\\u202eevil"`` (RIGHT-TO-LEFT OVERRIDE) reverses whatever follows it in the same
paragraph, so a name or a line of text could change how its neighbours read. On the page each field is
isolated (``<bdi>``) and loses the embedding, override and isolate controls, which can escape the isolation
(Chromium ends a ``<bdi>`` at a PDI in its text); the marks stay, they reach no further than their field.
Text without markup (the text files, the page's title, attributes) loses every bidi control; the JSON keeps
them as ``\\uXXXX`` escapes, so its strings are the stored ones.
"""

from __future__ import annotations

import re
from typing import Final

_EXPLICIT: Final = "\u202a-\u202e\u2066-\u2069"
"""LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI."""
_MARKS: Final = "\u200e\u200f\u061c"
"""LRM, RLM, ALM: invisible strong characters."""
_FORMATTING = re.compile(f"[{_EXPLICIT}]")
_ANY = re.compile(f"[{_EXPLICIT}{_MARKS}]")


def isolatable(text: str) -> str:
    """``text`` fit to be isolated in a ``<bdi>``: without the controls that could end the isolation early."""
    return _FORMATTING.sub("", text)


def plain(text: str) -> str:
    """``text`` without any bidi control (for text that nothing isolates: a text file, a title, an attribute)."""
    return _ANY.sub("", text)


def json_escaped(document: str) -> str:
    """``document`` (JSON) with every bidi control written as a ``\\uXXXX`` escape: the same strings, read back."""
    return _ANY.sub(lambda m: f"\\u{ord(m[0]):04x}", document)
