"""The merge: the channel plan of a meeting's loaded tracks, and the ffmpeg run that joins them into one file.

Above ``max_channels`` the plan ranks the tracks by talk time (measured while they downloaded, else in
one analysis pass) and the least talkative share a channel. Every plan is checked against the meeting's
longest possible mix before any ffmpeg pass pads each track to its end. A tool the machine ended (an OOM
kill, a full volume) is retried; any other failure of the merge fails the meeting (``MergeFailed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_mixer.analytics import SilenceLog, speaker_stats
from zoomsymbl_mixer.bounds import check_plan, longest_mix
from zoomsymbl_mixer.channels import MixPlan, Track, overflowed, per_track, plan_mix, split_stereo
from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.errors import MergeFailed, interrupted
from zoomsymbl_mixer.ffmpeg import EXTENSIONS, OutputFormat, analysis_args, merge_args, resolve_format
from zoomsymbl_mixer.selection import Selection

MAX_SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class Merged:
    """A finished local mix."""

    path: Path
    format: OutputFormat
    silence_log: SilenceLog


class Merger:
    """Plans and merges the tracks of one meeting at a time under the mix's knobs."""

    def __init__(self, config: MixConfig) -> None:
        self.config = config

    async def plan(
        self, tracks: list[Track], tenant: TenantConfig, choice: Selection, talk: dict[str, float]
    ) -> MixPlan:
        """One channel per track up to ``max_channels``; ``talk``: talk seconds by file id, measured already."""
        if choice.kind == "phone":  # one file, no merge: a stereo call keeps its two sides apart
            plan = plan_mix([t for track in tracks for t in split_stereo(track)], max_channels=2, kind="phone")
            check_plan(plan, longest_mix(choice.files))
            return plan
        plan = plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind)
        # Before any ffmpeg pass: each pads every track to the plan's end.
        check_plan(plan, longest_mix(choice.files))
        if not overflowed(plan):
            return plan
        if all(t.file.file_id in talk for t in tracks):
            return plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind, talk_seconds=talk)
        # Ranking by talk time needs one analysis pass; only meetings above max_channels pay for it.
        log_ = SilenceLog(channels=len(tracks))
        args = analysis_args(per_track(plan), sample_rate=sample_rate(plan), silence=self.config.silence)
        result = await run_tool(args, timeout=self.config.ffmpeg_timeout, on_line=log_.feed)
        if result.returncode != 0:
            raise interrupted("ffmpeg", result.returncode, result.tail) or MergeFailed(
                f"talk-time analysis: ffmpeg exit {result.returncode}: {_last(result.tail)}"
            )
        stats = speaker_stats(log_.silences(plan.total_seconds), plan.total_seconds)
        talk = {t.file.file_id: s.talk_seconds for t, s in zip(tracks, stats, strict=True)}
        return plan_mix(tracks, max_channels=tenant.max_channels, kind=choice.kind, talk_seconds=talk)

    async def merge(self, plan: MixPlan, scratch: Path) -> Merged:
        """The plan's channels joined into one file in ``scratch``, in the format the mix's knobs choose."""
        fmt = resolve_format(
            self.config.output_format,
            len(plan.channels),
            seconds=plan.total_seconds,
            sample_rate=sample_rate(plan),
            flac_max_bytes=self.config.flac_max_bytes,
        )
        output = scratch / f"mixed.{EXTENSIONS[fmt]}"
        silence_log = SilenceLog(channels=len(plan.channels))
        args = merge_args(
            plan,
            output,
            fmt,
            sample_rate=sample_rate(plan),
            silence=self.config.silence,
            opus_bitrate_per_channel=self.config.opus_bitrate_per_channel,
            opus_complexity=self.config.opus_complexity,
        )
        result = await run_tool(args, timeout=self.config.ffmpeg_timeout, on_line=silence_log.feed)
        if result.returncode != 0:
            # An OOM kill or a full volume is no fault of the tracks: retried, not the meeting failed.
            raise interrupted("ffmpeg", result.returncode, result.tail) or MergeFailed(
                f"ffmpeg exit {result.returncode}: {_last(result.tail)}"
            )
        return Merged(output, fmt, silence_log)


def sample_rate(plan: MixPlan) -> int:
    """The mix's sample rate: the highest of its tracks, at most :data:`MAX_SAMPLE_RATE`."""
    return min(MAX_SAMPLE_RATE, max(t.sample_rate for t in plan.tracks))


def _last(lines: Sequence[str]) -> str:
    return lines[-1][-300:] if lines else "no output"
