"""``zoomsymbl topics``: list the Kafka topic names, or create every topic (the Helm chart's pre-install Job).

A topic that already exists is left as it is (see :mod:`zoomsymbl_common.topics`); one whose settings
differ from the command line's is listed as ``differs`` and each difference is logged. Exit status 0
when every topic exists afterwards.
"""

from __future__ import annotations

import argparse
import asyncio

from zoomsymbl_common.kafka_security import client_options
from zoomsymbl_common.ops.command import Command, Result, add_json_flag, examples_epilog, positive_int
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.topics import TopicPlan, base_topics, create_topics, topic_specs

LIST_EXAMPLES = ("zoomsymbl topics list", "zoomsymbl topics list --prefix staging- --json")
CREATE_EXAMPLES = (
    "zoomsymbl topics create --bootstrap kafka:9092 --partitions 6 --replication 3 --min-insync-replicas 2",
    "zoomsymbl topics create --replication 1 --json   # bootstrap and prefix from ZOOMSYMBL_KAFKA_*",
)


def _retention(text: str) -> int:
    value = int(text)
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be positive milliseconds or -1 (forever), got {value!r}")
    return value


def _action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    examples = LIST_EXAMPLES if name == "list" else CREATE_EXAMPLES
    parser = actions.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=examples_epilog(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_json_flag(parser)
    parser.add_argument("--prefix", help="topic name prefix (default: ZOOMSYMBL_KAFKA_TOPIC_PREFIX)")
    return parser


def arguments(parser: argparse.ArgumentParser) -> None:
    """``list`` and ``create`` with their options."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,create}")
    _action(actions, "list", "print the topic names, one per line")
    create = _action(actions, "create", "create every topic; existing topics are left unchanged")
    create.add_argument(
        "--bootstrap", help="Kafka bootstrap servers, comma-separated (default: ZOOMSYMBL_KAFKA_BOOTSTRAP)"
    )
    create.add_argument("--partitions", type=positive_int, default=TopicPlan.partitions)
    create.add_argument("--replication", type=positive_int, default=TopicPlan.replication)
    create.add_argument("--retention-ms", type=_retention, default=TopicPlan.retention_ms)
    create.add_argument("--dlq-partitions", type=positive_int, default=TopicPlan.dlq_partitions)
    create.add_argument("--dlq-retention-ms", type=_retention, default=TopicPlan.dlq_retention_ms)
    create.add_argument("--min-insync-replicas", type=positive_int, default=None)
    create.add_argument("--timeout-s", type=float, default=60.0, help="how long to wait for Kafka to answer")


def plan_from_args(args: argparse.Namespace, default_prefix: str = "") -> TopicPlan:
    """The :class:`TopicPlan` a parsed ``create`` command line asks for."""
    return TopicPlan(
        partitions=args.partitions,
        replication=args.replication,
        retention_ms=args.retention_ms,
        dlq_partitions=args.dlq_partitions,
        dlq_retention_ms=args.dlq_retention_ms,
        min_insync_replicas=args.min_insync_replicas,
        prefix=default_prefix if args.prefix is None else args.prefix,
    )


def run(args: argparse.Namespace) -> Result:
    """List the names, or create the topics and report each one's outcome."""
    # Settings give the defaults of the prefix and the bootstrap, and TLS/SASL (ZOOMSYMBL_KAFKA_*).
    infra = None if args.action == "list" and args.prefix is not None else load_settings(InfraSettings)
    prefix = args.prefix if args.prefix is not None else (infra.kafka_topic_prefix if infra else "")
    if args.action == "list" or infra is None:
        names = [f"{prefix}{name}" for name in base_topics()]
        return Result(data={"topics": names}, text="\n".join(names))
    bootstrap = args.bootstrap or infra.kafka_bootstrap
    specs = topic_specs(plan_from_args(args, prefix))
    outcomes = asyncio.run(create_topics(bootstrap, specs, args.timeout_s, client_options(infra)))
    text = "\n".join(f"{outcomes[spec.name]:8} {spec.name}" for spec in specs)
    return Result(data={"bootstrap": bootstrap, "topics": outcomes}, text=text)


def register() -> Command:
    """The ``topics`` subcommand."""
    return Command(
        name="topics",
        summary="list or create the Kafka topics (and their .dlq topics)",
        description=__doc__ or "",
        examples=(*LIST_EXAMPLES[:1], *CREATE_EXAMPLES[:1]),
        arguments=arguments,
        run=run,
        log_level="INFO",
    )
