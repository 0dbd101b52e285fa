"""OpenAI chat's `web_search_options` on every provider: the openai SDK → the gateway (real process)
→ the simulator's Anthropic Messages, Gemini and Responses APIs, each asked with its own search
tool. The answer's `url_citation` annotations slice real text, the search's price is in the cost
header, streamed chunks carry the same annotations, and `auto` never lands a search on Bedrock."""

from __future__ import annotations

import math
from typing import Any, Iterator

import openai
import pytest

from tests.procs import Proc, start_gateway
from tests.test_providers_e2e import PRICES, config
from tests.test_responses_provider_e2e import MODEL as RESPONSES, PRICE as RESPONSES_PRICE, stats, with_responses_provider

ASK = [{"role": "user", "content": "What did the harbour authority in Lisbon announce about ferry fares this week?"}]
OPTIONS = {"search_context_size": "low", "user_location": {"type": "approximate", "approximate": {
    "city": "Lisbon", "country": "PT", "timezone": "Europe/Lisbon"}}}
# model: (its prices in micro-dollars per million: input, output, cached input; one search's
# micro-dollars: Claude and Responses $10 per 1,000 calls, Gemini 2.x $35 per 1,000 grounded prompts)
SEARCHING = {
    "claude-opus-4.7": (PRICES["claude-opus-4.7"], 10_000),
    "gemini-2.5-flash": (PRICES["gemini-2.5-flash"], 35_000),
    RESPONSES: (RESPONSES_PRICE, 10_000),
}


def search_config(port: int, prefix: str) -> str:
    """Every provider format with a Responses provider, and a `search` route whose first model
    (Bedrock) cannot search; state under `prefix`."""
    text = with_responses_provider(config(port).replace("prefix: prov", f"prefix: {prefix}"), port)
    return text.replace("  claude-first:", "  search: {primary: bedrock-haiku, fallbacks: [gemini-2.5-flash]}\n"
                                           "  claude-first:")


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), search_config(sim.port, "chatsearch"), redis_url) as proc:
        yield proc


def spans(content: str, annotations: list[Any]) -> list[tuple[str, str]]:
    """Each url_citation as (url, the text it spans), its indices checked against the content."""
    out = []
    for note in annotations:
        assert note.type == "url_citation"
        cite = note.url_citation
        assert 0 <= cite.start_index < cite.end_index <= len(content) and cite.title
        out.append((cite.url, content[cite.start_index:cite.end_index]))
    return out


def expected_cost(usage: Any, price: tuple[int, int, int], search: int) -> float:
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    tokens = (usage.prompt_tokens - cached) * price[0] + cached * price[2] + usage.completion_tokens * price[1]
    return (math.ceil(tokens / 1_000_000) + search) / 1_000_000


@pytest.mark.parametrize("model", list(SEARCHING))
def test_a_chat_search_is_cited_and_billed_on_every_provider(client: openai.OpenAI, model: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=ASK, web_search_options=OPTIONS)
    done = raw.parse()
    message = done.choices[0].message
    cited = spans(message.content, message.annotations)
    assert cited and all(url.startswith("https://example.") and text.strip() for url, text in cited)
    assert all(text in message.content for _, text in cited)
    price, search = SEARCHING[model]
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected_cost(done.usage, price, search),
                                                                     abs=1e-9)
    # without the options the same question is not searched, cited nor billed for a search
    plain = client.chat.completions.with_raw_response.create(model=model, messages=ASK)
    answer = plain.parse()
    assert not answer.choices[0].message.annotations
    assert float(plain.headers["x-gateway-cost-usd"]) == pytest.approx(expected_cost(answer.usage, price, 0),
                                                                       abs=1e-9)


@pytest.mark.parametrize("model", list(SEARCHING))
def test_streamed_chunks_carry_the_same_annotations(client: openai.OpenAI, model: str) -> None:
    whole = client.chat.completions.create(model=model, messages=ASK, web_search_options=OPTIONS).choices[0].message
    content, notes = "", []
    for chunk in client.chat.completions.create(model=model, messages=ASK, web_search_options=OPTIONS, stream=True,
                                                stream_options={"include_usage": True}):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            notes.extend((choice.delta.model_extra or {}).get("annotations") or ())
    assert content == whole.content
    # streamed, each entry carries its place in the whole list (`index`, for the SDK's stream helper)
    assert [n.pop("index") for n in notes] == list(range(len(whole.annotations)))
    assert notes == [n.model_dump() for n in whole.annotations]


def test_search_combines_with_function_tools(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    for model in SEARCHING:
        done = client.chat.completions.create(model=model, messages=ASK, tools=tools, web_search_options={})
        message = done.choices[0].message
        assert message.tool_calls or spans(message.content, message.annotations), model


def test_a_route_skips_bedrock_for_a_search(client: openai.OpenAI, sim: Proc) -> None:
    """Bedrock offers no web search: the route's Bedrock link is skipped (said in the log line),
    and asking Bedrock by name is a 400 saying why, rather than an answer that did not search."""
    before = stats(sim)["by_format"]
    raw = client.chat.completions.with_raw_response.create(model="search", messages=ASK, web_search_options={})
    assert raw.headers["x-gateway-model"] == "gemini-2.5-flash"
    assert raw.parse().choices[0].message.annotations
    after = stats(sim)["by_format"]
    assert after.get("bedrock", 0) == before.get("bedrock", 0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="bedrock-nova", messages=ASK, web_search_options={})
    assert info.value.code == "unsupported_capability" and "Bedrock Converse" in info.value.message
    # a request that does not search still takes the route's first link
    assert client.chat.completions.with_raw_response.create(
        model="search", messages=ASK).headers["x-gateway-model"] == "bedrock-haiku"
    assert stats(sim)["by_format"]["bedrock"] == after.get("bedrock", 0) + 1


@pytest.mark.parametrize("model", ["claude-opus-4.7", "gemini-2.5-flash"])
@pytest.mark.parametrize("then", ["gpt-5.4-mini", "azure-gpt-5.4"])
def test_the_answer_sent_back_goes_on_to_an_openai_format_model(client: openai.OpenAI, model: str, then: str) -> None:
    """A client appends the answer as it came (the SDK's message, with the gateway's own
    `reasoning_items` of the search) and the conversation moves to GPT: OpenAI refuses a message
    field it does not know (the simulator too), so the gateway leaves its own fields out."""
    first = client.chat.completions.create(model=model, messages=ASK, web_search_options=OPTIONS).choices[0].message
    sent_back = first.model_dump(exclude_none=True)
    assert sent_back.get("reasoning_items"), "the search's items: what this test sends back"
    follow = [*ASK, sent_back, {"role": "user", "content": "And how much is a ticket now?"}]
    answer = client.chat.completions.create(model=then, messages=follow)
    assert answer.model == then.removeprefix("azure-") and answer.choices[0].message.content
    # Claude's thinking, as a chat client gets it back (`reasoning_content` with its signed block)
    thought = {**sent_back, "reasoning_content": "The ferry operator's notice is the source.",
               "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "c2ln"}]}
    answer = client.chat.completions.create(model=then, messages=[*ASK, thought, follow[-1]])
    assert answer.choices[0].message.content


@pytest.mark.parametrize("model", list(SEARCHING))
def test_the_sdks_stream_helper_assembles_the_lists(client: openai.OpenAI, model: str) -> None:
    """`client.chat.completions.stream(...)` merges a list sent over several chunks by its
    entries' `index` (and raises without one): its final message has the whole answer's
    annotations and search items, and sent back as it came it is read without the numbers."""
    whole = client.chat.completions.create(model=model, messages=ASK, web_search_options=OPTIONS).choices[0].message
    with client.chat.completions.stream(model=model, messages=ASK, web_search_options=OPTIONS) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion().choices[0].message
    assert final.content == whole.content
    numbered = final.model_dump(exclude_none=True)
    assert [{k: v for k, v in a.items() if k != "index"} for a in numbered["annotations"]] == \
        whole.model_dump(exclude_none=True)["annotations"]
    assert [a["index"] for a in numbered["annotations"]] == list(range(len(whole.annotations)))
    follow = [*ASK, numbered, {"role": "user", "content": "And how much is a ticket now?"}]
    assert client.chat.completions.create(model=model, messages=follow).choices[0].message.content
