"""S3 key segments made of outside ids: Zoom's meeting UUIDs, and any other id or name put in a key.

A segment must be path-safe, distinct for distinct ids, and short enough for file-system S3 servers
(:data:`MAX_SEGMENT`). A meeting UUID's segment is its urlsafe base64 (reversible); a segment too long
gives way to a digest form of bounded length (:func:`bounded_segment`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

MAX_SEGMENT: Final = 200
"""The longest key segment kept in its readable encoding. File-system S3 servers (versitygw, MinIO)
refuse segments over 255 bytes; the rest leaves room for the suffixes after a meeting key, the longest
``.mono-{12 hex}.cut-{12 hex}.part10000.flac`` (50 characters; a mixed file's own part, ``.mix-{12 hex}.cut-{12
hex}.part10000.opus``, has 49: :func:`mix_tag`, ``zoomsymbl_submitter.part_plan``)."""
_DIGEST_PREFIX: Final = MAX_SEGMENT - 64  # so a digest segment is MAX_SEGMENT + 1 characters long


def bounded_segment(encoded: str) -> str:
    """``encoded`` (an ASCII key segment) when it has at most :data:`MAX_SEGMENT` characters, else a digest form.

    The digest form is the first characters of ``encoded``, ``-`` and the sha256 hex of ``encoded``:
    deterministic, and exactly ``MAX_SEGMENT + 1`` characters long, so it never equals a segment
    that fits. The encodings fed in are injective, so distinct ids keep distinct segments.
    """
    if len(encoded) <= MAX_SEGMENT:
        return encoded
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()
    return f"{encoded[:_DIGEST_PREFIX]}-{digest}"


def meeting_key(meeting_uuid: str) -> str:
    """A collision-free, path-safe key segment for a Zoom meeting UUID of at most :data:`MAX_SEGMENT` + 1 bytes.

    The urlsafe base64 of the UUID (reversible) when that fits in :data:`MAX_SEGMENT` characters
    (UUIDs of up to 150 UTF-8 bytes, every real Zoom UUID); longer ones get :func:`bounded_segment`'s digest form.
    """
    return bounded_segment(base64.urlsafe_b64encode(meeting_uuid.encode("utf-8")).decode("ascii").rstrip("="))


def mix_tag(input_hash: str, generation: int) -> str:
    """``mix-{12 hex}``: the tag of a mixed file's key (``mixed/{tenant}/{meeting_key}.{tag}.{ext}``), a digest of the
    mix's inputs and the generation that made it.

    Shared by the mixer, which names its file so, and the submitter, which tells from a job's input and generation
    which earlier file of a meeting it read (and may delete once nothing reads it). Without a tag every mix of a
    meeting went to one key: a mix of other inputs overwrote the file an earlier generation's job still read.
    """
    return f"mix-{input_digest(input_hash, generation)}"


def input_digest(input_hash: str, generation: int) -> str:
    """12 hex digits of a meeting's input and generation: what a mixed file's key (:func:`mix_tag`) and its mono mix's
    (``zoomsymbl_submitter.downmix.mono_object_key``) are told apart by."""
    return hashlib.sha256(f"{input_hash}\n{generation}".encode()).hexdigest()[:12]


def meeting_uuid_from_key(key: str) -> str:
    """The meeting UUID that :func:`meeting_key` encoded; raises ``ValueError`` for the (one-way) digest form."""
    if len(key) > MAX_SEGMENT:
        raise ValueError(f"meeting key {key!r} is a digest; the UUID cannot be recovered from it")
    padded = key + "=" * (-len(key) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
