"""The Responses API's hosted web search through the gateway: the openai SDK → the gateway (real
process) → the simulator's Responses API (`format: openai_responses`). The search call item, the
answer's `url_citation` annotations and the search's price reach the client, whole and streamed,
as the provider sent them; the simulator called directly is the reference."""

from __future__ import annotations

import math
from typing import Any, Iterator

import openai
import pytest

from tests.procs import DEMO_KEY, Proc, sim_reset, start_gateway
from tests.test_providers_e2e import config
from tests.test_responses_provider_e2e import MODEL, PRICE, UPSTREAM, stats, with_responses_provider

SEARCH = [{"type": "web_search"}]
ASK = "What did the harbour authority in Lisbon announce about ferry fares this week?"
SEARCH_PRICE = 10_000  # micro-dollars per call: the default web_search price of an openai_responses model


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = with_responses_provider(config(sim.port).replace("prefix: prov", "prefix: respsearch"), sim.port)
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


@pytest.fixture
def direct(sim: Proc) -> Iterator[openai.OpenAI]:
    """The openai SDK on the simulator itself: what the provider answers without the gateway."""
    with openai.OpenAI(base_url=f"{sim.url}/v1", api_key="sim-key", max_retries=0) as c:
        yield c


def notes(response: Any) -> list[dict[str, Any]]:
    message = next(item for item in response.output if item.type == "message")
    return [a.model_dump() for a in message.content[0].annotations]


def test_search_call_and_citations_reach_a_responses_client(client: openai.OpenAI, direct: openai.OpenAI,
                                                            sim: Proc) -> None:
    raw = client.responses.with_raw_response.create(model=MODEL, input=ASK, tools=SEARCH,
                                                    include=["web_search_call.action.sources"])
    got = raw.parse()
    want = direct.responses.create(model=UPSTREAM, input=ASK, tools=SEARCH, include=["web_search_call.action.sources"])
    assert [i.type for i in got.output] == [i.type for i in want.output] == ["web_search_call", "message"]
    call = got.output[0]
    assert call.status == "completed" and call.action.type == "search"
    assert call.action.query == want.output[0].action.query
    assert [s.url for s in call.action.sources] == ["https://example.com/a", "https://example.org/b"]
    assert got.output_text == want.output_text
    cited = notes(got)
    assert cited == notes(want) and cited[0]["type"] == "url_citation"
    assert got.output_text[cited[0]["start_index"]:cited[0]["end_index"]].endswith(".")
    # the search is billed on top of the tokens
    usage = got.usage
    tokens = ((usage.input_tokens - usage.input_tokens_details.cached_tokens) * PRICE[0]
              + usage.input_tokens_details.cached_tokens * PRICE[2] + usage.output_tokens * PRICE[1])
    expected = math.ceil(tokens / 1_000_000) + SEARCH_PRICE
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected / 1_000_000, abs=1e-9)


def test_streamed_search_sends_the_annotation_event_and_the_same_response(client: openai.OpenAI,
                                                                          direct: openai.OpenAI) -> None:
    whole = client.responses.create(model=MODEL, input=ASK, tools=SEARCH)
    events = list(client.responses.create(model=MODEL, input=ASK, tools=SEARCH, stream=True))
    kinds = [e.type for e in events]
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert len(added) == 1 and added[0].annotation.url == "https://example.com/a"
    assert added[0].annotation_index == 0 and added[0].content_index == 0
    message_index = next(e.output_index for e in events if e.type == "response.output_item.added"
                         and e.item.type == "message")
    assert added[0].output_index == message_index
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    done = next(e for e in events if e.type == "response.content_part.done")
    assert [a.model_dump() for a in done.part.annotations] == notes(whole)
    final = events[-1]
    assert final.type == "response.completed"
    assert [i.type for i in final.response.output] == ["web_search_call", "message"]
    assert final.response.output_text == whole.output_text and notes(final.response) == notes(whole)
    # the provider's own stream, for the order of its events
    own = [e.type for e in direct.responses.create(model=UPSTREAM, input=ASK, tools=SEARCH, stream=True)]
    assert own.index("response.web_search_call.completed") < own.index("response.output_text.annotation.added")


def test_a_conversation_sends_its_search_items_back(sim: Proc, gateway: Proc) -> None:
    """A stateless client sends the answer's output items (the search call, the cited message)
    back with its next turn: the gateway carries them to the provider, which accepts them."""
    sim_reset(sim)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        first = c.responses.create(model=MODEL, input=ASK, tools=SEARCH)
        follow = c.responses.create(model=MODEL, tools=SEARCH, input=[
            {"role": "user", "content": ASK}, *[i.model_dump(exclude_none=True) for i in first.output],
            {"role": "user", "content": "And what about the metro?"}])
    assert [i.type for i in follow.output] == ["web_search_call", "message"]
    assert notes(follow)[0]["url"] == "https://example.com/a"
    assert stats(sim)["by_format"] == {"openai_responses": 2}
