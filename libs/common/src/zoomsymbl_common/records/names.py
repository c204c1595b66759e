"""The MongoDB collection names: the only place in the codebase that spells them."""

from __future__ import annotations

MEETINGS = "meetings"
"""One document per (tenant, meeting_uuid): the stage reached, files, objects, provider ids."""
RECEIPTS = "receipts"
"""Ingest's delivery receipts (deduplication of Zoom webhooks and backfill)."""
SECRETS = "meeting_secrets"
"""Webhook download tokens, one per meeting, removed by TTL; never on Kafka."""
JOBS = "jobs"
"""One document per provider submission (one part of a meeting)."""
JOB_CLAIMS = "job_claims"
"""Attempt markers ``{job_ref}#{n}``: who may retry a submission after its first attempt."""
LIMITER = "limiter"
"""The limiter's slots (jobs in flight)."""
LIMITER_TICKS = "limiter_ticks"
"""The limiter's spent token-bucket ticks."""
INSIGHTS = "insights"
"""What the provider returned, per conversation."""
EMAILS = "emails"
"""The notifier's outbox: one e-mail per (tenant, meeting, generation, kind)."""
EMAIL_CLAIMS = "email_claims"
"""One document per send attempt of an e-mail: the unique ``_id`` decides who sends."""
EARLY_CALLBACKS = "early_callbacks"
"""Provider callbacks that came before the submitter stored the job id."""
TRANSCRIPTIONS = "transcriptions"
"""Work orders and results of the self-hosted transcriber (the ``whisper`` provider)."""
TRANSCRIPTION_CHECKPOINTS = "transcription_checkpoints"
"""The transcriber's channels transcribed so far of a job not yet stored (utterances; a retry resumes from them)."""
CONSUMER_ATTEMPTS = "consumer_attempts"
"""Attempt counts of the consumer policy, one per (service, topic, event id)."""
ZOOM_QUOTA = "zoom_quota"
"""The Zoom API quota's spent slots: per-second ones per rate-limit category, the day's Heavy budget."""
CONVERSATIONS = "conversations"
"""One archive metadata record per meeting or phone call (the mixer's ``ConversationMetadata``)."""
TOMBSTONES = "tombstones"
"""One per meeting erased with ``zoomsymbl forget``: tenant, UUID, dates, no content; read before any work on one."""

COLLECTIONS: frozenset[str] = frozenset(
    {
        MEETINGS,
        RECEIPTS,
        SECRETS,
        JOBS,
        JOB_CLAIMS,
        LIMITER,
        LIMITER_TICKS,
        INSIGHTS,
        EMAILS,
        EMAIL_CLAIMS,
        EARLY_CALLBACKS,
        TRANSCRIPTIONS,
        TRANSCRIPTION_CHECKPOINTS,
        CONSUMER_ATTEMPTS,
        CONVERSATIONS,
        ZOOM_QUOTA,
        TOMBSTONES,
    }
)
"""Every collection name above."""
