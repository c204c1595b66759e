"""The rules of an e-mail's ending, pure functions: what a give-up settles (:func:`give_up`), what an e-mail taken as
delivered without a reply settles (:func:`unanswered`), recipients refused at ``RCPT TO`` sorted into final and
waiting (:func:`sorted_refusals`), and the reasons recorded. :class:`~zoomsymbl_notifier.endings.Endings` records
and counts what they decide.

A give-up ends an e-mail as an MTA bounces one past its queue lifetime: ``rejected``, or ``sent`` when some recipients
have it already (``delivered_to``), the others recorded in ``refused`` (code :data:`NO_REPLY`, the reason): who has
the message stays on record. Reasons are cut to :data:`REASON_MAX`; a given-up one names no address (it is logged, and
shown by ``zoomsymbl status``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import Email
from zoomsymbl_common.records.mail import RecipientRefusal

from zoomsymbl_notifier.smtp import RecipientsRefused, Refusal

REASON_MAX = 1000  # of a stored last_error
# RecipientRefusal.code of a recipient given up, or taken as delivered, without a reply of its own (no SMTP code is 0)
NO_REPLY = 0
# An address in a server's reply: a given-up reason names none (it is logged, and shown by zoomsymbl status).
_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")
Ending = Literal["sent", "rejected"]


@dataclass(frozen=True)
class GiveUp:
    """An e-mail given up: its last status, and the recipients it settles (``$push``), if any."""

    status: Ending
    push: Document | None


def give_up(email: Email, to: Sequence[str], reason: str) -> GiveUp:
    """``rejected``, or ``sent`` when some recipients have the message already: then the others, ``to``, are
    recorded in ``refused`` with ``reason`` and code :data:`NO_REPLY`, and nobody is sent to again."""
    if not email.delivered_to:
        return GiveUp("rejected", None)
    gone = [RecipientRefusal(address=a, code=NO_REPLY, reason=reason).to_document() for a in to]
    return GiveUp("sent", {"refused": {"$each": gone}})


def unanswered(email: Email, to: Sequence[str], reason: str) -> Document | None:
    """What an e-mail taken as delivered without a reply settles: nothing while no recipient was settled apart (its
    status speaks for all, as for any e-mail sent whole); else, as :meth:`~zoomsymbl_notifier.endings.Endings._sent`
    names them all, ``to`` (the recipients of the unanswered sends) in ``refused`` with ``reason`` and code
    :data:`NO_REPLY`. Not in ``delivered_to``: that holds the recipients a server's reply confirmed, and none came for
    these (a refusal at ``RCPT TO`` is lost with the reply to the message, so the server may not even have taken
    them)."""
    if not (email.delivered_to or email.refused):
        return None
    unconfirmed = [RecipientRefusal(address=a, code=NO_REPLY, reason=reason[:REASON_MAX]).to_document() for a in to]
    return {"refused": {"$each": unconfirmed}}


def lifetime_reason(lifetime: float, error: str, unconfirmed: int) -> str:
    """``gave up after 5 days: <the last error>``, naming no address (it is logged and shown)."""
    reason = f"gave up after {span(lifetime)}: {_ADDRESS.sub('[address]', error)}"
    if unconfirmed:
        reason += f" (an earlier attempt may have arrived: {unconfirmed} unconfirmed)"
    return reason[:REASON_MAX]


def unexpected_reason(errors: int, error: str) -> str:
    """``gave up after 10 unexpected errors: <the last one>``."""
    return f"gave up after {errors} unexpected errors: {error}"[:REASON_MAX]


@dataclass(frozen=True)
class SortedRefusals:
    """Recipients refused at ``RCPT TO``: for good (``final``), or for now (``waiting``: retried alone), and what
    the attempt settles (``$push``: who has the message, who was refused for good)."""

    final: list[Refusal]
    waiting: list[Refusal]
    push: Document


def sorted_refusals(refused: RecipientsRefused, expired: bool, lifetime: float) -> SortedRefusals:
    """``refused`` sorted; past the e-mail's lifetime (``expired``) a refusal for now is final too."""
    final = [r for r in refused.refusals if r.final or expired]
    waiting = [r for r in refused.refusals if not (r.final or expired)]
    push = {
        "delivered_to": {"$each": list(refused.accepted)},
        "refused": {"$each": [_refusal(r, expired, span(lifetime)).to_document() for r in final]},
    }
    return SortedRefusals(final, waiting, push)


def refusal_reason(what: str, refusals: list[Refusal]) -> str:
    """``what``, and the first refusal's reply (the others are alike, or in ``refused``)."""
    return f"{what}: {refusals[0].code!r} {refusals[0].detail!r}"[:REASON_MAX]


def span(seconds: float) -> str:
    """``5 days``, ``36 hours``, ``90 s``: a lifetime as an operator would have set it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} s"


def _refusal(refusal: Refusal, expired: bool, lifetime: str) -> RecipientRefusal:
    reason = f"gave up after {lifetime}: " if expired and not refusal.final else ""
    return RecipientRefusal(address=refusal.address, code=refusal.code, reason=(reason + refusal.detail)[:REASON_MAX])
