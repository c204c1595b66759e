"""``zoomsymbl backfill`` (ingest's subcommand of the operator command): refusals, servers down, a real run."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.cli import main
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.ingest.support import SECRET, free_port, quick_meeting, read_events, sandbox_config

OAUTH = {"ACCOUNT_ID": "a", "CLIENT_ID": "c", "CLIENT_SECRET": "s-123456"}


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--tenant", "nobody", "--from", "2024-01-01"], "unknown tenant 'nobody'"),
        (["--from", "2024-01-01"], "no Server-to-Server OAuth credentials"),
        (["--from", "2024-02-01", "--to", "2024-01-01"], "before it starts"),
        (["--from", "0001-01-01", "--to", "2024-02-01"], "longer than 120"),  # 24,000 listings per user
        (["--from", "2024-02-01", "--to", "9999-12-31"], "after today"),  # was a confusing "year 10000"
    ],
)
def test_a_backfill_that_cannot_run_says_why_with_exit_2(
    argv: list[str], problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ID", "acme")
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("ZOOMSYMBL_TENANTS_FILE", raising=False)
    if "2024-02-01" in argv or "0001-01-01" in argv:
        for name, value in OAUTH.items():
            monkeypatch.setenv(f"ZOOMSYMBL_TENANT_ZOOM_{name}", value)
    assert main(["backfill", *argv]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def backfill_env(infra: InfraSettings, **tenant: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    env.update(
        {
            "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
            "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
            "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
            "ZOOMSYMBL_TENANT_ID": "acme",
            "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": SECRET,
        }
    )
    return env | {f"ZOOMSYMBL_TENANT_{k.upper()}": v for k, v in tenant.items()}


async def zoomsymbl_backfill(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    today = utcnow().date()
    since = (today - timedelta(days=5)).isoformat()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_common.ops.cli", "backfill", "--tenant", "acme", "--from", since,
        "--to", str(today), *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


# ``mongo``: the test database (the command creates its indexes) is dropped afterwards.
@pytest.mark.integration
async def test_backfill_publishes_the_missing_meetings(infra: InfraSettings, mongo: Mongo) -> None:
    started = utcnow().replace(microsecond=0) - timedelta(days=2)
    specs = [quick_meeting(u, start_time=started) for u in ("/ajXp112QmuoKj4854875==", "abc//def==", "ok==")]
    async with running_zoom_sandbox(sandbox_config(*specs)) as sandbox:
        base = sandbox.base_url_for()
        env = backfill_env(
            infra,
            zoom_account_id=sandbox.config.account_id,
            zoom_client_id=sandbox.config.client_id,
            zoom_client_secret=sandbox.config.client_secret,
            zoom_api_base=f"{base}/v2",
            zoom_oauth_url=f"{base}/oauth/token",
        )
        code, stdout, stderr = await zoomsymbl_backfill(env, "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert {k: report[k] for k in ("tenant", "seen", "new", "skipped", "failed")} == {
        "tenant": "acme",
        "seen": 3,
        "new": 3,
        "skipped": 0,
        "failed": 0,
    }
    events = await read_events(infra, expect=3)
    assert sorted(e.meeting_uuid for e in events) == sorted(s.uuid for s in specs)
    assert {e.source for e in events} == {"backfill"}


@pytest.mark.integration
async def test_zoom_api_down_is_exit_3_and_nothing_is_published(infra: InfraSettings, mongo: Mongo) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    oauth = {f"zoom_{k.lower()}": v for k, v in OAUTH.items()}
    env = backfill_env(infra, zoom_api_base=f"{down}/v2", zoom_oauth_url=f"{down}/oauth/token", **oauth)
    code, stdout, stderr = await zoomsymbl_backfill(env, "--json")
    assert code == 3, stderr
    assert "Traceback" not in stderr
    assert "zoomsymbl backfill: zoom oauth token unreachable" in stderr
    assert json.loads(stdout)["error"]["kind"] == "unavailable"
    assert await read_events(infra, expect=0, quiet=0.5) == []


@pytest.mark.integration
@pytest.mark.parametrize("server", ["kafka", "mongodb"])
async def test_kafka_or_mongodb_down_is_exit_3_naming_it(server: str, infra: InfraSettings) -> None:
    oauth = {f"zoom_{k.lower()}": v for k, v in OAUTH.items()}
    env = backfill_env(infra, **oauth)
    if server == "kafka":
        env["ZOOMSYMBL_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    else:
        env |= {"ZOOMSYMBL_MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/", "ZOOMSYMBL_MONGO_TIMEOUT_MS": "300"}
    code, _, stderr = await zoomsymbl_backfill(env)
    assert code == 3, stderr
    assert "Traceback" not in stderr
    assert f"zoomsymbl backfill: {server} unavailable" in stderr
