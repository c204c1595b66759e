"""Freeing a job's limiter slot (the submitter took it before submitting)."""

from __future__ import annotations

import logging

from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo

from zoomsymbl_notifier.jobs import JobRecord

log = logging.getLogger("zoomsymbl.notifier.slots")


class SlotReleaser:
    """Releases slots through the shared limiter; ``Limiter.release`` is true only once per slot."""

    def __init__(self, mongo: Mongo) -> None:
        self._mongo = mongo

    async def __call__(self, job: JobRecord) -> bool:
        """Free the slot held for ``job``; True only for the call that freed it."""
        if not job.limiter_account_key:
            log.warning("job has no limiter account, no slot to free", extra={"job_id": job.job_id})
            return False
        # Only release() is used, which ignores the rate settings; the defaults satisfy the constructor.
        limiter = Limiter(self._mongo, job.limiter_account_key)
        freed = False
        for ref in job.slot_refs:
            freed = await limiter.release(ref) or freed
        return freed
