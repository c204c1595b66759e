"""The mixer's settings (env prefix ``ZOOMSYMBL_MIXER_``); shared servers come from :class:`InfraSettings`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.scratch import ScratchLimit
from zoomsymbl_common.service import ServiceSettings

OutputFormatSetting = Literal["auto", "flac", "wav", "opus"]


class Settings(ServiceSettings):
    """Everything the mixer reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_MIXER_", extra="ignore", frozen=True)

    http_port: int = Field(8081, ge=1, le=65535, description="Port of the health and metrics routes.")
    scratch_dir: Path = Field(
        Path(tempfile.gettempdir()) / "zoomsymbl-mixer",
        description="Only place the mixer writes files; each meeting gets a folder removed afterwards.",
    )
    scratch_limit_bytes: ScratchLimit = Field(
        None,
        ge=1 << 20,
        description="Size of the scratch volume when its file system reports more (an emptyDir: the node's disk);"
        " a Kubernetes quantity such as 20Gi.",
    )
    download_concurrency: int = Field(4, ge=1, le=64, description="Tracks downloaded at once per meeting.")
    concurrent_meetings: int = Field(1, ge=1, le=32, description="Meetings mixed at once (one per partition).")
    output_format: OutputFormatSetting = Field(
        "auto",
        description="auto = FLAC while surely within 2.2 GB and 8 channels, else multichannel Opus.",
    )
    opus_bitrate_per_channel: int = Field(32_000, ge=6_000, le=256_000, description="Opus bits/s per channel.")
    opus_complexity: int = Field(
        0, ge=0, le=10, description="libopus complexity 0-10: 0 encodes ~6x faster than 10 for ~8 % more bytes."
    )
    max_attempts: int = Field(5, ge=1, le=50, description="Tries of a retryable failure before dead-lettering.")
    retry_base_delay_seconds: float = Field(1.0, gt=0, description="First backoff delay between tries.")
    retry_max_delay_seconds: float = Field(60.0, gt=0, description="Longest backoff delay between tries.")
    download_retries: int = Field(
        5,
        ge=0,
        le=50,
        description=(
            "Broken transfers of one track in a row that brought no new byte before the try fails"
            " (a break after new bytes resumes with Range for free, up to 1000 resumes)."
        ),
    )
    download_read_timeout_seconds: float = Field(60.0, gt=0, description="Longest wait for the next bytes.")
    download_min_bytes_per_second: int = Field(
        65_536,
        ge=1,
        description=(
            "A track's transfer (connecting, redirects, reads, resumes; not backoff or rate-limit waits) may take its"
            " announced size at this throughput plus download_time_allowance_seconds (the size cap when Zoom announced"
            " none); a server trickling bytes just faster than the read timeout fails the try (retried, then the"
            " meeting failed at download)."
        ),
    )
    download_time_allowance_seconds: float = Field(
        600.0, gt=0, description="Seconds a track's transfer may take beyond its size at download_min_bytes_per_second."
    )
    download_chunk_bytes: int = Field(1 << 20, ge=1 << 12, description="Read size of a download.")
    raw_part_bytes: int = Field(5 << 20, ge=5 << 20, description="S3 multipart part size of raw tracks and of the mix.")
    upload_parallel: int = Field(2, ge=1, le=16, description="S3 parts in flight per meeting (raw tracks and the mix).")
    single_put_max_bytes: int = Field(
        5 << 30,
        ge=0,
        le=5 << 30,
        description=(
            "A raw track whose size Zoom announced, and the mix, up to this many bytes, go to S3 in one streamed PUT"
            " (SigV4 chunk-signed; a track while it downloads): the server writes them once, where a multipart upload"
            " costs some servers a second copy at completion. 0: multipart always (an S3 server without aws-chunked)."
        ),
    )
    mp4_direct_track_hours: float = Field(
        12.0,
        ge=0,
        description=(
            "A meeting whose tracks add up to at most this many hours is mixed from its MP4s (ffmpeg indexes every"
            " frame: about 3-6 MiB of memory per track-hour); longer ones are copied to ADTS first (memory flat in"
            " length, 10-17 % more decode CPU). 0: always copy."
        ),
    )
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per download.")
    token_expiry_margin_seconds: float = Field(
        300.0, ge=0, description="A download token this close to its expiry is not used."
    )
    download_token_wait_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description=(
            "How long a download token the event announces, but MongoDB does not hold yet, is waited for before"
            " the tenant's OAuth token is used (ingest writes it behind its answer)."
        ),
    )
    s3_timeout_seconds: float = Field(
        900.0, gt=0, description="S3 read timeout; completing a multi-GiB multipart upload can take minutes."
    )
    ffmpeg_timeout_seconds: float = Field(
        3 * 3600.0,
        gt=0,
        description=(
            "Longest ffmpeg run (the merge; the talk-time analysis of a meeting above max_channels is another)."
            " A 30 h meeting of 64 speakers is estimated at about 70 min on a 2-core Xeon."
        ),
    )
    ffprobe_timeout_seconds: float = Field(120.0, gt=0, description="Longest ffprobe run.")
    silence_threshold_db: float = Field(-40.0, le=0, description="Below this level a channel counts as silent.")
    silence_min_seconds: float = Field(0.5, gt=0, description="Shortest pause counted as silence.")
    kafka_max_poll_interval_ms: int = Field(
        3_600_000,
        ge=60_000,
        description=(
            "Kafka's max poll interval: a meeting still at work after 90 % of it (a long merge, the consumer"
            " policy's retries and outage waits) is given back to Kafka and polled again by the same consumer while"
            " its work goes on, so it need not outlast a mix."
        ),
    )
    shutdown_timeout_seconds: float = Field(60.0, gt=0, description="Grace period for in-flight meetings.")
