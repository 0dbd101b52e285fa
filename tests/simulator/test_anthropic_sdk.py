"""The simulator's Anthropic Messages format, driven by the official anthropic SDK."""

from __future__ import annotations

import json
from typing import Any as SimServer  # the `sim` fixture (conftest.SimServer)

import anthropic
import pytest

SYSTEM = "Be brief."
MSGS = [{"role": "user", "content": "Tell me about rivers and oceans."}]
PROMPT_TOKENS = (len(SYSTEM) + len(MSGS[0]["content"]) + 3) // 4 + 3 * 2 + 3  # text + framing
MODEL = "claude-haiku-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"],
    },
}


@pytest.fixture
def client(sim: SimServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=sim.url, max_retries=0)


def test_create_usage_and_determinism(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=100, system=SYSTEM, messages=MSGS)
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    text = msg.content[0].text
    assert msg.content[0].type == "text" and len(text.split()) == 16
    assert msg.usage.output_tokens == 16 and msg.usage.input_tokens == PROMPT_TOKENS
    assert msg.usage.cache_read_input_tokens == 0 and msg.usage.cache_creation_input_tokens == 0
    # system as a list of text blocks is the same prompt
    blocks = client.messages.create(model=MODEL, max_tokens=100, system=[{"type": "text", "text": SYSTEM}], messages=MSGS)
    assert blocks.content[0].text == text


def test_stream_events_and_final_message(client: anthropic.Anthropic, sim: SimServer) -> None:
    full = client.messages.create(model=MODEL, max_tokens=100, system=SYSTEM, messages=MSGS)
    events = list(client.messages.create(model=MODEL, max_tokens=100, system=SYSTEM, messages=MSGS, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]  # the SDK swallows `ping`
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") >= 4
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == full.content[0].text
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == 16
    raw = sim.http.post(
        "/v1/messages",
        json={"model": MODEL, "max_tokens": 100, "system": SYSTEM, "messages": MSGS, "stream": True},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    ).text
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-1] == "message_stop"
    with client.messages.stream(model=MODEL, max_tokens=100, system=SYSTEM, messages=MSGS) as stream:
        assert "".join(stream.text_stream) == text
        final = stream.get_final_message()
    assert final.content[0].text == text and final.usage.output_tokens == 16
    assert final.usage.input_tokens == PROMPT_TOKENS


def test_max_tokens_and_stop_sequences(client: anthropic.Anthropic) -> None:
    short = client.messages.create(model=MODEL, max_tokens=4, messages=MSGS)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 4
    assert len(short.content[0].text.split()) == 4
    full = client.messages.create(model=MODEL, max_tokens=100, messages=MSGS).content[0].text
    word = full.split()[3]
    cut = client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, stop_sequences=[word])
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == word
    assert cut.content[0].text == full[: full.index(word)]


def test_tool_use_and_streamed_input_json(client: anthropic.Anthropic) -> None:
    msgs = [{"role": "user", "content": "Weather in Oslo?"}]
    msg = client.messages.create(model=MODEL, max_tokens=200, messages=msgs, tools=[WEATHER], tool_choice={"type": "any"})
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "get_weather" and block.id.startswith("toolu_")
    assert set(block.input) == {"city", "days"} and 1 <= block.input["days"] <= 7

    events = list(client.messages.create(model=MODEL, max_tokens=200, messages=msgs, tools=[WEATHER], stream=True))
    start = next(e for e in events if e.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.id == block.id
    partial = "".join(e.delta.partial_json for e in events if e.type == "content_block_delta")
    assert json.loads(partial) == block.input
    with client.messages.stream(model=MODEL, max_tokens=200, messages=msgs, tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == block.input and final.stop_reason == "tool_use"

    follow = msgs + [
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    answer = client.messages.create(model=MODEL, max_tokens=200, messages=follow, tools=[WEATHER])
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"


def test_errors(client: anthropic.Anthropic, sim: SimServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=10, messages=MSGS, extra_body={"max_tokens": None})
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model=MODEL, max_tokens=10, messages=MSGS, extra_headers={"x-api-key": "", "authorization": "Basic eDp5"})
    sim.knobs(MODEL, fail_status=529)
    with pytest.raises(anthropic.InternalServerError) as over:
        client.messages.create(model=MODEL, max_tokens=10, messages=MSGS)
    assert over.value.status_code == 529 and over.value.body["error"]["type"] == "overloaded_error"
    sim.knobs(MODEL, fail_status=429, retry_after_s=3)
    with pytest.raises(anthropic.RateLimitError) as rate:
        client.messages.create(model=MODEL, max_tokens=10, messages=MSGS)
    assert rate.value.response.headers["retry-after"] == "3"
    sim.knobs(MODEL, fail_status=None, outages=[[0, 3600]])
    with pytest.raises(anthropic.InternalServerError) as down:
        client.messages.create(model=MODEL, max_tokens=10, messages=MSGS)
    assert down.value.status_code == 503
    stats = sim.stats()
    assert stats["calls"][MODEL] == 5 and stats["by_format"] == {"anthropic": 5}


def test_stream_cut(client: anthropic.Anthropic, sim: SimServer) -> None:
    sim.knobs(MODEL, stream_cut_after=4)
    events = list(client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start", "content_block_delta"]  # + a swallowed ping
    sim.knobs(MODEL, stream_cut_after=None, garbage_stream=True)
    with pytest.raises(Exception):
        list(client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, stream=True))


def test_cache_ratio_is_excluded_from_input_tokens(client: anthropic.Anthropic, sim: SimServer) -> None:
    sim.knobs(MODEL, cache_ratio=0.5)
    msg = client.messages.create(model=MODEL, max_tokens=100, system=SYSTEM, messages=MSGS)
    cached = PROMPT_TOKENS // 2
    assert msg.usage.cache_read_input_tokens == cached
    assert msg.usage.input_tokens == PROMPT_TOKENS - cached


def test_thinking_block_ahead_of_the_answer_plain_and_streamed(client: anthropic.Anthropic, sim: SimServer) -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    plain = client.messages.create(model=MODEL, max_tokens=4000, messages=MSGS, thinking=thinking)
    assert [b.type for b in plain.content] == ["thinking", "text"]
    thought = plain.content[0]
    assert len(thought.thinking.split()) == 12 and thought.signature
    assert plain.usage.output_tokens == 16 + 12  # the thinking tokens count as output
    with client.messages.stream(model=MODEL, max_tokens=4000, messages=MSGS, thinking=thinking) as stream:
        final = stream.get_final_message()
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in plain.content]
    sim.knobs(MODEL, reasoning_tokens=30)
    more = client.messages.create(model=MODEL, max_tokens=4000, messages=MSGS, thinking=thinking)
    assert len(more.content[0].thinking.split()) == 30 and more.usage.output_tokens == 16 + 30


@pytest.mark.parametrize(("fields", "says"), [
    ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "greater than or equal to 1024"),
    ({"thinking": {"type": "enabled", "budget_tokens": 4000}}, "max_tokens"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "temperature": 0.5}, "temperature"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5}, "top_k"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [WEATHER],
      "tool_choice": {"type": "tool", "name": "get_weather"}}, "tool_choice"),
])
def test_thinking_refused_as_the_api_refuses_it(client: anthropic.Anthropic, fields: dict, says: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=4000, messages=MSGS, extra_body=fields)
    assert says in bad.value.body["error"]["message"]


def test_forced_tool_input_follows_the_schema(client: anthropic.Anthropic) -> None:
    """What the gateway's JSON mode on Anthropic relies on: a forced tool is called, input shaped by its schema."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}}}
    msg = client.messages.create(model=MODEL, max_tokens=200, messages=MSGS, tool_choice={"type": "tool", "name": "answer"},
                                 tools=[{"name": "answer", "input_schema": schema}])
    assert msg.stop_reason == "tool_use" and [b.type for b in msg.content] == ["tool_use"]
    assert set(msg.content[0].input) == {"city", "temp"} and isinstance(msg.content[0].input["temp"], int)


def test_a_tool_turn_with_thinking_on_needs_its_signed_thinking_block(client: anthropic.Anthropic,
                                                                       sim: SimServer) -> None:
    sim.knobs(MODEL, tool_call="get_weather")
    thinking = {"type": "enabled", "budget_tokens": 2048}
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {
        "city": {"type": "string"}}}}]
    ask = [{"role": "user", "content": "Weather in Oslo?"}]
    first = client.messages.create(model=MODEL, max_tokens=4000, messages=ask, thinking=thinking, tools=tools)
    use = next(b for b in first.content if b.type == "tool_use")
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "4 C"}]}
    whole = [b.model_dump(exclude_none=True) for b in first.content]
    assert whole[0]["type"] == "thinking"
    assert client.messages.create(model=MODEL, max_tokens=4000, thinking=thinking, tools=tools,
                                  messages=[*ask, {"role": "assistant", "content": whole}, result]).content
    forged = [{**whole[0], "signature": "0" * 64}, *whole[1:]]
    for content, says in ((whole[1:], "must start with a thinking block"), (forged, "Invalid `signature`")):
        with pytest.raises(anthropic.BadRequestError, match=says):
            client.messages.create(model=MODEL, max_tokens=4000, thinking=thinking, tools=tools,
                                   messages=[*ask, {"role": "assistant", "content": content}, result])


SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


def test_web_search_blocks_citations_and_usage_plain_and_streamed(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, tools=[SEARCH])
    call, found, text = msg.content
    assert isinstance(call, anthropic.types.ServerToolUseBlock) and call.name == "web_search"
    assert call.id.startswith("srvtoolu_") and call.input == {"query": MSGS[0]["content"]}
    assert isinstance(found, anthropic.types.WebSearchToolResultBlock) and found.tool_use_id == call.id
    assert [r.url for r in found.content] == ["https://example.com/a", "https://example.org/b"]
    cited = text.citations[0]
    assert isinstance(cited, anthropic.types.CitationsWebSearchResultLocation) and cited.url == found.content[0].url
    assert msg.usage.server_tool_use.web_search_requests == 1 and msg.usage.input_tokens > PROMPT_TOKENS
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MSGS, tools=[SEARCH]) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert ("content_block_delta", "citations_delta") in kinds
    assert final.model_dump() == {**msg.model_dump(), "id": final.id}  # the same answer, reassembled
    # a custom tool answers instead: no search; max_uses 0: none either
    tools = client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, tools=[SEARCH, WEATHER])
    assert [b.type for b in tools.content] == ["tool_use"] and tools.content[0].name == "get_weather"
    off = client.messages.create(model=MODEL, max_tokens=100, messages=MSGS, tools=[{**SEARCH, "max_uses": 0}])
    assert [b.type for b in off.content] == ["text"] and off.usage.server_tool_use is None
