"""A job failed here as overdue whose run died before the notice, redelivered once its provider says ``completed``.

The confirmed status (``completed``) moves nothing (both final), the stored ``failed`` is acted on: before, its
notice read "no reason given" (the provider's state has none); now it gives the stored reason.
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.records import JOBS

from tests.notifier.conftest import Notifier

pytestmark = pytest.mark.integration

OVERDUE = "no result from the provider 48 h after the submission (still in_progress)"


async def test_the_notice_of_an_overdue_job_redelivered_after_its_completion_gives_the_stored_reason(
    notifier: Notifier,
) -> None:
    notifier.symbl.state.faults.update({"drop_callbacks": 100})
    await notifier.submitter.meeting("m-late", topic="Late")
    job = await notifier.submitter.submit("m-late")
    await notifier.sandbox_done(job)  # completed at the provider; no callback came
    failed = {"status": "failed", "status_reason": OVERDUE}  # as the overdue judgement stored it, then the run died
    await notifier.mongo.db[JOBS].update_one({"_id": job.key}, {"$set": failed})
    await notifier.callback(job, "completed")
    done = await notifier.processed(job)

    assert done["status"] == "failed" and done["status_reason"] == OVERDUE
    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "Processing failed: Late"
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert OVERDUE in text and "no reason given" not in text
