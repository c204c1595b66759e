"""What ``guarded`` makes of MongoDB's answers during a failover, a shutdown or a replication stall (no server needed).

The errors are made by pymongo's own readers of a server's answer (``_check_command_response``,
``_check_write_command_response``), from the answers a replica set or a mongos gives: a primary stepping down
while a write replicates answers ``ok: 1`` with a ``writeConcernError``, which pymongo raises as a
``WriteConcernError``, not as the ``NotPrimaryError`` (an ``AutoReconnect``) it makes of the same code as a command's
own error. Before, these left ``guarded`` untranslated: a handler's "unexpected failure" that spent the message's
attempts and dead-lettered it during an outage, and the ingest's purge of expired documents ended for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo.errors import BulkWriteError, ConfigurationError, DuplicateKeyError, OperationFailure, WriteConcernError
from pymongo.helpers_shared import _check_command_response, _check_write_command_response
from zoomsymbl_common.errors import MongoUnauthorized, MongoUnavailable
from zoomsymbl_common.mongo import guarded, make_mongo
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings


async def _failing(exc: BaseException) -> None:
    raise exc


def _raised(check: Any, answer: Mapping[str, Any]) -> OperationFailure:
    with pytest.raises(OperationFailure) as caught:
        check(answer)
    return caught.value


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (91, "ShutdownInProgress"),
        (11600, "InterruptedAtShutdown"),
        (189, "PrimarySteppedDown"),
        (11602, "InterruptedDueToReplStateChange"),
        (10107, "NotWritablePrimary"),
    ],
)
async def test_a_write_concern_error_of_a_failover_is_mongo_unavailable(code: int, name: str) -> None:
    answer = {"ok": 1, "n": 1, "writeConcernError": {"code": code, "codeName": name, "errmsg": "stepping down"}}
    error = _raised(_check_write_command_response, answer)
    assert isinstance(error, WriteConcernError)
    with pytest.raises(MongoUnavailable) as caught:
        await guarded(_failing(error))
    assert caught.value.__cause__ is error


async def test_a_write_concern_timeout_is_mongo_unavailable() -> None:
    stalled = {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out"}
    error = _raised(
        _check_write_command_response,
        {"ok": 1, "n": 1, "writeConcernError": {**stalled, "errInfo": {"wtimeout": True}}},
    )
    with pytest.raises(MongoUnavailable):
        await guarded(_failing(error))


@pytest.mark.parametrize(
    ("code", "name"), [(6, "HostUnreachable"), (7, "HostNotFound"), (89, "NetworkTimeout"), (9001, "SocketException")]
)
async def test_a_mongos_that_cannot_reach_a_shard_is_mongo_unavailable(code: int, name: str) -> None:
    error = _raised(
        lambda a: _check_command_response(a, None), {"ok": 0, "code": code, "codeName": name, "errmsg": "no shard"}
    )
    with pytest.raises(MongoUnavailable):
        await guarded(_failing(error))


@pytest.mark.parametrize(
    ("code", "name", "errmsg"),
    [
        (18, "AuthenticationFailed", "Authentication failed."),
        (50, "MaxTimeMSExpired", "operation exceeded time limit"),
        (43, "CursorNotFound", "cursor id 4242 not found"),
    ],
)
async def test_our_server_refusing_our_credentials_timing_out_or_losing_a_cursor_is_mongo_unavailable(
    code: int, name: str, errmsg: str
) -> None:
    # Every message would fail alike (an operator's matter, not the message's): before, each was an "unexpected
    # failure" that spent its attempts and was dead-lettered, and the CLI exited 1 ("refused") instead of 3.
    error = _raised(
        lambda a: _check_command_response(a, None), {"ok": 0, "code": code, "codeName": name, "errmsg": errmsg}
    )
    with pytest.raises(MongoUnavailable) as caught:
        await guarded(_failing(error))
    assert str(caught.value).endswith(f"{code} {name}") and caught.value.__cause__ is error


async def test_a_role_lacking_a_privilege_is_waited_out_with_a_message_naming_the_fix() -> None:
    # Before, Unauthorized (13) stayed a raw OperationFailure: each message an "unexpected failure" that spent its
    # attempts and was dead-lettered while the role lacked, say, insert on a collection a new release added.
    errmsg = 'not authorized on zoomsymbl to execute command { find: "meetings", filter: { host: "a@b.test" } }'
    error = _raised(
        lambda a: _check_command_response(a, None), {"ok": 0, "code": 13, "codeName": "Unauthorized", "errmsg": errmsg}
    )
    with pytest.raises(MongoUnauthorized) as caught:
        await guarded(_failing(error))
    assert isinstance(caught.value, MongoUnavailable) and caught.value.__cause__ is error
    assert "roles lack a privilege" in str(caught.value) and "readWrite" in str(caught.value)
    assert "a@b.test" not in str(caught.value), "the server's text may quote the command's filter"


async def test_a_bulk_write_that_only_missed_its_write_concern_is_mongo_unavailable() -> None:
    concern = {"code": 91, "codeName": "ShutdownInProgress", "errmsg": "shutting down"}
    error = BulkWriteError({"writeErrors": [], "writeConcernErrors": [concern], "nInserted": 2})
    with pytest.raises(MongoUnavailable):
        await guarded(_failing(error))


async def test_refusals_stay_what_pymongo_raised() -> None:
    refused = [
        _raised(
            lambda a: _check_command_response(a, None), {"ok": 0, "code": 2, "codeName": "BadValue", "errmsg": "no"}
        ),
        DuplicateKeyError("E11000 duplicate key", 11000),
        # A duplicate beside a failover's write concern error: the caller reads its write errors.
        BulkWriteError(
            {"writeErrors": [{"index": 0, "code": 11000, "errmsg": "dup"}], "writeConcernErrors": [{"code": 91}]}
        ),
    ]
    for error in refused:
        with pytest.raises(OperationFailure) as caught:
            await guarded(_failing(error))
        assert caught.value is error


async def test_dns_failing_a_mongodb_srv_uri_is_mongo_unavailable() -> None:
    """pymongo resolves a ``mongodb+srv://`` name at the first operation and raises what DNS answered as a
    ``ConfigurationError``: an unresolvable name (``.invalid`` never resolves; no DNS at all fails the same way)
    is waited out like an unreachable plain host name, which pymongo raises as a server selection timeout."""
    srv = SecretStr("mongodb+srv://cluster0.zoomsymbl-test.invalid/")
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_uri": srv, "mongo_timeout_ms": 500}))
    try:
        with pytest.raises(MongoUnavailable) as caught:
            await guarded(mongo.db[MEETINGS].find_one({}))
        assert isinstance(caught.value.__cause__, ConfigurationError)
    finally:
        await mongo.close()


async def test_a_configuration_error_that_is_no_dns_failure_stays() -> None:
    error = ConfigurationError("Server reports wire version 5, but this version of PyMongo requires at least 8")
    with pytest.raises(ConfigurationError) as caught:
        await guarded(_failing(error))
    assert caught.value is error
