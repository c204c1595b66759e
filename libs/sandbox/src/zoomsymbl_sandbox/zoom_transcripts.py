"""SANDBOX: Zoom's own transcript files and the `recording.transcript_completed` webhook.

With audio transcription on, Zoom produces an audio transcript (`file_type` `TRANSCRIPT`,
`recording_type` `audio_transcript`, WebVTT with `Name: text` cues) and, where captions were used, a
closed-caption file (`CC`, `closed_caption`). They appear in `recording_files[]` of the Recordings API
and of `recording.transcript_completed`, which Zoom sends once the transcript is ready, after
`recording.completed`. Payload per Zoom's webhook reference, "Recording Transcript Completed"
(https://marketplace.zoom.us/docs/api-reference/webhook-reference/recording-events/recording-transcript-completed,
now https://developers.zoom.us/docs/api/meetings/events/#tag/recording/POST/recording.transcript_completed):
`{"event", "event_ts", "payload": {"account_id", "object": {uuid, id, host_id, host_email, topic, start_time,
duration, recording_files: [{id, meeting_id, recording_start, recording_end, file_type: "TRANSCRIPT",
file_extension: "VTT", file_size, download_url, status, recording_type: "audio_transcript"}]}},
"download_token"}`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoomsymbl_sandbox.zoom_audio import LEAD_IN_S
from zoomsymbl_sandbox.zoom_specs import MeetingSpec

TRANSCRIPT_KINDS = ("transcript", "cc")
_SECONDS_PER_WORD = 0.4


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def transcript_vtt(spec: MeetingSpec, *, captions: bool = False, stretch: tuple[int, int] | None = None) -> str:
    """What each participant says, timed on the meeting clock, as Zoom's WebVTT; of a ``stretch`` of a restarted
    recording, what is said from its start to its end, timed from its start (Zoom's file of that recording).

    The transcript is Zoom's shape (numbered cues, `Name: text`); the captions file differs as caption
    files do (a NOTE block, cue settings, CRLF line ends), so both paths of a parser are exercised.
    """
    lines = ["WEBVTT", ""]
    if captions:
        lines += ["NOTE closed captions of the meeting", ""]
    begin, until = stretch or (0, spec.total_duration_s)
    talks = sorted((p.start_offset_s + LEAD_IN_S, p) for p in spec.participants if p.speech.strip())
    talks = [(start - begin, person) for start, person in talks if begin <= start < until]
    for number, (start, person) in enumerate(talks, start=1):
        words = person.speech.split()
        left = min(person.start_offset_s + person.duration_s, until) - begin
        end = min(start + max(1.0, len(words) * _SECONDS_PER_WORD), left)
        timing = f"{_clock(start)} --> {_clock(max(end, start + 0.5))}" + (" align:start" if captions else "")
        lines += [str(number), timing, f"{person.name}: {' '.join(words)}", ""]
    return ("\r\n" if captions else "\n").join(lines)


def write_transcripts(spec: MeetingSpec, folder: Path) -> dict[str, Path]:
    """The spec's transcript (and captions, when asked for) as files in ``folder``, by kind; of a restarted recording
    one of each per stretch, by kind and stretch (``transcript/0``, ``cc/1``)."""
    wanted = {"transcript": spec.transcript, "cc": spec.transcript and spec.captions}
    stretches: list[tuple[str, tuple[int, int] | None]] = [("", None)]
    if spec.stretches:
        stretches = [(f"/{i}", s) for i, s in enumerate(spec.stretches)]
    written: dict[str, Path] = {}
    for kind, on in wanted.items():
        for suffix, stretch in stretches if on else []:
            path = folder / f"{kind}{suffix.replace('/', '-')}.vtt"
            path.write_bytes(transcript_vtt(spec, captions=kind == "cc", stretch=stretch).encode("utf-8"))
            written[kind + suffix] = path
    return written


def transcript_completed_event(
    meeting: Mapping[str, Any], download_token: str, *, event_ts: int | None = None
) -> dict[str, Any]:
    """The `recording.transcript_completed` body: the meeting object listing only its transcript files."""
    obj = dict(meeting)
    obj["recording_files"] = [
        f for f in meeting.get("recording_files", []) if f.get("file_type") in ("TRANSCRIPT", "CC")
    ]
    obj.pop("participant_audio_files", None)
    obj["recording_count"] = len(obj["recording_files"])
    return {
        "event": "recording.transcript_completed",
        "event_ts": event_ts if event_ts is not None else int(time.time() * 1000),
        "payload": {"account_id": meeting["account_id"], "object": obj},
        "download_token": download_token,
    }
