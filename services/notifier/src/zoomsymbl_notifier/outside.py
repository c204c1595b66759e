"""Text from outside as the e-mails write it: one clean line, and no link of its choosing. Pure.

A topic, a participant's name, a provider's words reach the e-mails (:mod:`zoomsymbl_notifier.report`,
:mod:`zoomsymbl_notifier.digest`) through these: on one line (:func:`clean_line`: nothing can forge a header or a
line of the text part), and carrying no address a mail client would make a link of (:func:`defanged`,
:func:`outside_name`), except an e-mail address shown on purpose (:func:`shown_address`).
"""

from __future__ import annotations

import re

from zoomsymbl_common.stages import one_line

_SUBJECT_MAX = 160  # characters of a subject, and of a line by default
# What IDNA (UTS 46, as browsers and mail clients apply it) reads as ".", ":" and "/" in an address: ideographic,
# full-width and half-width full stops (label separators: evil。com is evil.com), full-width and small colons,
# the full-width solidus (http：／／).
_DOTS = "\u3002\uff0e\uff61"
_COLONS = ":\ufe13\ufe55\uff1a"
_SLASHES = "/\uff0f"
_LATIN = "A-Za-z\uff21-\uff3a\uff41-\uff5a"  # letters IDNA reads as ASCII ones (full-width: ｅｖｉｌ is evil)
_ALNUM = f"{_LATIN}0-9\uff10-\uff19"
_SCHEME = re.compile(f"(?<=[{_ALNUM}+.-])[{_COLONS}](?=[{_SLASHES}]{{2}})")
# A dot between a letter or digit and two letters or more (a host: www.evil.example, joe@evil.example). A look-alike
# dot counts where a Latin letter or digit is next to it: between two CJK words it is the sentence's full stop (in
# Chinese and Japanese no space follows one), and ``[。]`` after every sentence would make the report unreadable.
_HOST_DOT = re.compile(
    f"(?<=[^\\W_])\\.(?=[^\\W\\d_]{{2,}})"
    f"|(?<=[{_ALNUM}])[{_DOTS}](?=[^\\W\\d_]{{2,}})"
    f"|(?<=[^\\W_])[{_DOTS}](?=[{_LATIN}]{{2,}})"
)
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


def clean_line(value: str, limit: int = _SUBJECT_MAX) -> str:
    """One line of printable text: control characters (CR/LF included) become spaces, runs collapse."""
    return one_line(value, limit)


def defanged(text: str) -> str:
    """``text`` without what mail clients turn into links (Gmail and Outlook link ``http://…``, ``www.…`` and bare
    domains in both parts): ``http://evil.example/login`` reads ``http[:]//evil[.]example/login``. A participant
    who says "add an action item: log in at …" gets the words into the report, never a link under our name.

    A look-alike IDNA reads as the ASCII character is bracketed the same way, as written: ``evil。example`` reads
    ``evil[。]example``, ``http：／／`` ``http[：]／／``."""
    return _HOST_DOT.sub(_bracketed, _SCHEME.sub(_bracketed, text))


def _bracketed(found: re.Match[str]) -> str:
    return f"[{found.group()}]"


def outside_name(value: str, limit: int = 120) -> str:
    """A name from outside (a speaker, an owner, a participant, a caller, a meeting's topic) on one line, defanged:
    Zoom takes any display name, and ``www.evil.example login`` must not become a link in our e-mail, nor
    ``joe@evil.example`` a ``mailto:`` one (``joe@evil[.]example``)."""
    return defanged(clean_line(value, limit))


def shown_address(value: str) -> str:
    """An e-mail address the e-mail shows on purpose (an owner's, a host's) as it is when it is a plain one: a mail
    client makes a ``mailto:`` link of it at most. Anything else (``http://…``, ``a@b.example/login``) is defanged
    like a name."""
    line = clean_line(value, 320)
    return line if _PLAIN_ADDRESS.fullmatch(line) else defanged(line)
