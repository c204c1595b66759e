"""Where the providers get the audio: a stream from S3 (default) or a presigned URL on a public endpoint.

The stream is opened anew for every attempt and read in 1 MiB chunks straight into the HTTP request
body, so a file of any size passes through with a few chunks in memory. A presigned URL is made only
when ``public_s3_endpoint`` is configured, with a client pointed at that endpoint (the signature
covers the host); presigning is local computation, no request is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from pydantic import AnyHttpUrl, SecretStr
from zoomsymbl_common.errors import ObjectNotFound, PoisonInputError
from zoomsymbl_common.providers.base import AudioOpener, AudioPath
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore


class AudioSource:
    """Object stores per bucket (internal endpoint) and, optionally, a presigner on the public one."""

    def __init__(
        self,
        infra: InfraSettings,
        *,
        public_endpoint: AnyHttpUrl | None = None,
        presign_expiry: timedelta = timedelta(hours=6),
    ) -> None:
        self._infra = infra
        self._stores: dict[str, ObjectStore] = {}
        self._public_infra = _public_infra(infra, public_endpoint) if public_endpoint is not None else None
        self._presigners: dict[str, ObjectStore] = {}
        self._expiry = presign_expiry

    @property
    def path(self) -> AudioPath:
        """How every file reaches the provider: a presigned URL when a public endpoint is configured."""
        return "url" if self._public_infra is not None else "upload"

    @property
    def bucket(self) -> str:
        """The one bucket mixed files may be read from (the deployment's ``ZOOMSYMBL_S3_BUCKET``)."""
        return self._infra.s3_bucket

    def store(self, bucket: str) -> ObjectStore:
        """The store of ``bucket`` (created once)."""
        if bucket not in self._stores:
            self._stores[bucket] = ObjectStore(self._infra, bucket=bucket)
        return self._stores[bucket]

    async def size(self, bucket: str, key: str) -> int:
        """The object's size; a missing object is poison (the mixed file it announced is gone)."""
        try:
            return await self.store(bucket).size(key)
        except ObjectNotFound as exc:
            raise PoisonInputError(f"mixed audio {key!r} not found in bucket {bucket!r}", stage="submit") from exc

    def opener(self, bucket: str, key: str) -> AudioOpener:
        """A function that opens a fresh byte stream of the object."""
        store = self.store(bucket)

        def open_stream() -> AsyncIterator[bytes]:
            return store.get_stream(key, chunk_size=1 << 20)

        return open_stream

    def presigned_url(self, bucket: str, key: str) -> SecretStr | None:
        """A public presigned GET URL, or None when no public endpoint is configured."""
        if self._public_infra is None:
            return None
        if bucket not in self._presigners:
            self._presigners[bucket] = ObjectStore(self._public_infra, bucket=bucket)
        return SecretStr(self._presigners[bucket].presigned_get(key, expires=self._expiry))


def _public_infra(infra: InfraSettings, endpoint: AnyHttpUrl) -> InfraSettings:
    host = endpoint.host or ""
    default_port = 443 if endpoint.scheme == "https" else 80
    # The signature covers the Host header, which clients send without a default port.
    netloc = f"{host}:{endpoint.port}" if endpoint.port and endpoint.port != default_port else host
    return infra.model_copy(update={"s3_endpoint": netloc, "s3_secure": endpoint.scheme == "https"})
