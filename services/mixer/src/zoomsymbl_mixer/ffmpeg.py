"""ffmpeg: argument lists built by pure functions (run by ``zoomsymbl_common.media_tools.run_tool``); ffprobe's are
in :mod:`zoomsymbl_mixer.ffprobe`.

Facts of Debian's ffmpeg 5.1 this module relies on (measured): ``amerge`` takes at most 64 inputs
and stops at the shortest, so tracks are joined with ``join`` (any count, ``channel_layout="N
channels"``); ``join`` also stops at the shortest input, so every track is padded (``apad``) to the
whole meeting first; ``adelay`` takes integer milliseconds; FLAC without ``-sample_fmt s16`` comes
out 24-bit (2.1x larger, 30 % slower) and stops at 8 channels; a 32-channel 16-bit WAV passes
4 GiB after ~35 minutes, hence RF64; one merge does not get faster with threads, so each run uses
one and parallel meetings use the cores. Output goes to a file, never a pipe: a piped FLAC/WAV has
no length in its header. Multichannel Opus (``-mapping_family 255``, up to 255 channels) is written
at 48 kHz whatever the input rate, read back by ffprobe with every channel, cut by ``-c copy``
cleanly, and costs at most ~16.5 MB per hour per channel at 32 kbit/s (docs/audio-format.md).
Every input is opened as a local file with an audio demuxer only, and the tools get a minimal
environment (``zoomsymbl_common.media_tools``): a "track" that is an HLS playlist or an ffconcat
list naming other files is refused instead of followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from zoomsymbl_common.media_tools import DOWNLOADED_AUDIO, input_guard

from zoomsymbl_mixer.channels import MixPlan
from zoomsymbl_mixer.settings import OutputFormatSetting

OutputFormat = Literal["flac", "wav", "opus"]
FLAC_MAX_CHANNELS: Final = 8
FLAC_OVERHEAD: Final = 1.01
"""FLAC never exceeds 16-bit PCM by more than its frame headers (verbatim frames): the bound used."""
EXTENSIONS: Final[dict[OutputFormat, str]] = {"flac": "flac", "wav": "wav", "opus": "opus"}
CONTENT_TYPES: Final[dict[OutputFormat, str]] = {"flac": "audio/flac", "wav": "audio/wav", "opus": "audio/ogg"}
ANALYSIS_RATE: Final = 4000
_COMMON: Final = ("-hide_banner", "-nostdin", "-nostats", "-y", "-threads", "1", "-filter_complex_threads", "1")


@dataclass(frozen=True)
class SilenceSettings:
    """What counts as silence for the per-channel analytics."""

    threshold_db: float = -40.0
    min_seconds: float = 0.5


def pcm_bytes(channels: int, seconds: float, sample_rate: int) -> int:
    """The size of ``seconds`` of 16-bit PCM: what a FLAC file of the meeting cannot (much) exceed."""
    return round(channels * seconds * sample_rate * 2)


def resolve_format(
    requested: OutputFormatSetting,
    channels: int,
    *,
    seconds: float = 0.0,
    sample_rate: int = 48_000,
    flac_max_bytes: int | None = None,
) -> OutputFormat:
    """The format of one mix.

    ``auto``: lossless FLAC while the file is sure to stay within ``flac_max_bytes`` (at most 8
    channels, and within it even uncompressed), else multichannel Opus (at most ~16.5 MB per hour per
    channel, an eighth of FLAC's worst case: docs/audio-format.md). ``flac`` asked for above 8 channels
    becomes RF64-capable WAV; ``wav`` and ``opus`` are taken as asked.
    """
    if requested in ("wav", "opus"):
        return "wav" if requested == "wav" else "opus"
    if channels > FLAC_MAX_CHANNELS:
        return "opus" if requested == "auto" else "wav"
    too_large = (
        flac_max_bytes is not None and pcm_bytes(channels, seconds, sample_rate) * FLAC_OVERHEAD > flac_max_bytes
    )
    return "opus" if requested == "auto" and too_large else "flac"


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def filter_graph(plan: MixPlan, sample_rate: int, silence: SilenceSettings | None) -> str:
    """Delay each track to its place on the meeting clock, pad or cut it to the end, join into N channels.

    The end is the plan's (``total_seconds``, the tracks' probed lengths that :mod:`zoomsymbl_mixer.bounds`
    checked), not where a track's bytes run out: a header may claim less than the file holds (an MP4's
    movie header saying 2 s over 20 s of frames), and without the cut a meeting of such tracks came out as
    long as the frames, past every bound. ``atrim`` counts from a track's first sample, like ``apad``.
    """
    total = _seconds(plan.total_seconds)
    parts = [
        f"[{i}:a:0]{_skip(plan.tracks[i].skip_samples)}{_pick(plan.tracks[i].source_channel)}aformat=sample_fmts=fltp:sample_rates={sample_rate}"
        f":channel_layouts=mono,adelay=delays={delay}:all=1,apad=whole_dur={total},atrim=duration={total}[t{i}]"
        for i, delay in enumerate(plan.delays_ms)
    ]
    labels = []
    for number, channel in enumerate(plan.channels):
        inputs = "".join(f"[t{i}]" for i in channel.members)
        if len(channel.members) == 1:
            parts.append(f"{inputs}anull[c{number}]")
        else:
            # normalize=0: several speakers on one channel keep their own loudness instead of 1/n of it.
            parts.append(f"{inputs}amix=inputs={len(channel.members)}:duration=longest:normalize=0[c{number}]")
        labels.append(f"[c{number}]")
    count = len(plan.channels)
    joined = f"{''.join(labels)}join=inputs={count}:channel_layout={count} channels"
    if silence is None:
        parts.append(f"{joined}[out]")
    else:
        # silencedetect costs ~20 % of a merge at full rate; on a copy point-sampled down to 4 kHz it
        # costs a third of that. Point sampling keeps every sample's level (an anti-alias filter would
        # soften sibilants into "silence"), and 0.25 ms resolution is plenty for pauses of 0.5 s.
        parts.append(f"{joined},asplit=2[out][an]")
        parts.append(f"[an]aresample={ANALYSIS_RATE}:filter_size=1:phase_shift=0,{silencedetect(silence)},anullsink")
    return ";".join(parts)


def _skip(samples: int) -> str:
    """Drop an AAC stream's encoder priming, as the MP4 demuxer does from the edit list it came with."""
    return f"atrim=start_sample={samples},asetpts=PTS-STARTPTS," if samples > 0 else ""


def _pick(source_channel: int | None) -> str:
    """Keep one channel of a multichannel input (a stereo phone recording's side), else nothing."""
    return "" if source_channel is None else f"pan=mono|c0=c{source_channel},"


def silencedetect(silence: SilenceSettings) -> str:
    """The silencedetect filter, one report line per channel (``mono=1``)."""
    return f"silencedetect=noise={silence.threshold_db:g}dB:duration={silence.min_seconds:g}:mono=1"


def _inputs(plan: MixPlan) -> list[str]:
    args: list[str] = []
    for track in plan.tracks:
        args += [*input_guard(DOWNLOADED_AUDIO), "-i", track.path]  # per input: ffmpeg's options precede each -i
    return args


def _encoder(fmt: OutputFormat, channels: int, opus_bitrate_per_channel: int, opus_complexity: int) -> list[str]:
    if fmt == "flac":
        return ["-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"]
    if fmt == "wav":
        return ["-c:a", "pcm_s16le", "-rf64", "auto", "-f", "wav"]
    bitrate = str(channels * opus_bitrate_per_channel)
    # Complexity 10 (libopus's default) costs ~6x the CPU of 0 for ~8 % fewer bytes (docs/audio-format.md).
    return [
        "-c:a",
        "libopus",
        "-mapping_family",
        "255",
        "-b:a",
        bitrate,
        "-compression_level",
        str(opus_complexity),
        "-f",
        "opus",
    ]


def merge_args(
    plan: MixPlan,
    output: Path,
    fmt: OutputFormat,
    *,
    sample_rate: int,
    silence: SilenceSettings | None,
    opus_bitrate_per_channel: int = 32_000,
    opus_complexity: int = 0,
) -> list[str]:
    """The full ffmpeg command of one merge (with the analytics branch when ``silence`` is set)."""
    return [
        "ffmpeg",
        *_COMMON,
        "-loglevel",
        "info" if silence else "error",
        *_inputs(plan),
        "-filter_complex",
        filter_graph(plan, sample_rate, silence),
        "-map",
        "[out]",
        "-map_metadata",
        "-1",
        # Without these a failed input still yields exit 0 and an empty file.
        "-xerror",
        "-abort_on",
        "empty_output",
        *_encoder(fmt, len(plan.channels), opus_bitrate_per_channel, opus_complexity),
        str(output),
    ]


def analysis_args(plan: MixPlan, *, sample_rate: int, silence: SilenceSettings) -> list[str]:
    """Run only the analytics of ``plan`` (no file written): used to rank speakers by talk time."""
    return [
        "ffmpeg",
        *_COMMON,
        "-loglevel",
        "info",
        *_inputs(plan),
        "-filter_complex",
        filter_graph(plan, sample_rate, silence),
        "-map",
        "[out]",
        "-xerror",
        "-f",
        "null",
        "-",
    ]


def talk_args(path: Path, *, skip_samples: int, silence: SilenceSettings, duration: float) -> list[str]:
    """The analytics of one track alone (no file written): its talk time, to rank speakers.

    Only the track's checked length (``duration``, as probed and bounded) is decoded: a header may claim
    less than the file holds, and the rest is not part of the meeting (the merge cuts it too).

    A meeting above ``max_channels`` needs every track's talk time before its merge. Measured on
    10-minute meetings: one analysis run over all 64 tracks joined took 2.5x the CPU of the same run
    over 32 (and, with the merge, 64 speakers took 3.3-3.5x the time of 32); one run per track is
    linear in tracks and runs beside the other downloads. Talk time does not depend on the track's
    place on the meeting clock, so no delay or padding is needed.
    """
    return [
        "ffmpeg",
        *_COMMON,
        "-loglevel",
        "info",
        *input_guard(DOWNLOADED_AUDIO),
        "-i",
        str(path),
        "-vn",
        "-af",
        f"{_skip(skip_samples)}aformat=channel_layouts=mono,atrim=duration={_seconds(duration)},"
        f"aresample={ANALYSIS_RATE}:filter_size=1:phase_shift=0,{silencedetect(silence)}",
        "-f",
        "null",
        "-",
    ]


def adts_args(source: Path, target: Path) -> list[str]:
    """Copy an MP4's AAC stream into ADTS, a container without an index.

    The MP4 demuxer holds an index entry for every AAC frame of every input for the whole merge
    (measured: ~41 MiB per 8 h track, 86 -> 253 MiB of ffmpeg RSS from 1 h to 8 h at 8 tracks,
    the same with ``-f null`` and no analytics); reading ADTS, ffmpeg's memory stays flat.
    """
    return [
        "ffmpeg",
        *_COMMON,
        "-loglevel",
        "error",
        *input_guard(("mov",)),
        "-i",
        str(source),
        "-map",
        "0:a:0",
        "-c",
        "copy",
        "-map_metadata",
        "-1",
        "-f",
        "adts",
        str(target),
    ]
