"""Probes and shutdown of the chart against what each service does (docs/operations.md, "Upgrades").

/readyz runs its checks one after another, each up to 3 s (zoomsymbl_common.health). After aiohttp's own drain
(shutdown_timeout_seconds) a consuming service's broker waits shutdown_timeout_seconds again for the messages in hand
(service_broker's graceful_timeout); the notifier's cleanup first waits for its sweeper's round (the same again).
"""

from __future__ import annotations

import pytest

from tests.deploy.helm_chart import EVERY_SERVICE, PRODUCTION_VALUES, TRANSCRIBER_VALUES, render

CHECK_DEADLINE = 3  # seconds: health._readyz's asyncio.timeout per check
# The /readyz checks each service may register (symbl-dns only with a Symbl tenant: counted, the chart cannot know).
READINESS_CHECKS = {
    "ingest": ("mongo", "kafka"),
    "mixer": ("mongo", "s3", "kafka"),
    "submitter": ("symbl-dns", "mongo", "s3", "kafka"),
    "notifier": ("symbl-dns", "mongo", "kafka"),
    "transcriber": ("mongo", "kafka"),
    "web": ("mongo", "s3"),
}
CONSUMERS = ("mixer", "submitter", "notifier", "transcriber")  # each stops a broker from service_broker
TRACE_FLUSH = 5  # seconds: the tracer's flush after the server stopped
VALUE_SETS = {
    "defaults": ((), EVERY_SERVICE),
    "production": ((PRODUCTION_VALUES, TRANSCRIBER_VALUES), {}),
}


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_a_readyz_whose_every_check_answers_within_its_deadline_is_not_cut_off(values: str) -> None:
    files, sets = VALUE_SETS[values]
    rendered = render(files, sets=sets)
    for service, checks in READINESS_CHECKS.items():
        (container,) = rendered.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        # Four checks of 2.6 s each answered 200 "ready" after 10.4 s: a 10-second probe counted it as a failure.
        assert container["readinessProbe"]["timeoutSeconds"] > CHECK_DEADLINE * len(checks), service


@pytest.mark.parametrize(
    "sets",
    [{}, {"notifier.settings.shutdown_timeout_seconds": "40", "notifier.preStopSleepSeconds": "5"}],
    ids=["defaults", "longer-shutdown"],
)
def test_the_notifier_is_not_killed_while_its_sweeper_and_consumers_finish(sets: dict[str, str]) -> None:
    rendered = render(sets=sets)
    env = rendered.container_env("notifier")
    shutdown = float(env["ZOOMSYMBL_NOTIFIER_SHUTDOWN_TIMEOUT_SECONDS"])
    spec = rendered.one("Deployment", "notifier")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    # One after the other: requests in flight, the sweeper's round, the consumers' messages, the trace flush.
    needed = sleep + shutdown + shutdown + shutdown + TRACE_FLUSH
    assert spec["terminationGracePeriodSeconds"] >= needed


def test_the_production_notifier_also_gets_its_whole_shutdown() -> None:
    rendered = render((PRODUCTION_VALUES,))
    shutdown = float(rendered.container_env("notifier")["ZOOMSYMBL_NOTIFIER_SHUTDOWN_TIMEOUT_SECONDS"])
    spec = rendered.one("Deployment", "notifier")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] >= sleep + 3 * shutdown + TRACE_FLUSH


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
@pytest.mark.parametrize("service", CONSUMERS)
def test_a_consumers_message_in_hand_gets_its_whole_shutdown_timeout_before_the_kill(service: str, values: str) -> None:
    files, sets = VALUE_SETS[values]
    rendered = render(files, sets={**sets, f"{service}.settings.shutdown_timeout_seconds": "300"})
    shutdown = float(rendered.container_env(service)[f"ZOOMSYMBL_{service.upper()}_SHUTDOWN_TIMEOUT_SECONDS"])
    spec = rendered.one("Deployment", service)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    # Requests in flight, then the broker's wait for the messages in hand (300 s each), then the trace flush.
    assert spec["terminationGracePeriodSeconds"] >= sleep + 2 * shutdown + TRACE_FLUSH, service
