"""The error tree of zoomsymbl: one root, and a split every consumer relies on.

``RetryableError`` means "the same input may succeed later" (network, 5xx, 429, a server down):
handlers retry with backoff and dead-letter only after their attempt budget. ``PoisonInputError``
means "this input will never succeed" (invalid event, corrupt audio): it is dead-lettered at once
and the meeting is marked failed with a reason.
"""

from __future__ import annotations


class ZoomsymblError(Exception):
    """Root of every error raised by zoomsymbl code."""


class ConfigError(ZoomsymblError):
    """A setting is missing or invalid; the message names the environment variable."""

    def __init__(self, message: str, *, variables: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.variables = variables


class RetryableError(ZoomsymblError):
    """The operation may succeed if repeated later (network error, 5xx, 429, dependency down)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """An upstream answered 429; wait ``retry_after`` seconds (when known) without spending retry budget."""


class HeldElsewhere(RetryableError):
    """Another live worker holds the work under a lease; wait ``retry_after`` seconds without spending retry budget.

    The holder finishes it, or its lease runs out (it died) and the next try takes the work over.
    """


class PoisonInputError(ZoomsymblError):
    """The input can never be processed (invalid event, corrupt audio); dead-letter it with ``reason``."""

    def __init__(self, reason: str, *, stage: str = "unknown") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


class InfrastructureUnavailable(RetryableError):
    """One of our own servers (Kafka, MongoDB, S3, SMTP) did not answer in time."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"{component} unavailable: {detail}")
        self.component = component
        self.detail = detail


class KafkaUnavailable(InfrastructureUnavailable):
    """Kafka did not acknowledge a publish or answer a metadata request in time."""

    def __init__(self, detail: str) -> None:
        super().__init__("kafka", detail)


class MongoUnavailable(InfrastructureUnavailable):
    """MongoDB did not answer in time."""

    def __init__(self, detail: str) -> None:
        super().__init__("mongodb", detail)


class MongoUnauthorized(MongoUnavailable):
    """MongoDB refused an operation to our user (``Unauthorized``, 13): its roles lack a privilege the operation needs.

    Like refused credentials, every such operation fails alike until an operator grants it, whatever the message:
    waited out as an outage, never spent on a message's attempts. The server's text (it may quote the command's
    filter) is left out; the message names the fix.
    """

    def __init__(self) -> None:
        super().__init__("Unauthorized (13)")
        self.args = (
            "mongodb refused the operation (Unauthorized, 13): the MongoDB user's roles lack a privilege it needs;"
            " grant the user readWrite on the services' database (docs/operations.md, MongoDB)",
        )


class StorageUnavailable(InfrastructureUnavailable):
    """The S3 server did not answer in time or answered a server error."""

    def __init__(self, detail: str) -> None:
        super().__init__("s3", detail)


class UploadAborted(RetryableError):
    """S3 no longer knows a multipart upload of ours that was still running (``NoSuchUpload``): someone aborted it.

    ``zoomsymbl forget --force``, or retention of a meeting a redelivery is mixing again, aborts every unfinished upload
    under the meeting's prefixes (a lifecycle rule's AbortIncompleteMultipartUpload may too). Retried within the
    message's attempts, not waited out as an outage (nothing is down, and a wait that spends nothing could repeat for
    as long as the outage budget lasts): the next attempt starts a new upload, or, the meeting forgotten, reads its
    tombstone first and stops.
    """

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"multipart upload of {key!r} in bucket {bucket!r} was aborted while it ran (NoSuchUpload)")
        self.bucket = bucket
        self.key = key


class ObjectNotFound(ZoomsymblError):
    """An object key does not exist in the bucket."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"object {key!r} not found in bucket {bucket!r}")
        self.bucket = bucket
        self.key = key


class ObjectRejected(PoisonInputError):
    """The S3 server refused a request that cannot succeed when repeated (key too long, invalid name, too large)."""

    def __init__(self, bucket: str, key: str, code: str, detail: str = "", *, stage: str = "storage") -> None:
        because = f" ({detail!r})" if detail else ""
        super().__init__(f"s3 refused object {key!r} in bucket {bucket!r}: {code}{because}", stage=stage)
        self.bucket = bucket
        self.key = key
        self.code = code
        self.detail = detail
