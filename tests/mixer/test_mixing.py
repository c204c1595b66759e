"""Whole meetings against the Zoom sandbox, the real MongoDB, S3 and ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.records import MEETINGS, SECRETS
from zoomsymbl_common.storage_keys import meeting_key, mix_tag
from zoomsymbl_mixer.analytics import SilenceLog, first_sound
from zoomsymbl_mixer.errors import DownloadRefused, NoCredentials, TrackInvalid, UnknownTenant, ZoomErrorBody
from zoomsymbl_mixer.ffprobe import parse_probe, probe_args
from zoomsymbl_mixer.upload import PartUploads
from zoomsymbl_sandbox.zoom import LEAD_IN_S, Fault

from tests.hostile_media import DEMUXERS, make_canary, write_manifest
from tests.mixer.conftest import NO_TRACKS, TYPICAL, Rig, spec_with_participants

pytestmark = pytest.mark.integration


async def first_sounds(path: Path, channels: int) -> list[float]:
    """When each channel of ``path`` first makes a sound, by an independent silencedetect pass."""
    log = SilenceLog(channels=channels)
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-af"]
    args += ["silencedetect=noise=-50dB:duration=0.3:mono=1", "-f", "null", "-"]
    result = await run_tool(args, timeout=60, on_line=log.feed)
    assert result.returncode == 0
    return [first_sound(s) for s in log.silences(1e9)]


async def fetch_mixed(rig: Rig, key: str, tmp_path: Path) -> Path:
    path = tmp_path / Path(key).name
    await rig.store.get_file(key, str(path))
    return path


def participant_offsets(rig: Rig, meeting_uuid: str) -> dict[str, float]:
    spec = rig.sandbox.meetings[meeting_uuid].spec
    return {p.name: float(p.start_offset_s) for p in spec.participants}


@pytest.mark.parametrize(
    ("direct_hours", "decision"),
    [(12.0, "mp4 tracks mixed as they are"), (0.0, "mp4 tracks copied to adts")],
    ids=["short-meeting-mp4", "copied-to-adts"],
)
async def test_one_aligned_channel_per_participant(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture, direct_hours: float, decision: str
) -> None:
    event = await rig.event(TYPICAL)
    with caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        mixed = await rig.mixer(mp4_direct_track_hours=direct_hours).on_recording_completed(event)
    # 3 tracks of seconds are mixed from their MP4s (ffmpeg's index of them is tiny; ADTS decodes slower); with
    # the limit at 0 they go through the mixer's own MP4 -> ADTS copy (mp4.py), never ffmpeg's fallback copy.
    decisions = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mp4 tracks")]
    assert decisions == [decision]
    tracks = [r.getMessage() for r in caplog.records if r.name == "zoomsymbl.mixer.tracks"]
    assert [m for m in tracks if "ffmpeg" in m or "mp4" in m] == []

    assert [c.participant_name for c in mixed.channel_map] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    # Zoom's webhook carries no e-mails; the past-meeting participants API has them for who signed in.
    assert [c.participant_email for c in mixed.channel_map] == ["elisa@example.com", "jean-luc@example.com", None]
    assert (mixed.format, mixed.channels, mixed.diarization) == ("flac", 3, False)
    assert mixed.object_key == f"mixed/acme/{meeting_key(TYPICAL)}.{mix_tag(mixed.input_hash, 0)}.flac"
    assert mixed.duration_seconds == pytest.approx(16, abs=0.1)
    offsets = participant_offsets(rig, TYPICAL)
    assert [c.offset_seconds for c in mixed.channel_map] == [offsets[c.participant_name] for c in mixed.channel_map]
    path = await fetch_mixed(rig, mixed.object_key, tmp_path)
    assert path.stat().st_size == mixed.size_bytes
    starts = await first_sounds(path, 3)
    assert starts == pytest.approx([offsets[c.participant_name] + LEAD_IN_S for c in mixed.channel_map], abs=0.05)
    assert [s.channel for s in mixed.speaker_stats] == [1, 2, 3]
    assert all(0 < s.talk_seconds < 6 for s in mixed.speaker_stats)
    assert rig.published == [mixed]

    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "mixed"
    assert doc["speaker_stats"][0]["talk_seconds"] == mixed.speaker_stats[0].talk_seconds
    for raw in doc["objects"]["raw"]:
        assert raw["key"].startswith(f"raw/acme/{meeting_key(TYPICAL)}/")
        assert await rig.store.size(raw["key"]) == raw["size"] == rig.sandbox.files[raw["file_id"]].size
    assert list(rig.scratch.iterdir()) == []


async def test_tracks_longer_than_zoom_said_are_copied_to_adts_after_all(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Zoom's times (untrusted) say each track lasts 0 s, so the MP4s are chosen; the probes find ~16 s each, which
    # is past a limit of 0.005 h (18 s) in all: the tracks are copied before the merge, never mixed from the MP4s.
    event = await rig.event(TYPICAL)
    short = tuple(f.model_copy(update={"recording_end": f.recording_start}) for f in event.participant_tracks)
    event = event.model_copy(update={"participant_tracks": short})
    with caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        mixed = await rig.mixer(mp4_direct_track_hours=0.005).on_recording_completed(event)
    messages = [r.getMessage() for r in caplog.records]
    assert "mp4 tracks mixed as they are" in messages
    assert "tracks longer than zoom said, copying them to adts" in messages
    assert not [m for m in messages if "left to ffmpeg" in m or "kept as mp4" in m]
    offsets = participant_offsets(rig, TYPICAL)
    starts = await first_sounds(await fetch_mixed(rig, mixed.object_key, tmp_path), 3)
    assert starts == pytest.approx([offsets[c.participant_name] + LEAD_IN_S for c in mixed.channel_map], abs=0.05)
    assert list(rig.scratch.iterdir()) == []


async def test_a_redelivered_event_does_no_new_work(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    mixer = rig.mixer()
    first = await mixer.on_recording_completed(event)
    downloads = rig.downloads()
    again = await mixer.on_recording_completed(event)
    assert again == first
    assert [e.event_id for e in rig.published] == [first.event_id, first.event_id]
    assert rig.downloads() == downloads


@pytest.mark.parametrize("damage", ["removed", "replaced"])
async def test_a_recorded_mix_no_longer_in_storage_as_recorded_is_mixed_again(
    rig: Rig, damage: str, tmp_path: Path
) -> None:
    """S3 lost the mix (or restored an older one, or a lifecycle rule took it): a replay mixes again from the raw
    tracks still in S3 instead of announcing an object the submitter cannot read."""
    event = await rig.event(TYPICAL)
    first = await rig.mixer().on_recording_completed(event)
    await rig.store.remove(first.object_key)
    if damage == "replaced":
        other = tmp_path / "other.flac"
        other.write_bytes(b"not the mix")
        await rig.store.put_file(first.object_key, str(other))
    downloads = rig.downloads()

    again = await rig.mixer().on_recording_completed(event)

    # The same inputs: the same mix, object key and event id (only the time of the mix is new).
    assert again.model_copy(update={"occurred_at": first.occurred_at}) == first
    assert await rig.store.size(again.object_key) == again.size_bytes
    assert rig.downloads() == downloads  # the raw tracks came from S3, not Zoom


async def test_raw_tracks_already_in_storage_are_not_downloaded_again(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    first = await rig.mixer().on_recording_completed(event)
    downloads = rig.downloads()
    # As if the mixer died after the downloads but before the mix was recorded.
    await rig.mongo.db[MEETINGS].delete_many({})
    second = await rig.mixer().on_recording_completed(event)
    assert rig.downloads() == downloads
    assert second.channel_map == first.channel_map


@pytest.mark.parametrize(("single_put_max", "streamed"), [(5 << 30, True), (0, False)], ids=["one-put", "multipart"])
async def test_each_track_and_the_mix_go_to_s3_in_one_put_of_a_size_known_beforehand(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, single_put_max: int, streamed: bool
) -> None:
    calls: list[tuple[str, int | None]] = []
    upload = PartUploads.upload

    async def recorded(self: PartUploads, key: str, *args: Any, size: int | None = None, **kwargs: Any) -> int:
        calls.append((key.rsplit("/", 1)[-1], size))
        return await upload(self, key, *args, size=size, **kwargs)

    monkeypatch.setattr(PartUploads, "upload", recorded)
    streams = PartUploads._streamed
    sent_streamed: list[int] = []
    mixes_streamed: list[str] = []

    async def counted(self: PartUploads, key: str, lengths: Any, path: Path, size: int, content_type: str) -> int:
        if key.startswith("raw/"):
            sent_streamed.append(size)
        else:
            mixes_streamed.append(key)
        return await streams(self, key, lengths, path, size, content_type)

    monkeypatch.setattr(PartUploads, "_streamed", counted)
    event = await rig.event(TYPICAL)
    mixed = await rig.mixer(single_put_max=single_put_max).on_recording_completed(event)
    announced = {f"{f.file_id}.m4a": f.file_size for f in event.participant_tracks}
    assert None not in announced.values()  # the sandbox announces every size, as Zoom does
    assert sorted(calls) == sorted(announced.items())
    assert sorted(sent_streamed) == (sorted(s for s in announced.values() if s is not None) if streamed else [])
    assert mixes_streamed == ([mixed.object_key] if streamed else [])  # the mix the same way
    for name, size in announced.items():
        assert await rig.store.size(f"raw/acme/{meeting_key(TYPICAL)}/{name}") == size


async def test_a_track_truncated_by_the_server_is_resumed(rig: Rig, tmp_path: Path) -> None:
    event = await rig.event(TYPICAL)
    victim = event.participant_tracks[1]
    rig.sandbox.faults.add(Fault(route="download", kind="truncate", file_id=victim.file_id, after_bytes=20_000))
    mixed = await rig.mixer().on_recording_completed(event)
    records = rig.sandbox.stats.downloads[victim.file_id]
    assert [(r.range_start, r.truncated) for r in records] == [(0, True), (20_000, False)]
    raw = f"raw/acme/{meeting_key(TYPICAL)}/{victim.file_id}.m4a"
    stored = tmp_path / "raw.m4a"
    await rig.store.get_file(raw, str(stored))
    assert stored.read_bytes() == rig.sandbox.files[victim.file_id].path.read_bytes()
    assert mixed.channels == 3


async def test_a_200_with_an_error_body_fails_with_zooms_code(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    rig.sandbox.faults.add(Fault(route="download", kind="error_body", file_id=event.participant_tracks[0].file_id))
    with pytest.raises(ZoomErrorBody) as caught:
        await rig.mixer().on_recording_completed(event)
    assert caught.value.code == 124
    assert "code 124" in caught.value.reason
    assert rig.published == []
    assert list(rig.scratch.iterdir()) == []


async def test_a_redirect_off_the_allowlist_is_refused(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    rig.sandbox.faults.add(Fault(route="download", kind="redirect", target="offsite"))
    with pytest.raises(DownloadRefused, match=r"'evil\.example\.invalid'.*allowlist"):
        await rig.mixer().on_recording_completed(event)
    assert rig.sandbox.stats.requests["cdn_download"] == 0


async def test_a_redirect_to_zooms_cdn_is_followed_without_the_token(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    rig.sandbox.faults.add(Fault(route="download", kind="redirect", target="local", count=3))
    mixed = await rig.mixer().on_recording_completed(event)
    assert mixed.channels == 3
    signed = [r for records in rig.sandbox.stats.downloads.values() for r in records if r.auth == "signed_url"]
    assert len(signed) == 3


async def test_more_participants_than_max_channels_share_an_others_channel(rig: Rig) -> None:
    await rig.sandbox.add_meeting(spec_with_participants("crowded-meeting==", 3))
    rig.tenant = rig.tenant.model_copy(update={"max_channels": 2})
    mixed = await rig.mixer().on_recording_completed(await rig.event("crowded-meeting=="))
    assert mixed.channels == 2
    own, others = mixed.channel_map
    # Speaker 2 says the most words, so they keep a channel of their own.
    assert (own.participant_name, own.mixed) == ("Speaker 2", False)
    assert (others.participant_name, others.mixed, len(others.file_ids)) == ("Others", True, 2)
    assert mixed.diarization


async def test_without_participant_tracks_the_audio_only_file_is_one_channel(rig: Rig, tmp_path: Path) -> None:
    event = await rig.event(NO_TRACKS)
    assert event.participant_tracks == ()
    mixed = await rig.mixer().on_recording_completed(event)
    [channel] = mixed.channel_map
    assert (channel.participant_name, channel.mixed, mixed.diarization) == ("Meeting audio", True, True)
    audio_only = next(f for f in event.fallback_files if f.recording_type == "audio_only")
    assert channel.file_ids == (audio_only.file_id,)
    probed = await run_tool(
        probe_args(await fetch_mixed(rig, mixed.object_key, tmp_path)), timeout=30, capture_stdout=True
    )
    probe = parse_probe(probed.stdout)
    assert probe is not None and probe.channels == 1


async def test_an_expired_download_token_falls_back_to_oauth(rig: Rig) -> None:
    event = await rig.event(TYPICAL, token_hours=-1)
    mixed = await rig.mixer().on_recording_completed(event)
    assert mixed.channels == 3
    auths = {r.auth for records in rig.sandbox.stats.downloads.values() for r in records}
    assert auths == {"oauth"}
    assert rig.sandbox.stats.requests["get_recordings"] == 1


async def test_a_download_token_the_event_announces_is_waited_for(rig: Rig) -> None:
    """Ingest writes the token behind its answer: the mixer may get the event first, and waits for the token."""
    event = await rig.event(TYPICAL)
    stored = await rig.mongo.db[SECRETS].find_one_and_delete({"meeting_uuid": TYPICAL})
    assert stored is not None and event.has_download_token

    async def written_late() -> None:
        await asyncio.sleep(0.4)
        await rig.mongo.db[SECRETS].insert_one(stored)

    late = asyncio.create_task(written_late())
    mixed = await rig.mixer().on_recording_completed(event)
    await late
    assert mixed.channels == 3
    auths = {r.auth for records in rig.sandbox.stats.downloads.values() for r in records}
    assert auths == {"download_token"}
    assert rig.sandbox.stats.requests["get_recordings"] == 0  # no API quota spent on new URLs


async def test_an_announced_token_that_never_comes_leaves_oauth_after_the_wait(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    event = await rig.event(TYPICAL)
    await rig.mongo.db[SECRETS].delete_many({"meeting_uuid": TYPICAL})
    with caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        mixed = await rig.mixer(token_wait=0.3).on_recording_completed(event)
    assert mixed.channels == 3
    auths = {r.auth for records in rig.sandbox.stats.downloads.values() for r in records}
    assert auths == {"oauth"}
    assert "announced download token not in mongodb, using oauth" in [r.getMessage() for r in caplog.records]


async def test_an_event_without_a_token_is_not_kept_waiting(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    event = (await rig.event(TYPICAL)).model_copy(update={"has_download_token": False})
    await rig.mongo.db[SECRETS].delete_many({"meeting_uuid": TYPICAL})
    with caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        await rig.mixer(token_wait=300).on_recording_completed(event)  # a wait would hit the test's timeout
    assert not [r for r in caplog.records if "announced download token" in r.getMessage()]


async def test_a_revoked_download_token_without_oauth_fails_clearly(rig: Rig) -> None:
    rig.tenant = rig.tenant.model_copy(update={"zoom_client_id": ""})
    event = await rig.event(TYPICAL)
    rig.sandbox.tokens.expire("download")
    with pytest.raises(NoCredentials, match="status 401, code 124"):
        await rig.mixer().on_recording_completed(event)


async def test_opus_output_is_available(rig: Rig) -> None:
    mixed = await rig.mixer(output_format="opus").on_recording_completed(await rig.event(TYPICAL))
    assert (mixed.format, mixed.channels) == ("opus", 3)
    assert mixed.object_key.endswith(".opus")


async def test_an_unknown_tenant_is_poison(rig: Rig) -> None:
    event = (await rig.event(TYPICAL)).model_copy(update={"tenant": "nobody"})
    with pytest.raises(UnknownTenant):
        await rig.mixer().on_recording_completed(event)


@pytest.mark.parametrize("kind", ["hls-file-url", "dash-bom"])
async def test_a_track_whose_bytes_are_a_manifest_fails_the_meeting_and_its_target_is_never_read(
    rig: Rig, tmp_path: Path, kind: str
) -> None:
    event = await rig.event(TYPICAL)
    victim = rig.sandbox.files[event.participant_tracks[1].file_id]
    canary = make_canary(tmp_path)
    # Same size as the real track, so it passes the size check and reaches ffprobe.
    hostile = write_manifest(tmp_path / "hostile.m4a", kind, canary, victim.size)
    rig.sandbox.files[victim.file_id] = dataclasses.replace(victim, path=hostile)
    # Following the manifest would hang on the canary until the probe timeout (ToolTimeout, retryable).
    with pytest.raises(TrackInvalid) as caught:
        await rig.mixer(probe_timeout=20.0).on_recording_completed(event)
    assert caught.value.file_id == victim.file_id
    assert caught.value.why == f"ffprobe: its bytes are {DEMUXERS[kind]!r}, not an audio container (refused)"
    assert caught.value.stage == "verify"
    assert rig.published == []
    assert list(rig.scratch.iterdir()) == []
