"""What of a job's utterances is stored: bounded, so the ``transcriptions`` document stays under 16 MiB.

MongoDB refuses a document over 16 MiB; a refused result would be retried (the whole meeting transcribed
again, up to the attempt budget) and then fail the meeting with nothing. A model looping on noise can emit
long texts and many of them: each text is cut, the earliest utterances are kept within a byte budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import bson
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.providers.whisper import MAX_UTTERANCES
from zoomsymbl_common.records import Utterance
from zoomsymbl_whisper import ChannelUtterance

MAX_TEXT_CHARS = 5_000
"""Longest text stored per utterance (what the whisper provider reads back of one)."""
MAX_UTTERANCES_BYTES = 12 * 1024 * 1024
"""BSON bytes of the stored utterances: the rest of the 16 MiB document (name, error, progress) fits beside."""
_ARRAY_ITEM_BYTES = 8  # type byte and index key ("199999\0") of an array element


def utterance_doc(u: ChannelUtterance) -> Document:
    """What is stored per utterance (times rounded to milliseconds, text cut at ``MAX_TEXT_CHARS``)."""
    start, end = round(u.start_seconds, 3), round(u.end_seconds, 3)
    return Utterance(channel=u.channel, start=start, end=end, text=u.text[:MAX_TEXT_CHARS]).to_document()


def stored_utterances(found: Sequence[ChannelUtterance], budget: int = MAX_UTTERANCES_BYTES) -> list[Document]:
    """The documents of ``found`` (in start order) that are stored: at most ``MAX_UTTERANCES``, within ``budget``."""
    docs: list[Document] = []
    size = 0
    for u in found[:MAX_UTTERANCES]:
        doc = utterance_doc(u)
        size += len(bson.encode(doc)) + _ARRAY_ITEM_BYTES
        if size > budget:
            break
        docs.append(doc)
    return docs
