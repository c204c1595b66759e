"""Crashes: meetings flow while every service is ``kill -9``-ed and Kafka, MongoDB, S3 and SMTP stop and start.

Per round: N meetings are delivered by "Zoom" (retrying until 200) all through a random schedule
that kills each service and, side by side, stops servers. The round passes when every meeting is
notified; each was submitted to the provider once (or twice when the submitter was killed between
the provider's 201 and storing the job's ids and flagged the resubmission: the documented window);
each host received one e-mail (one Message-ID at the SMTP server); nothing was dead-lettered and no
limiter slot is left held.
"""

from __future__ import annotations

import random

import pytest
from zoomsymbl_sandbox.stack import SERVICES, Stack

from tests.reliability.chaos import Chaos, estimated_seconds, plan_round
from tests.reliability.meetings import tiny_meeting
from tests.reliability.observe import State
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.results import record
from tests.reliability.rounds import run_meetings
from tests.reliability.sizes import SIZES
from tests.reliability.stack_config import RUN_ID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("round_no", range(SIZES.crash_rounds))
async def test_meetings_survive_kills_and_outages(
    round_no: int, stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    rng = random.Random(f"{RUN_ID}-{round_no}")
    specs = [tiny_meeting(f"c{RUN_ID}r{round_no}", i, participants=1 + i % 3) for i in range(SIZES.crash_meetings)]
    kills, outages = plan_round(
        rng, round_no, SIZES.crash_rounds, SIZES.kills_per_service, SIZES.infra_down_seconds, SIZES.smtp_down_seconds
    )
    chaos = Chaos(stack, private_infra, rng)
    # Meetings arrive all through the faults, so every fault finds some of them in flight.
    spread = 0.8 * estimated_seconds(kills, outages)
    result = await run_meetings(stack, private_infra, state, specs, during=chaos.run(kills, outages), spread_s=spread)
    log = chaos.log
    record(
        f"crash round {round_no + 1}",
        injected="kill -9 of every service; stop/start of " + ", ".join(sorted(log.outages)),
        how_often=(
            f"{len(specs)} meetings; kills {dict(sorted(log.kills.items()))}; "
            f"outage seconds {dict(sorted(log.outage_seconds.items()))}"
        ),
        expected="all notified; 1 submission (2 only when flagged resubmitted after a kill mid-submit) "
        "and 1 e-mail (Message-ID) per meeting; DLQ +0; 0 slots held",
        measured={**result.figures(), "restarts needed": dict(sorted(log.restart_attempts.items()))},
    )
    failures = {u: (o.stage, o.failure) for u, o in result.outcomes.items() if o.stage != "notified"}
    assert all(d.accepted for d in result.deliveries), [d for d in result.deliveries if not d.accepted]
    assert result.stages == {"notified": len(specs)}, failures
    assert result.unexplained_submissions() == {}, (result.submissions, result.resubmitted)
    assert result.message_ids() == [1] * len(specs), result.outcomes
    assert result.dead_letters_added == 0
    assert result.slots_in_flight == 0
    assert dict(log.kills) == {svc: SIZES.kills_per_service for svc in SERVICES}
