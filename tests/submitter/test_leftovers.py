"""What the submitter deletes of a meeting's objects once a new plan is submitted: pure name matching."""

from __future__ import annotations

from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter.generations import newer_generation
from zoomsymbl_submitter.parts import leftovers

from tests.submitter.support import audio_mixed

PREFIX = "mixed/acme/YWJj."
MONO = "mono-0123456789ab"


def test_only_the_submitters_own_objects_outside_the_current_plan_are_leftovers() -> None:
    keys = [
        f"{PREFIX}flac",  # the mixer's mixed file
        f"{PREFIX}opus",  # a mixed file of another format (the mixer's to judge)
        f"{PREFIX}part1.flac",
        f"{PREFIX}part2.flac",
        f"{PREFIX}part3.flac",
        f"{PREFIX}part12.opus",
        f"{PREFIX}{MONO}.flac",
        f"{PREFIX}{MONO}.part2.flac",
        f"{PREFIX}mono-fedcba987654.flac",
        "mixed/acme/YWJjZA.part1.flac",  # another meeting, whose key starts the same
        f"{PREFIX}part0.flac",  # no part the submitter names
        f"{PREFIX}x.part1.flac",
        f"{PREFIX}mono-XYZ.flac",
        f"{PREFIX}part1.flac/evil",
    ]
    keep = {f"{PREFIX}flac", f"{PREFIX}part1.flac", f"{PREFIX}part2.flac", f"{PREFIX}mono-fedcba987654.flac"}
    assert leftovers(PREFIX, keys, keep) == [
        f"{PREFIX}{MONO}.flac",
        f"{PREFIX}{MONO}.part2.flac",
        f"{PREFIX}part12.opus",
        f"{PREFIX}part3.flac",
    ]


def test_an_event_is_superseded_only_by_a_later_generation_of_a_stored_meeting() -> None:
    event = audio_mixed(1, InfraSettings(), "mixed/acme/x.flac", 1000, generation=2)
    assert newer_generation(3, event) == 3
    assert newer_generation(2, event) is None
    assert newer_generation(1, event) is None  # a meeting behind its event is not a reason to skip it
    assert newer_generation(None, event) is None
