"""A server whose context window is smaller than the tenant's ``llm_context_tokens`` (Ollama's default 4K to 256K
by the GPU's memory) cuts a long prompt without an error and answers about what is left. The engine sees the cut in
``usage.prompt_tokens`` and reports the sections unavailable, saying why, rather than insights from a fragment."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import SECTIONS, EngineConfig, InsightsEngine, People, estimate_tokens
from zoomsymbl_common.providers.base import TranscriptMessage
from zoomsymbl_common.providers.llm_answer import PROMPT_CHECKED_FROM, PromptCutOff, check_prompt_read
from zoomsymbl_sandbox.llm import LLM_STATE

from tests.support.providers import ProviderSandboxes

KEY = "context-key"
PEOPLE = People({"Elisa L": "elisa@example.com", "Bob K": "bob@example.com"}, 7200.0)
# ~19,000 estimated tokens: one window under a 32K budget, five times a 4K server context.
LONG = tuple(
    TranscriptMessage(
        "Elisa L" if i % 2 else "Bob K",
        f"Item {i}: can we ship the release candidate to the pilot customers before the review on Friday?"
        " I think the migration notes still need a careful pass from the platform team first.",
        10.0 * i,
        10.0 * i + 8,
    )
    for i in range(360)
)


async def no_sleep(_: float) -> None:
    return None


def engine(session: aiohttp.ClientSession, base_url: str) -> InsightsEngine:
    config = EngineConfig(
        base_url=base_url,
        model="sandbox-model",
        api_key=SecretStr(KEY),
        backoff_seconds=0.0,
        context_tokens=32_000,
        max_output_tokens=1_000,
    )
    return InsightsEngine(session, config, sleep=no_sleep)


async def test_a_prompt_the_server_cut_to_its_context_is_reported_unavailable_not_read(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await sandboxes.llm(api_key=KEY, context_tokens=4_096, truncates_to_context=True)
    result = await engine(session, str(server.make_url("/v1"))).derive(LONG, PEOPLE)

    state = server.app[LLM_STATE]
    assert state.truncated == 1 and state.answered == 1, "the server cut the prompt and answered about the rest"
    assert state.calls == 1, "a cut prompt is cut again: not asked twice"
    assert result.questions == () and result.action_items == () and result.summary_topics == ()
    assert set(result.unavailable) == {*SECTIONS, "summary", "topics"}
    assert "context window is smaller than llm_context_tokens" in result.unavailable["questions"]


async def test_a_prompt_read_whole_gives_every_section(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    # The same transcript where the server's window holds it: no false alarm from the estimate counting high.
    server = await sandboxes.llm(api_key=KEY, context_tokens=64_000, truncates_to_context=True)
    result = await engine(session, str(server.make_url("/v1"))).derive(LONG, PEOPLE)
    assert server.app[LLM_STATE].truncated == 0
    assert result.unavailable == {}
    assert len(result.questions) > 0


def usage(**counts: Any) -> dict[str, Any]:
    return {"choices": [], "usage": counts}


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        (usage(prompt_tokens=4_096), 19_000),
        (usage(prompt_tokens=0), 2_000),
        (usage(prompt_tokens=999), 2_000),
    ],
)
def test_a_count_far_below_what_was_sent_is_a_cut(answer: dict[str, Any], sent: int) -> None:
    with pytest.raises(PromptCutOff, match=f"of about {sent} prompt tokens"):
        check_prompt_read(answer, sent)


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        (usage(prompt_tokens=1_000), 2_000),  # half: tokenizers read English at ~4 characters, the estimate at 3.5
        (usage(prompt_tokens=16_600), 19_000),
        (usage(prompt_tokens=10), PROMPT_CHECKED_FROM - 1),  # too short to tell
        (usage(prompt_tokens=True), 19_000),
        (usage(prompt_tokens="4096"), 19_000),
        (usage(prompt_tokens=-1), 19_000),
        (usage(input_tokens=10), 19_000),  # the Gateway's count: prompt caching lowers it
        ({"choices": []}, 19_000),
        ({"choices": [], "usage": [4096]}, 19_000),
    ],
    ids=["half", "English read whole", "short", "bool", "string", "negative", "gateway", "none", "not an object"],
)
def test_no_evidence_or_a_whole_read_is_no_cut(answer: dict[str, Any], sent: int) -> None:
    check_prompt_read(answer, sent)


def test_the_estimate_counts_cjk_high_enough_that_a_whole_read_is_never_a_cut() -> None:
    # Real tokenizers read Chinese and Japanese at 1 to 1.5 characters a token: more than half the estimate.
    text = "我们能在周五之前把候选版本发给试点客户吗？迁移说明还需要平台团队仔细检查一遍。" * 100
    whole_read = int(len(text) / 1.5)
    check_prompt_read(usage(prompt_tokens=whole_read), estimate_tokens(text))
