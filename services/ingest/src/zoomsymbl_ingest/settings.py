"""Settings of the ingest service (env prefix ``ZOOMSYMBL_INGEST_``); tenants come from ``load_tenants``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from zoomsymbl_common.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything ingest reads from its environment, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_INGEST_", extra="ignore", frozen=True)

    http_port: int = Field(8080, ge=1, le=65535, description="Port of webhooks, health and metrics.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest webhook body accepted (else 413).")
    timestamp_tolerance_seconds: int = Field(300, ge=1, description="Oldest x-zm-request-timestamp accepted.")
    publish_timeout_seconds: float = Field(2.0, gt=0, description="Longest wait for Kafka's acknowledgement.")
    request_deadline_seconds: float = Field(
        2.5,
        gt=0,
        description=(
            "Longest a webhook may take from its headers to the answer: reading the body (else 408), for a recording"
            " also Kafka's acknowledgement (else 503). Zoom waits 3 s."
        ),
    )
    mongo_timeout_seconds: float = Field(
        1.0,
        gt=0,
        description="Longest a receipt or token operation may take; then it is skipped (receipts) or 503 (tokens).",
    )
    mongo_concurrency: int = Field(4, ge=1, le=256, description="Most MongoDB operations in flight at once.")
    backfill_interval_seconds: int = Field(0, ge=0, description="Run the backfill every N seconds; 0 = off.")
    backfill_lookback_days: int = Field(3, ge=1, le=365, description="Days the periodic backfill looks back.")
    reconcile_interval_seconds: int = Field(
        0, ge=0, description="Reconcile every OAuth tenant's past meetings every N seconds (e.g. 86400); 0 = off."
    )
    reconcile_lookback_days: int = Field(2, ge=1, le=31, description="Days the scheduled reconciliation looks back.")
    shutdown_timeout_seconds: float = Field(20.0, gt=0, description="Grace period for in-flight requests.")
