"""Hostile upstreams: Zoom and the provider answer storms of 429 and 5xx, truncated bodies, errors dressed as 200.

Whatever they answer, every meeting ends notified or failed with a reason, no provider slot is
left held (limiter and provider both back to 0 in flight), and nothing is done twice (at most one
submission and one e-mail per meeting).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec

from tests.reliability.meetings import Delivery, by_sandbox, meeting_objects, signed_webhook, tiny_meeting
from tests.reliability.observe import State
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.results import record
from tests.reliability.rounds import RoundResult, run_meetings, sandbox_call, sandbox_stats
from tests.reliability.sizes import SIZES
from tests.reliability.stack_config import RUN_ID, TENANT, WEBHOOK_SECRET
from tests.support.eventually import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ERROR_BODIES = 2  # each 200-with-error-body download may fail at most one meeting


def zoom_faults(storm: int) -> list[dict[str, Any]]:
    """Storms on downloads, OAuth and the recordings API, then two errors dressed as 200."""
    return [
        {"route": "download", "kind": "status", "status": 429, "count": storm, "retry_after": 1},
        {"route": "download", "kind": "status", "status": 429, "count": storm},  # no Retry-After
        {"route": "download", "kind": "status", "status": 503, "count": storm},
        {"route": "download", "kind": "status", "status": 500, "count": storm},
        {"route": "download", "kind": "truncate", "after_bytes": 700, "count": storm},
        {"route": "oauth", "kind": "status", "status": 429, "count": storm},
        {"route": "get_recordings", "kind": "status", "status": 502, "count": storm},
        {"route": "download", "kind": "error_body", "body": "json"},
        {"route": "download", "kind": "error_body", "body": "html"},
    ]


async def post_tokenless(stack: Stack, spec: MeetingSpec) -> Delivery:
    """Deliver ``spec`` without a download token (as a days-late retry would): the mixer must use OAuth."""
    obj = (await meeting_objects(stack))[spec.uuid]
    body, headers = signed_webhook(obj, WEBHOOK_SECRET)
    url = stack.config.url("ingest") + f"/webhooks/zoom/{TENANT}"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as response:
            return Delivery(spec.uuid, attempts=1, accepted=response.status == 200)


async def half_tokenless(stack: Stack, spec: MeetingSpec) -> Delivery:
    """Every other meeting without a download token, so OAuth and the recordings API are used too."""
    if int(spec.uuid.split("-")[1][:4]) % 2:
        return await post_tokenless(stack, spec)
    return await by_sandbox(stack, spec)


def assert_nothing_lost_or_doubled(result: RoundResult, symbl: dict[str, Any]) -> None:
    for spec in result.specs:
        outcome = result.outcomes[spec.uuid]
        assert outcome.stage in ("notified", "failed"), (spec.uuid, outcome)
        if outcome.stage == "failed":
            assert outcome.failure, f"{spec.uuid!r} failed without a reason"
        else:
            assert outcome.message_ids == 1, (spec.uuid, outcome)
        assert outcome.message_ids <= 1, (spec.uuid, outcome)
        assert result.submissions[spec.uuid] <= 1, (spec.uuid, result.submissions[spec.uuid])
    assert result.slots_in_flight == 0
    assert symbl["in_flight"] == 0


async def test_zoom_storms_truncations_and_error_bodies(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    specs = [tiny_meeting(f"z{RUN_ID}", i, participants=2) for i in range(SIZES.upstream_meetings)]
    await sandbox_call(stack, "zoom", "DELETE", "/_sandbox/faults")
    await sandbox_call(stack, "zoom", "POST", "/_sandbox/faults", {"faults": zoom_faults(SIZES.upstream_storm)})
    # The mixer caches its OAuth token for an hour: age it out, so the first token-less meeting
    # must fetch a new one and meets the OAuth 429 storm.
    await sandbox_call(stack, "zoom", "POST", "/_sandbox/tokens/expire", {"kind": "access"})
    result = await run_meetings(stack, private_infra, state, specs, how=half_tokenless)
    left = (await sandbox_call(stack, "zoom", "GET", "/_sandbox/faults"))["pending"]
    await sandbox_call(stack, "zoom", "DELETE", "/_sandbox/faults")
    zoom = await sandbox_stats(stack, "zoom")
    symbl = await sandbox_stats(stack, "symbl")
    record(
        "hostile zoom",
        injected="download 429 storms (with/without Retry-After), 503/500 storms, truncated bodies, "
        "200 with JSON and HTML error bodies; OAuth 429 and recordings API 502 storms",
        how_often=f"{len(specs)} meetings; {SIZES.upstream_storm} per storm; {ERROR_BODIES} error bodies",
        expected=f"notified or failed with reason; failed <= {ERROR_BODIES}; <= 1 submission and e-mail; 0 in flight",
        measured={
            **result.figures(),
            "zoom 429 answers": zoom["responses_429"],
            "faults left unconsumed": {f"{f['route']} {f['kind']} {f['status']}": f["remaining"] for f in left} or 0,
        },
    )
    assert_nothing_lost_or_doubled(result, symbl)
    failures = {uuid: o.failure for uuid, o in result.outcomes.items() if o.stage == "failed"}
    assert result.stages.get("failed", 0) <= ERROR_BODIES, failures
    assert not left, f"faults never reached, the test did not test them: {left}"


async def provider_round(
    stack: Stack, infra: PrivateInfra, state: State, specs: list[MeetingSpec], faults: dict[str, int]
) -> RoundResult:
    """One round of ``specs`` with ``faults`` set at the Symbl sandbox."""
    await sandbox_call(stack, "symbl", "POST", "/_sandbox/faults", faults)
    return await run_meetings(stack, infra, state, specs)


async def test_provider_429_and_500_storms_and_failing_jobs(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    half = max(1, SIZES.upstream_meetings // 2)
    failing = dropped = max(1, half // 4)
    storm = SIZES.upstream_storm
    first = [tiny_meeting(f"p{RUN_ID}a", i, participants=2) for i in range(half)]
    faults = {"fail_next_jobs": failing, "drop_callbacks": dropped, "duplicate_callbacks": dropped}
    one = await provider_round(
        stack, private_infra, state, first, {"reject_next": storm, "reject_status": 429, **faults}
    )
    second = [tiny_meeting(f"p{RUN_ID}b", i, participants=2) for i in range(half)]
    two = await provider_round(stack, private_infra, state, second, {"reject_next": storm, "reject_status": 500})
    symbl = await sandbox_stats(stack, "symbl")
    left = await sandbox_call(stack, "symbl", "GET", "/_sandbox/faults")
    await sandbox_call(stack, "symbl", "POST", "/_sandbox/faults", {"reject_next": 0, "fail_next_jobs": 0})
    failed = [o for r in (one, two) for o in r.outcomes.values() if o.stage == "failed"]
    record(
        "hostile provider",
        injected="submit 429 storm then 500 storm, failing jobs, dropped and duplicated job-status callbacks",
        how_often=f"{2 * half} meetings; {storm} per storm; {failing} failing jobs; {dropped} dropped + {dropped} "
        "duplicated callbacks",
        expected="notified, or failed with reason and one failure notice; <= 1 submission and e-mail; 0 in flight",
        measured={
            "429 storm round": one.figures(),
            "500 storm round": two.figures(),
            "provider rejections": symbl["rejections"],
            "failed with notice": sum(1 for o in failed if o.message_ids == 1),
            "faults left unconsumed": {k: v for k, v in left.items() if v and k in ("reject_next", *faults)},
        },
    )
    assert_nothing_lost_or_doubled(one, symbl)
    assert_nothing_lost_or_doubled(two, symbl)
    # A job the provider failed ends in the failure notice: exactly one e-mail, with the reason.
    assert len(failed) >= failing
    assert all(o.message_ids == 1 for o in failed if "job failed" in (o.failure or "")), failed


async def test_a_meeting_zoom_refuses_ends_in_a_failure_notice(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    spec = tiny_meeting(f"zn{RUN_ID}", 0, participants=1)
    await sandbox_call(stack, "zoom", "DELETE", "/_sandbox/faults")
    await sandbox_call(stack, "zoom", "POST", "/_sandbox/faults", {"route": "download", "kind": "error_body"})
    result = await run_meetings(stack, private_infra, state, [spec], timeout=120)
    assert result.stages == {"failed": 1}, result.outcomes  # the setup worked: Zoom's error failed the meeting

    async def notices() -> int:
        return (await state.outcomes(TENANT, {spec.uuid: spec.host_email}, private_infra))[spec.uuid].message_ids

    assert await eventually(notices, timeout=30, max_interval=1.0, what="the failure notice") == 1
