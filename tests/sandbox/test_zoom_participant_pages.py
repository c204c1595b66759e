"""Zoom's participant listings page as its references document (default 30, at most 300, next_page_token)."""

from __future__ import annotations

from zoomsymbl_common.zoom import ZoomClient, encode_meeting_uuid
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.ingest.support import quick_meeting, sandbox_config, sandbox_tenant


async def test_past_meeting_participants_come_a_page_at_a_time_as_zoom_pages_them() -> None:
    # https://developers.zoom.us/docs/api/meetings/#tag/meetings/GET/past_meetings/{meetingId}/participants:
    # page_size (default 30, max 300) and next_page_token; the sandbox used to answer everyone on one page.
    config = sandbox_config(quick_meeting("/paged//1=="))
    async with running_zoom_sandbox(config) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox)) as zoom:
            path = f"/past_meetings/{encode_meeting_uuid('/paged//1==')}/participants"
            first = await zoom.get_json(path, {"page_size": "1"}, what="participants")
            second = await zoom.get_json(
                path, {"page_size": "1", "next_page_token": first["next_page_token"]}, what="participants"
            )
            default = await zoom.get_json(path, {}, what="participants")
    assert [p["name"] for p in first["participants"]] == ["Elisa L"]
    assert (first["page_size"], first["total_records"], first["page_count"]) == (1, 2, 2)
    assert first["next_page_token"]
    assert [p["name"] for p in second["participants"]] == ["Zoë 🎧 Ng"]
    assert second["next_page_token"] == ""
    assert (default["page_size"], len(default["participants"])) == (30, 2)


async def test_the_dashboards_participants_come_a_page_at_a_time_as_zoom_pages_them() -> None:
    # https://developers.zoom.us/docs/api/pagination/ names this listing as one paged by next_page_token.
    config = sandbox_config(quick_meeting("dash-paged=="))
    async with running_zoom_sandbox(config) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox)) as zoom:
            path = f"/metrics/meetings/{encode_meeting_uuid('dash-paged==')}/participants"
            first = await zoom.get_json(path, {"type": "past", "page_size": "1"}, what="dashboard")
            second = await zoom.get_json(
                path, {"type": "past", "page_size": "1", "next_page_token": first["next_page_token"]}, what="dashboard"
            )
            default = await zoom.get_json(path, {"type": "past"}, what="dashboard")
    assert (len(first["participants"]), first["total_records"], first["page_size"]) == (1, 2, 1)
    assert first["next_page_token"]
    assert len(second["participants"]) == 1 and second["next_page_token"] == ""
    assert first["participants"][0] != second["participants"][0]
    assert (default["page_size"], len(default["participants"])) == (30, 2)
