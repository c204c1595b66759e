"""The pipeline the reliability suite runs: sandboxes + four services on the private servers.

Every secret is a recognisable value, so the secrets scan can look for it everywhere. Timings are
tuned for a test run (sweeper every 3 s after 30 s of silence, e-mail retries within seconds, slot
leases of 20 s, submission claims of 70 s) and the retry budget of the consumers is sized to outlast
the infrastructure outages the crash rounds inject (``ZS_REL_TUNED_RETRIES=0`` keeps the services'
own budgets instead).
"""

from __future__ import annotations

from pathlib import Path

from zoomsymbl_sandbox.stack import SANDBOXES, SERVICES
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom_tokens import _JWT_HEADER

from tests.reliability.private_infra import S3_SECRET_KEY, SMTP_PASSWORD, PrivateInfra, free_ports
from tests.reliability.sizes import SIZES
from tests.support.names import token

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = token()
TENANT = "acme"
# Recognisable values of every secret, so the secrets scan can find any leak of them.
WEBHOOK_SECRET = "WHSECRET-rel-1b6f0d9e3a"
ZOOM_CLIENT_SECRET = "ZOOMOAUTH-rel-8c2e4f1a7d"
SYMBL_APP_SECRET = "SYMBLSECRET-rel-5a9d3c7e1f"
CALLBACK_SECRET = "CBSECRET-rel-2e7b9f4c6a-0123456789"
# Every token the Zoom sandbox issues (download tokens, OAuth access tokens) starts with this.
ZOOM_TOKEN_MARK = _JWT_HEADER + "."
# Query parameters only a presigned S3 URL carries.
PRESIGN_MARKS = ("X-Amz-Signature=", "X-Amz-Credential=")
NAMED_SECRETS = {
    "zoom webhook secret": WEBHOOK_SECRET,
    "zoom oauth client secret": ZOOM_CLIENT_SECRET,
    "symbl app secret": SYMBL_APP_SECRET,
    "callback hmac secret": CALLBACK_SECRET,
    "smtp password": SMTP_PASSWORD,
    "s3 secret key": S3_SECRET_KEY,
    "zoom download/access token": ZOOM_TOKEN_MARK,
    "presigned url signature": PRESIGN_MARKS[0],
    "presigned url credential": PRESIGN_MARKS[1],
}

_RETRIES = {"MAX_ATTEMPTS": "30", "RETRY_BASE_DELAY_SECONDS": "0.5", "RETRY_MAX_DELAY_SECONDS": "5"}


def service_tuning(infra: PrivateInfra) -> dict[str, str]:
    """Environment of the four services beyond the servers' addresses."""
    env = {
        "ZOOMSYMBL_SUBMITTER_MAX_IN_FLIGHT": "5",
        "ZOOMSYMBL_SUBMITTER_RATE_PER_SECOND": "20",
        "ZOOMSYMBL_SUBMITTER_BURST": "10",
        "ZOOMSYMBL_SUBMITTER_LEASE_SECONDS": "20",
        "ZOOMSYMBL_SUBMITTER_RECLAIM_INTERVAL_SECONDS": "3",
        "ZOOMSYMBL_SUBMITTER_ACQUIRE_TIMEOUT_SECONDS": "5",
        # A submission claimed by a process that was killed is taken over only after these; the defaults
        # (900 + 60 s, sized for multi-GB uploads) would stall its partition for 16 minutes.
        "ZOOMSYMBL_SUBMITTER_SUBMIT_TIMEOUT_SECONDS": "60",
        "ZOOMSYMBL_SUBMITTER_CLAIM_GRACE_SECONDS": "10",
        "ZOOMSYMBL_SUBMITTER_PUBLIC_S3_ENDPOINT": f"http://{infra.s3_endpoint}",
        "ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET": CALLBACK_SECRET,
        "ZOOMSYMBL_MIXER_CONCURRENT_MEETINGS": "2",
        "ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET": CALLBACK_SECRET,
        "ZOOMSYMBL_NOTIFIER_SUMMARY_RETRY_DELAY_SECONDS": "0.2",
        "ZOOMSYMBL_NOTIFIER_SWEEPER_INTERVAL_SECONDS": "3",
        # Not shorter: the sweeper re-reports a silent job every stale period, and reports that pile up
        # faster than the consumer handles them feed on themselves (seen with 10 s under the load burst).
        "ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS": "30",
        "ZOOMSYMBL_NOTIFIER_MAIL_RETRY_BASE_SECONDS": "1",
        "ZOOMSYMBL_NOTIFIER_MAIL_RETRY_MAX_SECONDS": "5",
        "ZOOMSYMBL_NOTIFIER_MAIL_LEASE_SECONDS": "15",
        "ZOOMSYMBL_NOTIFIER_RETRY_MAX_ATTEMPTS": _RETRIES["MAX_ATTEMPTS"],
        "ZOOMSYMBL_NOTIFIER_RETRY_BASE_DELAY_SECONDS": _RETRIES["RETRY_BASE_DELAY_SECONDS"],
        "ZOOMSYMBL_NOTIFIER_RETRY_MAX_DELAY_SECONDS": _RETRIES["RETRY_MAX_DELAY_SECONDS"],
    }
    for service in ("MIXER", "SUBMITTER"):
        env.update({f"ZOOMSYMBL_{service}_{name}": value for name, value in _RETRIES.items()})
    if not SIZES.tuned_retries:  # measure what the services' own retry budgets survive
        env = {
            k: v for k, v in env.items() if not k.endswith(("MAX_ATTEMPTS", "BASE_DELAY_SECONDS", "MAX_DELAY_SECONDS"))
        }
    return env


def stack_config(run_dir: Path, infra: PrivateInfra) -> StackConfig:
    """The reliability stack: its own topic prefix, database and bucket on the private servers."""
    return StackConfig(
        run_dir=run_dir,
        topic_prefix=f"rel-{RUN_ID}-",
        database=f"rel_{RUN_ID}",
        bucket=f"rel-{RUN_ID}",
        tenant=TENANT,
        provider="symbl",  # tuned and counted on the Symbl sandbox
        smtp_port=infra.smtp_port,
        zoom={
            "webhook_secret": WEBHOOK_SECRET,
            "client_secret": ZOOM_CLIENT_SECRET,
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        symbl={
            "app_secret": SYMBL_APP_SECRET,
            "storage_dir": str(run_dir / "symbl"),
            "timings": {"waiting_s": 0.3, "running_s": 0.5},
            "max_concurrent_jobs": 5,
            "summary_not_ready_calls": 1,
        },
        env={**infra.service_env(), **service_tuning(infra)},
        # Ports outside the ephemeral range, so a killed service can always bind its port again.
        ports=dict(zip((*SERVICES, *SANDBOXES), free_ports(len(SERVICES) + len(SANDBOXES)), strict=True)),
    )
