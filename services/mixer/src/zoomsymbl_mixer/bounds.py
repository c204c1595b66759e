"""How long a mix may last: bounded by what can be trusted, never by a file's own header alone.

A track's length comes from its container (an MP4's movie header, an MP3's Xing frame count), which
whoever made the file chose. ffmpeg pads every channel with silence to the longest track plus its
delay, so one header claiming 1,000,000 s fills scratch with PCM and sends an 11-day file to the
provider. The trusted facts are the bytes actually downloaded and Zoom's own clock:

* a compressed stream cannot last longer than its bytes allow (:data:`MIN_BYTES_PER_SECOND`);
* no track, and no mix, outlasts the meeting Zoom timed (``recording_start`` to ``recording_end`` of
  the files) by more than :data:`MARGIN_SECONDS`, nor a Zoom meeting at all: Zoom ends every meeting
  after 30 hours (paid licences; free ones after 40 minutes), so Zoom's own times spread wider than
  that, or start times that put ``adelay`` days apart, are refused too.

Pure functions: the loader and the mixer call them on probes, plans and Zoom's times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from zoomsymbl_common.events import RecordingFile

from zoomsymbl_mixer.channels import MixPlan
from zoomsymbl_mixer.errors import MeetingTooLong, TrackInvalid

MAX_MEETING_SECONDS: Final = 30 * 3600
"""Zoom ends a meeting after 30 hours (support.zoom.com KB0067972, "Meeting ends after 30 hours")."""
MARGIN_SECONDS: Final = 3600.0
"""Slack over Zoom's times: they are rounded to the second and only roughly the tracks' own lengths."""
MIN_BYTES_PER_SECOND: Final = {"aac": 32.0, "mp3": 500.0}
"""The fewest bytes per second of audio a real file of that codec holds, container included.

AAC: every frame is 1024 samples and even digital silence costs a few bytes a frame plus its entry in
the MP4's size table. Zoom records 32 kHz mono AAC (31.25 frames/s); ffmpeg writes a minute of digital
silence there as 265 B/s, and at AAC's lowest sampling rate (7.35 kHz, 7.2 frames/s) as 72 B/s, so no
AAC Zoom (or any encoder) produces comes near 32 B/s: a real track is never refused, and a header
claiming 1,000,000 s for a 9 KB file is (it would be 0.009 B/s). MP3: the lowest bitrate of any MPEG
audio layer III frame is 8 kbit/s (MPEG-2.5), 1000 B/s; Zoom Phone's recordings are far above it.
Other codecs (Zoom sends none) are bounded by the meeting's length alone.
"""


def zoom_span(files: Sequence[RecordingFile]) -> float | None:
    """Seconds from the first ``recording_start`` to the last ``recording_end``; None when Zoom gave no times."""
    starts = [f.recording_start for f in files if f.recording_start is not None]
    ends = [f.recording_end for f in files if f.recording_end is not None]
    if not starts or not ends:
        return None
    return max(0.0, (max(ends) - min(starts)).total_seconds())


def longest_mix(files: Sequence[RecordingFile]) -> float:
    """The longest a mix of ``files`` (and each of them) may last: Zoom's span plus the margin, at most 30 h plus it."""
    span = zoom_span(files)
    return min(span if span is not None else MAX_MEETING_SECONDS, MAX_MEETING_SECONDS) + MARGIN_SECONDS


def check_schedule(files: Sequence[RecordingFile]) -> None:
    """Refuse Zoom's times when they spread over longer than a meeting lasts (before anything is downloaded).

    Start times alone count too: a webhook without ``recording_end`` whose starts lie days apart would
    delay one track by days (``adelay``) and pad every other one to match.
    """
    times = [t for f in files for t in (f.recording_start, f.recording_end) if t is not None]
    if len(times) < 2:
        return
    spread = (max(times) - min(times)).total_seconds()
    if spread > MAX_MEETING_SECONDS + MARGIN_SECONDS:
        raise MeetingTooLong(
            f"zoom's recording times spread over {_hours(spread)}; a zoom meeting ends after "
            f"{_hours(MAX_MEETING_SECONDS)}"
        )


def check_track(file_id: str, codec: str, size: int, duration: float, longest: float) -> None:
    """Refuse a track whose probed ``duration`` its ``size`` in bytes cannot hold, or that outlasts ``longest``."""
    floor = MIN_BYTES_PER_SECOND.get(codec)
    if floor is not None and size < duration * floor:
        raise TrackInvalid(
            file_id,
            f"its header says it lasts {duration:.0f} s, but {size} bytes of {codec} hold at most "
            f"{size / floor:.0f} s (implausible length)",
        )
    if duration > longest:
        raise TrackInvalid(
            file_id,
            f"its header says it lasts {duration:.0f} s, longer than the meeting zoom recorded allows "
            f"({longest:.0f} s) (implausible length)",
        )


def check_plan(plan: MixPlan, longest: float) -> None:
    """Refuse a plan whose tracks, delayed to their start times, run past ``longest``."""
    if plan.total_seconds <= longest:
        return
    delay = max(plan.delays_ms) / 1000
    raise MeetingTooLong(
        f"the mix would last {_hours(plan.total_seconds)} (the latest track starts {_hours(delay)} after the "
        f"first); at most {_hours(longest)} fit the meeting zoom recorded"
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"
