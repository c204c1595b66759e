"""Which Bearer downloads a meeting: the webhook's token while valid, then S2S OAuth with fresh URLs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.tenants import TenantConfig, has_oauth
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_mixer.credentials import Bearer, Credentials, download_urls
from zoomsymbl_mixer.download_token import DownloadToken
from zoomsymbl_mixer.errors import NoCredentials, TrackMissing

OAUTH = TenantConfig(
    id="acme",
    zoom_webhook_secret=SecretStr("whsec"),
    zoom_account_id="acc",
    zoom_client_id="cid",
    zoom_client_secret=SecretStr("csecret"),
)
NO_OAUTH = TenantConfig(id="acme", zoom_webhook_secret=SecretStr("whsec"))


class FakeApi:
    def __init__(self, recordings: dict[str, Any] | Exception | None = None) -> None:
        self.tokens = 0
        self.calls = 0
        self.invalidated = 0
        self.recordings = recordings or {}

    async def access_token(self) -> SecretStr:
        self.tokens += 1
        return SecretStr(f"oauth-token-{self.tokens}")

    def invalidate_token(self, token: SecretStr | None = None) -> None:
        self.invalidated += 1

    async def get_meeting_recordings(self, uuid: str) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.recordings, Exception):
            raise self.recordings
        return self.recordings

    async def user_email(self, user_id: str) -> str:
        return ""

    async def past_meeting_participants(self, uuid: str) -> tuple[tuple[str, str], ...]:
        return ()


def token(hours: float) -> DownloadToken:
    return DownloadToken(SecretStr("webhook-download-token"), utcnow() + timedelta(hours=hours))


def test_oauth_needs_all_three_values() -> None:
    assert has_oauth(OAUTH)
    assert not has_oauth(NO_OAUTH)
    assert not has_oauth(OAUTH.model_copy(update={"zoom_client_secret": SecretStr("")}))


async def test_a_valid_download_token_is_used_first() -> None:
    creds = Credentials(OAUTH, "u", token(20), FakeApi())
    bearer = await creds.current()
    assert (bearer.kind, bearer.token.get_secret_value()) == ("download_token", "webhook-download-token")
    assert await creds.url_for("f", "https://zoom.us/rec/download/f", bearer) == "https://zoom.us/rec/download/f"


async def test_a_token_close_to_expiry_gives_way_to_oauth_and_fresh_urls() -> None:
    api = FakeApi({"participant_audio_files": [{"id": "f", "download_url": "https://zoom.us/rec/download/fresh"}]})
    creds = Credentials(OAUTH, "u", token(0.01), api, margin=timedelta(minutes=5))
    bearer = await creds.current()
    assert bearer.kind == "oauth"
    assert await creds.url_for("f", "https://zoom.us/old", bearer) == "https://zoom.us/rec/download/fresh"
    with pytest.raises(TrackMissing):  # the OAuth token never goes to a URL only the webhook named
        await creds.url_for("g", "https://zoom.us/old-g", bearer)
    assert api.calls == 1


async def test_no_token_and_no_oauth_is_a_clear_failure() -> None:
    creds = Credentials(NO_OAUTH, "u", token(-1), FakeApi())
    with pytest.raises(NoCredentials, match="expired and OAuth is not configured") as caught:
        await creds.current()
    assert caught.value.stage == "auth"


async def test_a_rejected_download_token_switches_to_oauth_once_then_gives_up() -> None:
    api = FakeApi()
    creds = Credentials(OAUTH, "u", token(20), api)
    first = await creds.current()
    second = await creds.rejected(first, 401, 124)
    assert second.kind == "oauth"
    third = await creds.rejected(second, 401, 124)
    assert third.kind == "oauth" and api.invalidated == 1
    with pytest.raises(NoCredentials, match=r"oauth token \(status 401, code 124\)"):
        await creds.rejected(third, 401, 124)


async def test_a_rejected_download_token_without_oauth_fails_with_zooms_code() -> None:
    creds = Credentials(NO_OAUTH, "u", token(20), None)
    with pytest.raises(NoCredentials, match=r"download token \(status 401, code 124\)"):
        await creds.rejected(await creds.current(), 401, 124)


async def test_with_oauth_a_meeting_gone_from_the_api_has_its_files_missing() -> None:
    """Issue 18 item 6: the OAuth token goes only to URLs Zoom's API gave, never to the webhook's."""
    creds = Credentials(OAUTH, "u", None, FakeApi(ZoomApiError(404, "meeting recordings")))
    bearer = await creds.current()
    with pytest.raises(TrackMissing, match="'f'"):
        await creds.url_for("f", "https://zoom.us/rec/download/f", bearer)


def test_download_urls_of_an_api_answer() -> None:
    answer = {
        "recording_files": [{"id": "a", "download_url": "https://zoom.us/a"}, {"id": 3}, "junk"],
        "participant_audio_files": [{"id": "p", "download_url": "https://zoom.us/p"}],
    }
    assert download_urls(answer) == {"a": "https://zoom.us/a", "p": "https://zoom.us/p"}


class FlakyApi(FakeApi):
    """Answers ``failures`` retryable errors (Zoom's 502, then a 429) before the recordings."""

    def __init__(self, failures: list[Exception], recordings: dict[str, Any]) -> None:
        super().__init__(recordings)
        self.failures = failures

    async def get_meeting_recordings(self, uuid: str) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.recordings  # type: ignore[return-value]


async def test_a_short_api_outage_is_waited_out_within_one_attempt() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    failures: list[Exception] = [RetryableError("zoom answered 502"), RetryableError("zoom answered 502")]
    failures.append(RateLimitedError("zoom answered 429", retry_after=7.0))
    answer = {"participant_audio_files": [{"id": "p", "download_url": "https://zoom.us/fresh/p"}]}
    api = FlakyApi(failures, answer)
    creds = Credentials(OAUTH, "u", None, api, sleep=sleep)
    bearer = await creds.current()
    assert await creds.url_for("p", "https://zoom.us/stale/p", bearer) == "https://zoom.us/fresh/p"
    assert api.calls == 4
    assert len(waits) == 3 and waits[-1] == 7.0  # backoff twice, then Zoom's Retry-After


async def test_a_long_api_outage_still_ends_the_attempt_with_a_retryable_error() -> None:
    async def sleep(seconds: float) -> None:
        return None

    api = FlakyApi([RetryableError("zoom answered 502") for _ in range(50)], {})
    creds = Credentials(OAUTH, "u", None, api, sleep=sleep)
    with pytest.raises(RetryableError, match="502"):
        await creds.url_for("p", "https://zoom.us/stale/p", await creds.current())
    assert api.calls == 6  # ZOOM_RETRY_POLICY.max_attempts; then the consumer's budget decides


async def test_parallel_downloads_refused_with_the_same_oauth_token_count_as_one_refusal() -> None:
    """Both tracks of a meeting start with the cached token; Zoom refuses it for both (it was revoked):
    that is one refusal, and both go on with the fresh token (it used to fail the meeting)."""
    api = FakeApi()
    creds = Credentials(OAUTH, "u", None, api)
    first = Bearer(SecretStr("revoked"), "oauth")
    second = Bearer(SecretStr("revoked"), "oauth")
    fresh_a = await creds.rejected(first, 401, 124)
    fresh_b = await creds.rejected(second, 401, 124)
    assert (fresh_a.kind, fresh_b.kind) == ("oauth", "oauth") and api.invalidated == 1
    with pytest.raises(NoCredentials, match="oauth token"):
        await creds.rejected(fresh_b, 401, 124)  # the fresh token refused too: that is a second refusal


def test_a_phone_recordings_oauth_token_goes_only_to_zooms_phone_download_endpoint() -> None:
    from zoomsymbl_mixer.credentials import phone_download_allowed

    tenant = TenantConfig(id="acme", zoom_webhook_secret=SecretStr("s"))
    sandbox = tenant.model_copy(update={"zoom_api_base": "http://127.0.0.1:9100/v2"})
    assert phone_download_allowed("https://zoom.us/v2/phone/recording/download/R8Vs4cTSCRyyWA2nStDaqw", tenant)
    assert phone_download_allowed("https://api.zoom.us/v2/phone/recording/download/abc", tenant)
    assert phone_download_allowed("http://127.0.0.1:9100/v2/phone/recording/download/abc", sandbox)
    for url in (
        "http://zoom.us/v2/phone/recording/download/abc",  # not TLS
        "https://zoom.us:8443/v2/phone/recording/download/abc",  # not 443
        "https://evil.example/v2/phone/recording/download/abc",  # not Zoom
        "https://zoom.us.evil.example/v2/phone/recording/download/abc",
        "https://user@zoom.us/v2/phone/recording/download/abc",
        "https://zoom.us/rec/download/abc",  # another endpoint
        "http://127.0.0.1:9100/v2/phone/recording/download/abc",  # loopback, for a tenant not pointed there
        "not a url",
    ):
        assert not phone_download_allowed(url, tenant), url
