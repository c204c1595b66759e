"""``--json`` is one valid JSON document whatever a stored number holds: MongoDB keeps NaN and infinities in a
double (a limiter slot's ``expires_at``), JSON has neither, and ``jq`` refuses the ``NaN`` Python writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from zoomsymbl_common.ops.output import json_text
from zoomsymbl_common.ops.status import MeetingHistory
from zoomsymbl_common.records import LimiterSlot, Meeting


def strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_history_with_a_slot_time_json_has_not_is_valid_json(number: float) -> None:
    slot = LimiterSlot.model_validate(
        {"_id": "acct|0", "key": "acct", "account": "acct", "slot": 0, "ref": "k1", "acquired_at": 1.0,
         "expires_at": number}
    )  # fmt: skip
    history = MeetingHistory(Meeting(tenant="acme", meeting_uuid="m1"), [], [], [], [slot])
    document = strict(json_text(history.as_json()))
    assert document["limiter_slots"][0]["expires_at"] is None
    assert document["limiter_slots"][0]["acquired_at"] == 1.0
    assert strict(json_text({"values": [number, 2.5]})) == {"values": [None, 2.5]}
