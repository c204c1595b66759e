"""The knobs of a mix: what :class:`~zoomsymbl_mixer.mixing.Mixer` and its parts read of the settings.

Built once from :class:`~zoomsymbl_mixer.settings.Settings` (``app.mix_config``); tests and benchmarks build
it directly, with the service's defaults for whatever they leave out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from zoomsymbl_common.providers.assemblyai import ASSEMBLYAI_LIMITS
from zoomsymbl_common.s3_chunked import MAX_SINGLE_PUT_BYTES

from zoomsymbl_mixer.ffmpeg import SilenceSettings
from zoomsymbl_mixer.settings import OutputFormatSetting


@dataclass(frozen=True)
class MixConfig:
    """The knobs of a mix (from :class:`~zoomsymbl_mixer.settings.Settings`)."""

    scratch_dir: Path
    # Bytes the scratch volume holds when its file system reports more (an emptyDir's sizeLimit); None: as reported.
    scratch_limit: int | None = None
    output_format: OutputFormatSetting = "auto"
    silence: SilenceSettings = field(default_factory=SilenceSettings)
    opus_bitrate_per_channel: int = 32_000
    opus_complexity: int = 0
    # ``auto`` keeps FLAC only while it surely fits the default provider's smallest limit in one file.
    flac_max_bytes: int = ASSEMBLYAI_LIMITS.max_upload_bytes
    ffmpeg_timeout: float = 3 * 3600.0
    probe_timeout: float = 120.0
    concurrency: int = 4
    part_bytes: int = 5 << 20
    # S3 parts in flight per meeting, raw tracks and the mix: 5 MiB x 2 is as fast as 8 MiB x 4 here and
    # holds a third of the memory (bench_download.py, docs/performance.md).
    upload_parallel: int = 2
    # Raw tracks of an announced size, and the mix, up to this go up in one streamed PUT (upload.py).
    single_put_max: int = MAX_SINGLE_PUT_BYTES
    token_margin: timedelta = timedelta(minutes=5)
    # A download token the event announces (``has_download_token``) but MongoDB does not hold yet is waited
    # for this long: ingest writes a tenant-with-OAuth's token behind its answer, in batches.
    token_wait: float = 5.0
    # Tracks adding up to at most this many hours are mixed from their MP4s (ffmpeg's index: ~3-6 MiB per
    # track-hour, held through the merge); longer meetings are copied to ADTS first (flat memory, 10-17 %
    # more decode CPU). 0: always copy. docs/performance.md, "Mixer, third pass".
    mp4_direct_track_hours: float = 12.0
