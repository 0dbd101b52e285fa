"""A Responses client's hosted `web_search` tool on Claude and Gemini: the openai SDK's
`client.responses.create(..., tools=[{"type": "web_search"}])` → the gateway (real process) → the
simulator's Anthropic Messages and Gemini APIs, each asked with its own search tool. The answer
shows the search as the Responses API does (a `web_search_call` item, its stream events in
order) with `url_citation` annotations slicing real text, the search's price is in the cost
header, and a model without web search is skipped by a route or refused by name."""

from __future__ import annotations

import math
from typing import Any, Iterator

import openai
import pytest

from tests.procs import Proc, start_gateway
from tests.test_chat_search_e2e import SEARCHING, search_config
from tests.test_responses_provider_e2e import MODEL as RESPONSES, stats

ASK = "What did the harbour authority in Lisbon announce about ferry fares this week?"
SEARCH = {"type": "web_search", "search_context_size": "low",
          "user_location": {"type": "approximate", "city": "Lisbon", "country": "PT"}}
PROVIDERS = ["claude-opus-4.7", "gemini-2.5-flash"]
PROGRESS = ["response.output_item.added", "response.web_search_call.in_progress",
            "response.web_search_call.searching", "response.web_search_call.completed", "response.output_item.done"]


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), search_config(sim.port, "respsearch2"), redis_url) as proc:
        yield proc


def cited(text: str, notes: list[Any]) -> list[tuple[str, str]]:
    """Each url_citation as (url, the text it spans), its indices checked against the text."""
    out = []
    for note in notes:
        assert note.type == "url_citation" and note.title
        assert 0 <= note.start_index < note.end_index <= len(text)
        out.append((note.url, text[note.start_index:note.end_index]))
    return out


def message_of(response: Any) -> Any:
    [message] = [item for item in response.output if item.type == "message"]
    return message.content[0]


def expected_cost(usage: Any, model: str) -> float:
    (pin, pout, pcached), search = SEARCHING[model]
    cached = usage.input_tokens_details.cached_tokens
    tokens = (usage.input_tokens - cached) * pin + cached * pcached + usage.output_tokens * pout
    return (math.ceil(tokens / 1_000_000) + search) / 1_000_000


@pytest.mark.parametrize("model", PROVIDERS)
def test_the_hosted_search_runs_on_claude_and_gemini(client: openai.OpenAI, sim: Proc, model: str) -> None:
    before = stats(sim)["by_format"]
    raw = client.responses.with_raw_response.create(model=model, input=ASK, tools=[SEARCH])
    done = raw.parse()
    assert [item.type for item in done.output] == ["web_search_call", "message"]
    call = done.output[0]
    assert call.status == "completed" and call.action.type == "search" and call.action.query
    part = message_of(done)
    notes = cited(part.text, part.annotations)
    assert notes and all(url.startswith("https://example.") and text.strip() for url, text in notes)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected_cost(done.usage, model), abs=1e-9)
    fmt = "anthropic" if model.startswith("claude") else "gemini"
    assert stats(sim)["by_format"][fmt] == before.get(fmt, 0) + 1
    # without the tool the same question is not searched, cited nor billed for a search
    plain = client.responses.create(model=model, input=ASK)
    assert [item.type for item in plain.output] == ["message"] and not message_of(plain).annotations


@pytest.mark.parametrize("model", PROVIDERS)
def test_a_streamed_search_sends_its_progress_events_in_order(client: openai.OpenAI, model: str) -> None:
    whole = client.responses.create(model=model, input=ASK, tools=[SEARCH])
    events = list(client.responses.create(model=model, input=ASK, tools=[SEARCH], stream=True))
    final = events[-1]
    assert final.type == "response.completed"
    output = final.response.output
    kinds = sorted(item.type for item in output)
    assert kinds == ["message", "web_search_call"]
    search = next(item for item in output if item.type == "web_search_call")
    assert search.status == "completed" and search.action.query == whole.output[0].action.query
    index = output.index(search)
    progress = [e for e in events if getattr(e, "output_index", None) == index]
    assert [e.type for e in progress] == PROGRESS
    assert progress[0].item.status == "in_progress" and progress[-1].item.status == "completed"
    assert all(getattr(e, "item_id", search.id) == search.id for e in progress)
    # Claude searches before it writes; Gemini tells its searches with the grounding, after the text
    assert index == (0 if model.startswith("claude") else 1)
    part = message_of(final.response)
    assert part.text == message_of(whole).text
    assert [n.model_dump() for n in part.annotations] == [n.model_dump() for n in message_of(whole).annotations]
    added = [e.annotation for e in events if e.type == "response.output_text.annotation.added"]
    assert [n.model_dump() for n in added] == [n.model_dump() for n in part.annotations] and added


def test_a_tool_choice_naming_the_search_is_served_or_refused(client: openai.OpenAI) -> None:
    done = client.responses.create(model="claude-opus-4.7", input=ASK, tools=[{"type": "web_search_preview"}],
                                   tool_choice={"type": "web_search_preview"})
    assert [item.type for item in done.output] == ["web_search_call", "message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="claude-opus-4.7", input=ASK, tool_choice={"type": "web_search_preview"},
                                tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}])
    assert info.value.body["param"] == "tool_choice"


def test_a_model_without_web_search_is_skipped_or_refused(client: openai.OpenAI, sim: Proc) -> None:
    before = stats(sim)["by_format"]
    raw = client.responses.with_raw_response.create(model="search", input=ASK, tools=[SEARCH])
    assert raw.headers["x-gateway-model"] == "gemini-2.5-flash"  # the route's Bedrock link is skipped
    assert [item.type for item in raw.parse().output] == ["web_search_call", "message"]
    assert stats(sim)["by_format"].get("bedrock", 0) == before.get("bedrock", 0)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="bedrock-nova", input=ASK, tools=[SEARCH])
    assert info.value.code == "unsupported_capability" and "web search" in info.value.message


def test_a_domain_filter_stays_on_the_responses_api(client: openai.OpenAI, sim: Proc) -> None:
    """Only the Responses API can keep a search to some domains: there it is served with the client's
    own tool; a model of another format is a 400 naming the filter, not a search of the whole web."""
    tool = {**SEARCH, "filters": {"allowed_domains": ["example.com"]}}
    done = client.responses.create(model=RESPONSES, input=ASK, tools=[tool])
    assert [item.type for item in done.output] == ["web_search_call", "message"]
    before = stats(sim)["by_format"]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="claude-opus-4.7", input=ASK, tools=[tool])
    assert info.value.body["param"] == "tools[0].filters.allowed_domains"
    assert stats(sim)["by_format"] == before
