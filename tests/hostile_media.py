"""Bytes that claim to be audio but make ffmpeg open other files, and a canary that tells if it did.

The canary is a FIFO nobody writes to: opening it for reading blocks until a writer comes, so a tool
that follows a manifest to it hangs until its timeout instead of failing at once. A test that sees
the tool refuse the input (a quick error, not a timeout) knows the canary was never opened.
"""

from __future__ import annotations

import os
from pathlib import Path

DEMUXERS = {"hls-file-url": "hls", "hls-relative": "hls", "ffconcat": "concat", "dash": "dash", "dash-bom": "dash"}
"""Each manifest kind, and the ffmpeg demuxer that would follow it."""
MANIFESTS = tuple(DEMUXERS)


def make_canary(folder: Path) -> Path:
    """A FIFO named like a track (``canary.m4a``: HLS and DASH check segment extensions)."""
    path = folder / "canary.m4a"
    os.mkfifo(path)
    return path


def manifest(kind: str, canary: Path, size: int = 0) -> bytes:
    """A manifest of ``kind`` naming ``canary``, padded with comment lines to ``size`` bytes when asked."""
    if kind == "hls-file-url":
        text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\nfile:{canary}\n#EXT-X-ENDLIST\n"
    elif kind == "hls-relative":
        text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{canary.name}\n#EXT-X-ENDLIST\n"
    elif kind == "ffconcat":
        text = f"ffconcat version 1.0\nfile '{canary.name}'\n"
    elif kind in ("dash", "dash-bom"):
        # With a BOM the body no longer starts with "<", which the mixer's error-page check looks for.
        text = ("\ufeff" if kind == "dash-bom" else "") + (
            '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT2S" minBufferTime="PT1S" '
            'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="audio/mp4">'
            '<Representation id="a" bandwidth="64000" codecs="mp4a.40.2" audioSamplingRate="44100">'
            f"<BaseURL>file:{canary}</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
        )
    else:
        raise ValueError(kind)
    body = text.encode()
    if size > len(body):
        # HLS and ffconcat skip "#" lines; XML ends at its root element and DASH ignores the rest.
        filler = b"<!-- " + b" " * (size - len(body) - 10) + b" -->\n" if kind.startswith("dash") else b""
        if not filler:
            filler = b"#" + b" " * (size - len(body) - 2) + b"\n"
        body += filler
    return body


def write_manifest(path: Path, kind: str, canary: Path, size: int = 0) -> Path:
    """``path`` holding :func:`manifest` (in the canary's folder: relative names resolve there)."""
    path.write_bytes(manifest(kind, canary, size))
    return path
