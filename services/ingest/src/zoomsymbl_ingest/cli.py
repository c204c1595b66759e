"""Command line of ``python -m zoomsymbl_ingest``: ``serve`` (default) or ``backfill``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from zoomsymbl_common.errors import ConfigError, KafkaUnavailable, MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import make_broker
from zoomsymbl_common.mongo import ensure_indexes, make_mongo
from zoomsymbl_common.tenants import TenantConfig, has_oauth, load_tenants
from zoomsymbl_common.zoom import ZoomClient

from zoomsymbl_ingest.backfill import Backfill, BackfillReport, month_windows
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTokens

EXIT_FAILED = 1
EXIT_USAGE = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``[serve]`` or ``backfill --tenant T --from DATE [--to DATE]``."""
    parser = argparse.ArgumentParser(prog="zoomsymbl-ingest", description="Zoom webhooks → Kafka.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the webhook HTTP server (default)")
    backfill = commands.add_parser("backfill", help="publish recordings whose webhooks never arrived")
    backfill.add_argument("--tenant", help="tenant id (default: the default tenant)")
    backfill.add_argument(
        "--from", dest="from_", type=date.fromisoformat, required=True, metavar="DATE", help="first day, YYYY-MM-DD"
    )
    backfill.add_argument("--to", type=date.fromisoformat, metavar="DATE", help="last day (default: today, UTC)")
    args = parser.parse_args(argv)
    args.command = args.command or "serve"
    return args


def run_backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Run one backfill, print its report as JSON on stdout; the exit code says whether all went well."""
    to = args.to or utcnow().date()
    try:
        month_windows(args.from_, to)  # refuse a reversed range before connecting to anything
        tenant = _backfill_tenant(args.tenant)
        report = asyncio.run(_backfill(settings, tenant, args.from_, to))
    except (ConfigError, KafkaUnavailable, MongoUnavailable, ValueError) as exc:
        print(f"backfill not started: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError | ValueError) else EXIT_FAILED
    print(json.dumps(report.as_dict()))
    return 0 if report.ok else EXIT_FAILED


def _backfill_tenant(tenant_id: str | None) -> TenantConfig:
    tenants = load_tenants()
    tenant = tenants.get(tenant_id) if tenant_id else tenants.default()
    if tenant is None:
        known = ", ".join(t.id for t in tenants.all()) or "none configured"
        raise ConfigError(
            f"unknown tenant {tenant_id!r} (tenants: {known})",
            variables=("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"),
        )
    if not has_oauth(tenant):
        raise ConfigError(
            f"tenant {tenant.id!r} has no Server-to-Server OAuth credentials (account id, client id, client secret)",
            variables=("ZOOMSYMBL_TENANT_ZOOM_ACCOUNT_ID", "ZOOMSYMBL_TENANT_ZOOM_CLIENT_ID"),
        )
    return tenant


async def _backfill(settings: Settings, tenant: TenantConfig, from_: date, to: date) -> BackfillReport:
    mongo = make_mongo(settings.infra)
    producer = Producer(make_broker(settings.infra, "ingest"), settings.infra)
    try:
        await ensure_indexes(mongo)
        await producer.wait_connected(timeout=30.0)
        intake = Intake(
            publisher=producer,
            receipts=MongoReceipts(mongo),
            tokens=MongoTokens(mongo),
            metrics=IngestMetrics.create(),
            publish_timeout=max(settings.publish_timeout_seconds, 10.0),
            store_timeout=max(settings.mongo_timeout_seconds, 2.0),
            store_concurrency=settings.mongo_concurrency,
        )
        async with ZoomClient(tenant) as client:
            return await Backfill(intake, tenant, client).run(from_, to)
    finally:
        await producer.close()
        await mongo.close()
