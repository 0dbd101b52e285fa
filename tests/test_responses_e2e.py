"""The Responses API and legacy completions end to end: the official `openai` SDK → the gateway
(real process, real engine, response storage on) → the simulator in each provider's format."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Iterator

import openai
import pytest

from tests.procs import Proc, sim_set, start_gateway
from tests.test_providers_e2e import PRICES, PROVIDERS, config

OTHER_KEY = "sk-gateway-other"
TOOLS = [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
          "required": ["city", "temp"], "additionalProperties": False}
ASK = "Tell me something nice about the sea."


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    other = hashlib.sha256(OTHER_KEY.encode()).hexdigest()
    text = (config(sim.port).replace("prefix: prov", "prefix: resp")
            + f"  - {{name: other, sha256: {other}}}\nresponses: {{enabled: true, ttl_s: 600}}\n")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url, workers=2) as proc:
        yield proc


def cost(model: str, prompt: int, cached: int, completion: int) -> float:
    pin, pout, pcached = PRICES[model]
    return math.ceil(((prompt - cached) * pin + cached * pcached + completion * pout) / 1_000_000) / 1_000_000


@pytest.mark.parametrize("model", PROVIDERS)
def test_response_plain_with_usage_cost_and_headers(client: openai.OpenAI, model: str) -> None:
    raw = client.responses.with_raw_response.create(model=model, input=ASK, instructions="Be terse.",
                                                    max_output_tokens=200, store=False)
    resp = raw.parse()
    assert resp.object == "response" and resp.status == "completed" and resp.id.startswith("resp_")
    assert resp.output[0].type == "message" and resp.output_text
    assert resp.instructions == "Be terse." and resp.max_output_tokens == 200 and resp.store is False
    usage = resp.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert raw.headers["x-gateway-provider"] == PROVIDERS[model][0]
    assert raw.headers["x-gateway-task"] and raw.headers["x-gateway-model"] == model
    expected = cost(model, usage.input_tokens, usage.input_tokens_details.cached_tokens, usage.output_tokens)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("model", PROVIDERS)
def test_response_streamed_equals_the_plain_answer(client: openai.OpenAI, model: str) -> None:
    plain = client.responses.create(model=model, input=ASK)
    events = list(client.responses.create(model=model, input=ASK, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == plain.output_text
    final = events[-1].response
    assert final.output_text == plain.output_text and final.status == "completed"
    assert final.usage.output_tokens == plain.usage.output_tokens
    with client.responses.stream(model=model, input=ASK) as stream:  # the SDK's own accumulator
        assert stream.get_final_response().output_text == plain.output_text


@pytest.mark.parametrize("model", PROVIDERS)
def test_a_paced_stream_is_relayed_event_by_event(client: openai.OpenAI, sim: Proc, model: str) -> None:
    """A stream that arrives over time goes through the relay (a burst is answered in one piece)."""
    plain = client.responses.create(model=model, input=ASK)
    sim_set(sim, PROVIDERS[model][1], tokens_per_s=400)
    raw = client.responses.with_raw_response.create(model=model, input=ASK, stream=True)
    assert "content-length" not in raw.headers
    events = list(raw.parse())
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events].count("response.created") == 1 and events[0].type == "response.created"
    assert events[-1].type == "response.completed" and events[-1].response.output_text == plain.output_text


@pytest.mark.parametrize("model", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip(client: openai.OpenAI, model: str, stream: bool) -> None:
    ask = [{"role": "user", "content": "What is the weather in Lisbon? Use get_weather."}]
    if stream:
        events = list(client.responses.create(model=model, input=ask, tools=TOOLS, tool_choice="required",
                                              stream=True))
        assert "response.function_call_arguments.delta" in [e.type for e in events]
        first = events[-1].response
    else:
        first = client.responses.create(model=model, input=ask, tools=TOOLS, tool_choice="required")
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and isinstance(json.loads(call.arguments)["city"], str) and call.call_id
    # stateless: the whole conversation goes back, the call and its output as items
    answer = client.responses.create(model=model, tools=TOOLS, store=False, input=[
        *ask, {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}])
    assert answer.output_text and answer.output[0].type == "message"
    # stored: only the output, after the response that asked for it
    follow = client.responses.create(model=model, tools=TOOLS, previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}])
    assert follow.output_text == answer.output_text  # the same conversation reached the model


@pytest.mark.parametrize("model", PROVIDERS)
def test_previous_response_id_continues_the_conversation(client: openai.OpenAI, gateway: Proc, model: str) -> None:
    first = client.responses.create(model=model, input="My name is Ada.", instructions="Be terse.")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text
    # the stored turn (question and answer) is part of the prompt now
    alone = client.responses.create(model=model, input="What is my name?", store=False)
    assert second.usage.input_tokens > alone.usage.input_tokens + first.usage.output_tokens
    third = client.responses.create(model=model, input="And again?", previous_response_id=second.id, stream=True)
    assert list(third)[-1].response.usage.input_tokens > second.usage.input_tokens
    # another key cannot read this key's responses; an unknown id is the same 404
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=OTHER_KEY, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as info:
            other.responses.create(model=model, input="Hi", previous_response_id=first.id)
    assert info.value.body["code"] == "previous_response_not_found"
    assert info.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=model, input="Hi", previous_response_id="resp_" + "0" * 24)


def test_a_response_stored_false_cannot_be_continued(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-5.4-mini", input="Hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-5.4-mini", input="Again", previous_response_id=first.id)


def test_a_stored_response_is_not_retrieved_but_the_404_says_what_storage_is_for(client: openai.OpenAI) -> None:
    """Storage keeps turns for `previous_response_id` only: `responses.retrieve` (and delete) of
    a stored id is a 404 that says so, not "Unknown path"."""
    first = client.responses.create(model="gpt-5.4-mini", input="Hi")
    for send in (client.responses.retrieve, client.responses.delete):
        with pytest.raises(openai.NotFoundError) as info:
            send(first.id)
        assert info.value.body["code"] == "unsupported_endpoint"
        assert "only for 'previous_response_id'" in info.value.body["message"]


@pytest.mark.parametrize("model", PROVIDERS)
def test_json_schema_output(client: openai.OpenAI, model: str) -> None:
    """On Anthropic by a forced tool, answered as output text (JSON), streamed too."""
    fmt = {"format": {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}}
    resp = client.responses.create(model=model, input="The weather in Paris, as JSON.", text=fmt)
    data = json.loads(resp.output_text)
    assert set(data) == {"city", "temp"} and isinstance(data["temp"], int)
    assert resp.text.format.type == "json_schema"
    assert [item.type for item in resp.output] == ["message"] and resp.status == "completed"
    events = list(client.responses.create(model=model, input="The weather in Paris, as JSON.", text=fmt, stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert set(json.loads(text)) == {"city", "temp"}
    assert not any(e.type == "response.function_call_arguments.delta" for e in events)


def test_reasoning_effort_and_reasoning_tokens(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "gpt-5.4-mini", reasoning_tokens=12)
    resp = client.responses.create(model="gpt-5.4-mini", input=ASK, reasoning={"effort": "high"})
    assert resp.reasoning.effort == "high"
    assert resp.usage.output_tokens_details.reasoning_tokens == 12
    events = list(client.responses.create(model="gpt-5.4-mini", input=ASK, stream=True))
    assert events[-1].response.usage.output_tokens_details.reasoning_tokens == 12


def test_reasoning_effort_becomes_anthropic_thinking(client: openai.OpenAI) -> None:
    """The simulator refuses thinking with a temperature, so a 200 says the gateway dropped it;
    the thinking block's tokens (12 by default) are the only difference in the answer."""
    plain = client.responses.create(model="claude-opus-4.7", input=ASK, max_output_tokens=3000, temperature=0.5)
    thought = client.responses.create(model="claude-opus-4.7", input=ASK, max_output_tokens=3000, temperature=0.5,
                                      reasoning={"effort": "low"})
    assert thought.status == "completed" and thought.output_text == plain.output_text
    assert thought.usage.output_tokens == plain.usage.output_tokens + 12


def test_fails_over_across_formats_before_the_first_byte(client: openai.OpenAI, sim: Proc) -> None:
    sim_set(sim, "claude-opus-4.7", fail_status=529)
    raw = client.responses.with_raw_response.create(model="claude-first", input=ASK, stream=True)
    assert raw.headers["x-gateway-model"] == "gpt-5.4-mini" and raw.headers["x-gateway-fallbacks"] == "1"
    assert list(raw.parse())[-1].type == "response.completed"


def test_errors_have_the_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="auto", input=[{"type": "item_reference", "id": "msg_1"}])
    assert info.value.body["param"] == "input[0].type" and info.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="Hi")
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="auto", prompt="Hi", echo=True)
    assert info.value.body["param"] == "echo"


@pytest.mark.parametrize("model", PROVIDERS)
def test_legacy_completion_plain_and_streamed(client: openai.OpenAI, model: str) -> None:
    raw = client.completions.with_raw_response.create(model=model, prompt="Once upon a time", max_tokens=40)
    done = raw.parse()
    assert done.object == "text_completion" and done.choices[0].text and done.choices[0].finish_reason == "stop"
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(
        cost(model, done.usage.prompt_tokens, 0, done.usage.completion_tokens), abs=1e-6)
    chunks = list(client.completions.create(model=model, prompt="Once upon a time", max_tokens=40, stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == done.choices[0].text
    assert chunks[-1].usage.completion_tokens == done.usage.completion_tokens
    short = client.completions.create(model=model, prompt="Once upon a time")  # the legacy default: 16 tokens
    assert short.usage.completion_tokens <= 16


@pytest.mark.parametrize("stream", [False, True])
def test_claudes_signed_thinking_opens_the_turn_after_a_tool_call(client: openai.OpenAI, sim: Proc,
                                                                  stream: bool) -> None:
    """reasoning.effort on Claude: the answer's reasoning item carries the signed thinking in its
    `encrypted_content`; sent back with the call and its output (or kept with the stored turn), it
    opens the tool turn, which goes without thinking when it is left out (Claude refuses it then)."""
    sim_set(sim, "claude-opus-4.7", tool_call="get_weather")
    ask = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    asked = {"model": "claude-opus-4.7", "tools": TOOLS, "reasoning": {"effort": "low", "summary": "auto"},
             "include": ["reasoning.encrypted_content"]}
    if stream:
        events = list(client.responses.create(input=ask, stream=True, **asked))
        assert "response.reasoning_summary_text.delta" in [e.type for e in events]
        first = events[-1].response
    else:
        first = client.responses.create(input=ask, **asked)
    thought, call = first.output[0], first.output[-1]
    assert thought.type == "reasoning" and thought.encrypted_content and thought.summary[0].text
    assert call.type == "function_call"
    result = {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}
    sim_set(sim, "claude-opus-4.7", tool_call="none")
    turn = [*ask, *(item.model_dump(exclude_none=True) for item in first.output), result]
    assert client.responses.create(input=turn, store=False, **asked).output_text
    assert client.responses.create(input=[result], previous_response_id=first.id, **asked).output_text
    # without it (another provider's turn) the request goes without thinking, and says so
    told = client.responses.with_raw_response.create(input=[i for i in turn if i.get("type") != "reasoning"],
                                                     store=False, **asked)
    assert told.headers["x-gateway-adapted"] == "thinking-off" and told.parse().output_text
