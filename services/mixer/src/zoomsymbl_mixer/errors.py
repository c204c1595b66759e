"""The mixer's failures: each is either retryable (try the meeting again later) or poison (fail it).

Poison errors carry the ``stage`` the meeting failed in; the consumer marks the meeting failed with
that stage and reason and dead-letters the event. Messages never contain a URL, a token or a
signed query string: a host name at most.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Literal

from zoomsymbl_common.errors import ObjectRejected, PoisonInputError, RateLimitedError, RetryableError, ZoomsymblError

Stage = Literal["tenant", "auth", "download", "verify", "merge", "upload", "publish"]


class UnknownTenant(PoisonInputError):
    """The event names a tenant that is not configured."""

    def __init__(self, tenant: str) -> None:
        super().__init__(f"tenant {tenant!r} is not configured", stage="tenant")
        self.tenant = tenant


class NoCredentials(PoisonInputError):
    """Neither a valid webhook download token nor Server-to-Server OAuth credentials exist."""

    def __init__(self, tenant: str, detail: str) -> None:
        super().__init__(f"no way to download for tenant {tenant!r}: {detail}", stage="auth")
        self.tenant = tenant


class DownloadRefused(PoisonInputError):
    """A download URL or redirect points at a host the tenant's allowlist does not permit (SSRF guard)."""

    def __init__(self, host: str, why: str) -> None:
        super().__init__(f"download host {host!r} refused: {why}", stage="download")
        self.host = host
        self.why = why


class ZoomErrorBody(PoisonInputError):
    """Zoom answered a download with an error document (often with status 200) instead of audio."""

    def __init__(self, file_id: str, status: int, code: int | None, message: str) -> None:
        super().__init__(
            f"zoom refused file {file_id!r}: status {status}, code {code!r}, message {message!r}", stage="download"
        )
        self.file_id = file_id
        self.status = status
        self.code = code
        self.message = message


class TrackInvalid(PoisonInputError):
    """A downloaded track has the wrong size or ffprobe cannot decode it."""

    def __init__(self, file_id: str, why: str) -> None:
        super().__init__(f"track {file_id!r} is unusable: {why}", stage="verify")
        self.file_id = file_id
        self.why = why


class NothingToMix(PoisonInputError):
    """The recording has no participant track, no audio_only file and no MP4 that could be used."""

    def __init__(self, why: str) -> None:
        super().__init__(f"nothing to mix: {why}", stage="download")


class MeetingTooLong(PoisonInputError):
    """Zoom's times or the tracks' start times and lengths would make a mix longer than the meeting can be."""

    def __init__(self, why: str) -> None:
        super().__init__(f"implausible meeting length: {why}", stage="verify")
        self.why = why


class MergeFailed(PoisonInputError):
    """ffmpeg could not merge the tracks (corrupt audio or an impossible output)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"merge failed: {why}", stage="merge")


def rejected_at(stage: Stage, exc: ObjectRejected) -> ObjectRejected:
    """``exc`` with the stage the meeting was in: the object store cannot know it."""
    return ObjectRejected(exc.bucket, exc.key, exc.code, exc.detail, stage=stage)


class DownloadFailed(RetryableError):
    """A download broke or Zoom answered a server error; the meeting is tried again later."""

    def __init__(self, file_id: str, why: str) -> None:
        super().__init__(f"download of file {file_id!r} failed: {why}")
        self.file_id = file_id


class ToolInterrupted(RetryableError):
    """ffmpeg or ffprobe was killed (SIGKILL: the pod's memory limit) or ran out of scratch space: try again later."""

    def __init__(self, tool: str, why: str) -> None:
        super().__init__(f"{tool} {why}")
        self.tool = tool
        self.why = why


_NO_SPACE = "No space left on device"


def interrupted(tool: str, returncode: int, tail: Sequence[str]) -> ToolInterrupted | None:
    """The failure of a tool that says nothing about its input, else None (the input is to blame).

    The kernel's OOM killer picks the largest process of the container, often the merging ffmpeg; a full
    scratch volume (meetings in flight together, another pod's files) makes any write fail. Neither repeats
    on a later try, so failing the meeting for good would lose a recording that mixes fine.
    """
    if returncode == -signal.SIGKILL:
        return ToolInterrupted(tool, "was killed (SIGKILL, out of memory?)")
    if any(_NO_SPACE in line for line in tail):
        return ToolInterrupted(tool, f"ran out of scratch space ({_NO_SPACE})")
    return None


class DownloadRateLimited(RateLimitedError):
    """Zoom answered 429; wait ``retry_after`` seconds when known."""

    def __init__(self, file_id: str, retry_after: float | None) -> None:
        super().__init__(f"zoom rate-limited the download of file {file_id!r}", retry_after=retry_after)
        self.file_id = file_id


class TokenRejected(ZoomsymblError):
    """Zoom rejected the Bearer token (401/403, or an error body with an auth code): try the next one."""

    def __init__(self, file_id: str, status: int, code: int | None) -> None:
        super().__init__(f"zoom rejected the token for file {file_id!r}: status {status}, code {code!r}")
        self.file_id = file_id
        self.status = status
        self.code = code


class TrackMissing(ZoomsymblError):
    """Zoom says a file does not exist (404); the meeting goes on without it when others remain."""

    def __init__(self, file_id: str, status: int, code: int | None) -> None:
        super().__init__(f"zoom has no file {file_id!r}: status {status}, code {code!r}")
        self.file_id = file_id
        self.status = status
        self.code = code


class EarlierGeneration(Exception):
    """The recording's event is of a generation its meeting has left (``zoomsymbl replay --force`` ran since): not
    mixed. Not a :class:`ZoomsymblError`: no retry, no dead letter, no failure of the meeting."""

    def __init__(self, generation: int, current: int) -> None:
        super().__init__(f"generation {generation} of a meeting at generation {current}")
        self.generation = generation
        self.current = current


class SupersededRecording(Exception):
    """The recording's event is an older delivery than the one the meeting's archive record was written for (Zoom
    sent an earlier webhook again, a plain replay re-published it): not mixed, nothing stored. Not a
    :class:`ZoomsymblError`: no retry, no dead letter, no failure of the meeting."""

    def __init__(self, generation: int) -> None:
        super().__init__(f"an older delivery of generation {generation}'s recording than the one archived")
        self.generation = generation
