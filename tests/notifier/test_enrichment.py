"""Names instead of channels, and the engine's sections joined to the provider's."""

from __future__ import annotations

from zoomsymbl_common.insights_engine import EngineResult
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_notifier.enrichment import combine, enrich, name_speakers, people
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker

FACTS = MeetingFacts(
    speakers=(Speaker(1, "Elisa L", 4.0, "elisa@example.com"), Speaker(2, "Others", 2.0), Speaker(3, "", None)),
    duration_seconds=60.0,
)
RAW = Insights(
    messages=(
        TranscriptMessage("Channel 1", "Hello.", 0.5, 1.0, channel=1),
        TranscriptMessage("Channel 2", "Hi.", 2.0, 3.0, channel=2),
        TranscriptMessage("Channel 3", "Hm.", 4.0, 5.0, channel=3),
        TranscriptMessage("Speaker B", "Diarized.", 6.0, 7.0),
    ),
    action_items=(InsightItem("Provider item", assignee="Elisa L"),),
    unavailable={"summary": "assemblyai summarization is 'error'"},
)


def test_channels_become_the_participants_names_and_e_mails() -> None:
    named = name_speakers(RAW, FACTS)
    assert [(m.speaker, m.email) for m in named.messages] == [
        ("Elisa L", "elisa@example.com"),
        ("Others", None),
        ("Channel 3", None),  # a channel the map does not name keeps the provider's label
        ("Speaker B", None),
    ]


async def test_without_an_engine_the_providers_items_get_their_owners_address() -> None:
    enriched = await enrich(RAW, FACTS, None)
    assert enriched.action_items[0].assignee_email == "elisa@example.com"
    assert enriched.messages[0].speaker == "Elisa L"


def test_engine_sections_win_the_provider_keeps_what_the_engine_lacks_and_failures_are_reported() -> None:
    derived = EngineResult(
        questions=(InsightItem("Q?", speaker="Elisa L"),),
        unavailable={k: "insights engine failed" for k in ("questions", "action_items", "follow_ups", "decisions")},
    )
    combined = combine(RAW, derived, people(FACTS))
    assert [q.text for q in combined.questions] == ["Q?"]
    assert [a.text for a in combined.action_items] == ["Provider item"]
    assert combined.unavailable == {
        "summary": "assemblyai summarization is 'error'",
        "follow_ups": "insights engine failed",
        "decisions": "insights engine failed",
    }
