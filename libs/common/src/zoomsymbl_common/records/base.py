"""The base of every stored document: validated when read, dumped in its stored shape when written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.event_fields import as_utc

Document = dict[str, Any]
Tenant = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MeetingUuid = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Key = Annotated[str, StringConstraints(max_length=2048)]
Name = Annotated[str, StringConstraints(max_length=1000)]
Reason = Annotated[str, StringConstraints(max_length=1000)]
REASON_LIMIT = 1000


class MalformedRecord(ZoomsymblError):
    """A document read from MongoDB does not have the shape its collection's model requires."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"malformed {model} document: {detail!r}")
        self.model = model
        self.detail = detail


class Record(BaseModel):
    """A MongoDB document. Fields not in the model are ignored when read (other writers' bookkeeping)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _times_in_utc(cls, value: Any) -> Any:
        """Every stored time as aware UTC, as every event's (:data:`~zoomsymbl_common.event_fields.UtcDatetime`).

        MongoDB's dates read aware already; a time stored as a string (a hand edit, another writer, an older release)
        read as it was written: naive, which no aware time can be subtracted from (the notifier's sweeper round ended
        on one), or with an offset, which a year-1 or year-9999 time UTC cannot hold (the report raised after it was
        announced). A naive time is UTC; one past UTC's range is its end.
        """
        if not isinstance(value, datetime):
            return value
        try:
            return as_utc(value)
        except ValueError:  # out of UTC's range: its nearer end
            return (datetime.min if value.year == datetime.min.year else datetime.max).replace(tzinfo=UTC)

    @classmethod
    def from_document(cls, doc: Document) -> Self:
        """Validate ``doc`` as read from MongoDB; :class:`MalformedRecord` when it does not fit."""
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise MalformedRecord(cls.__name__, str(exc.errors(include_url=False, include_input=False))) from exc

    def to_document(self) -> Document:
        """The document as stored (``_id`` under its own name; datetimes and bytes kept for BSON)."""
        return self.model_dump(by_alias=True)
