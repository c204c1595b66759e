"""The minio client an :class:`~zoomsymbl_common.storage.ObjectStore` talks through, and how it connects.

:func:`s3_client` builds it: TLS that always verifies (:func:`tls_context`), urllib3's pool with a 429 raised at once
(:class:`S3Pool`) instead of slept, and minio's client with a multipart completion's error document raised
(:class:`S3Client`) instead of taken for the completed upload.
"""

from __future__ import annotations

import ssl
from typing import Any

import urllib3
from minio import Minio

from zoomsymbl_common.settings import InfraSettings, file_setting_error
from zoomsymbl_common.storage_errors import error_in_answer, throttled


def tls_context(infra: InfraSettings) -> ssl.SSLContext | None:
    """The TLS context of S3 over HTTPS (None without ``s3_secure``); an unusable CA file raises :class:`ConfigError`.

    The server's certificate and host name are always verified: against ``ZOOMSYMBL_S3_CA_FILE`` alone
    when it is set (a private CA, e.g. an in-cluster MinIO or Ceph), else against the system CAs.
    """
    if not infra.s3_secure:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=infra.s3_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise file_setting_error({"s3_ca_file": infra.s3_ca_file}, exc) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class S3Pool(urllib3.PoolManager):
    """urllib3's pool, except that a 429 raises :class:`~zoomsymbl_common.storage_errors.StorageThrottled` with its
    ``Retry-After``: minio keeps no header of an error answer, and one that is not S3's XML (a proxy's) it raises
    as an ``InvalidResponseError`` of no class of ours."""

    def urlopen(  # type: ignore[override]  # as urllib3's own PoolManager.urlopen
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        error = throttled(response)
        if error is not None:
            response.drain_conn()
            response.release_conn()
            raise error
        return response


class S3Client(Minio):
    """minio's client, except that a CompleteMultipartUpload answered 200 with an error document raises that error
    (:func:`~zoomsymbl_common.storage_errors.error_in_answer`) instead of returning it as the completed upload.

    Every multipart completion goes through here: ``put_object``'s, ``fput_object``'s and the mixer's own.
    """

    def _execute(self, method: str, *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        response = super()._execute(method, *args, **kwargs)
        if method == "POST" and "uploadId" in (kwargs.get("query_params") or {}):
            error = error_in_answer(response)
            if error is not None:
                raise error
        return response


def s3_client(infra: InfraSettings, *, timeout: float) -> S3Client:
    """The client of ``infra``'s S3 server: reads time out after ``timeout`` seconds (connecting after 5 at most),
    server errors are retried twice, a 429 is raised at once; an unusable CA file raises :class:`ConfigError`."""
    http = S3Pool(
        timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
        # Not urllib3's Retry-After: it slept it (up to 6 h, twice) in the worker thread, which no deadline or
        # cancellation stops; a 429 is raised at once (S3Pool) with it, for the caller to wait.
        retries=urllib3.Retry(
            total=2,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            respect_retry_after_header=False,
        ),
        maxsize=16,
        ssl_context=tls_context(infra),
    )
    return S3Client(
        infra.s3_endpoint,
        access_key=infra.s3_access_key.get_secret_value(),
        secret_key=infra.s3_secret_key.get_secret_value(),
        secure=infra.s3_secure,
        region=infra.s3_region,
        http_client=http,
    )
