"""``ZOOMSYMBL_S3_BUCKET`` is refused at start-up when no S3 bucket can have that name.

Before, a name such as ``Recordings`` or ``my_bucket`` loaded fine and failed only at the first S3 call: inside a
handler (the meeting retried, then failed) or an operator command. Every service now stops at start-up with one
line naming the variable, and every bucket name the repository uses (chart values, the sandbox stack, the tests'
per-run names) still loads.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from minio.helpers import check_bucket_name
from zoomsymbl_common import settings
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.service import load_or_exit
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_sandbox.stack_config import StackConfig

from tests.deploy.helm_chart import PRODUCTION_VALUES, load_values
from tests.support.names import token

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(
    path.name
    for path in (ROOT / "services").iterdir()
    if (path / "src" / f"zoomsymbl_{path.name}" / "settings.py").exists()
)
VARIABLE = "ZOOMSYMBL_S3_BUCKET"

REFUSED = {
    "Recordings": "lower-case",
    "my_bucket": "lower-case",
    "zoom symbl": "lower-case",
    "zoomsymbl:raw": "lower-case",
    "zoomsymbl/raw": "lower-case",
    "ab": "3 to 63",
    "a" * 64: "3 to 63",
    "": "3 to 63",
    "-zoomsymbl": "begin and end",
    "zoomsymbl.": "begin and end",
    "zoom..symbl": "'..'",
    "zoom.-symbl": "'.-'",
    "zoom-.symbl": "'-.'",
    "192.168.5.4": "IP address",
    "10.0.0.1": "IP address",
    "xn--zoomsymbl": "'xn--'",
    "sthree-zoomsymbl": "'sthree-'",
    "amzn-s3-demo-zoomsymbl": "'amzn-s3-demo-'",
    "zoomsymbl-s3alias": "'-s3alias'",
    "zoomsymbl--ol-s3": "'--ol-s3'",
    "zoomsymbl.mrap": "'.mrap'",
    "zoomsymbl--usw2-az1--x-s3": "'--x-s3'",
    "zoomsymbl--table-s3": "'--table-s3'",
}


def repository_bucket_names() -> list[str]:
    """Every bucket name the chart, the sandbox stack and the tests' fixtures give ``ZOOMSYMBL_S3_BUCKET``."""
    run = token()
    names = [
        InfraSettings.model_fields["s3_bucket"].default,
        StackConfig.__dataclass_fields__["bucket"].default,
        str(load_values()["s3"]["bucket"]),
        str(load_values(PRODUCTION_VALUES)["s3"]["bucket"]),
        f"t-{token(12)}",  # tests/conftest.py's infra fixture
        f"versioned-{10**8 - 1}",  # tests/common/test_forget_versioned.py
        f"zoomsymbl-demotest-{run}",  # scripts/demo.py as tests/e2e/test_demo.py names it
        f"bench-notifier-{run}-r1",  # bench/bench_notifier.py
        f"bench-e2e-{run}-r3",  # bench/bench_e2e.py
        f"bench-download-{run}",  # bench/bench_download.py
        f"bench-{token(10)}",  # bench/bench_mixer.py
    ]
    names += [f"{prefix}-{run}" for prefix in ("e2e", "rel", "img", "prov", "obs", "phone", "zoomtx", "fallback")]
    return names


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_name_no_s3_bucket_can_have_is_refused_with_the_rule_it_breaks(name: str) -> None:
    problem = settings.bucket_name_problem(name)
    assert problem is not None and REFUSED[name] in problem


def test_every_bucket_name_the_repository_uses_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in repository_bucket_names():
        assert settings.bucket_name_problem(name) is None, name
        check_bucket_name(name, strict=True, s3_check=True)  # what minio-py checks before each request
        monkeypatch.setenv(VARIABLE, name)
        assert load_settings(InfraSettings).s3_bucket == name


@pytest.mark.parametrize("name", ["Recordings", "my_bucket", "192.168.5.4", "xn--zoomsymbl", "ab"])
def test_infra_settings_refuse_the_bucket_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(VARIABLE, name)
    with pytest.raises(ConfigError) as info:
        load_settings(InfraSettings)
    assert info.value.variables == (VARIABLE,)
    assert str(info.value).startswith(f"{VARIABLE}={name!r} is not an S3 bucket name: ")


def test_a_long_name_is_shown_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "b" * 10_000)
    with pytest.raises(ConfigError) as info:
        load_settings(InfraSettings)
    assert len(str(info.value)) < 300 and "10000" in str(info.value)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_stops_at_start_up_naming_the_variable(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The services' own start-up path (``load_or_exit``): exit 2 and one line, before any server is reached."""
    monkeypatch.setenv(VARIABLE, "Zoomsymbl_Recordings")
    settings_cls = importlib.import_module(f"zoomsymbl_{service}.settings").Settings
    with pytest.raises(SystemExit) as info:
        load_or_exit(service, settings_cls)
    assert info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        rf"zoomsymbl-{service}: {VARIABLE}='Zoomsymbl_Recordings' is not an S3 bucket name: .+", line
    ), line
