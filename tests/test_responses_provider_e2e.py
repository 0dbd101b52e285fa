"""`format: openai_responses` end to end: the openai SDK → the gateway (real process) → the
simulator's Responses API. Chat-completions clients are translated; Responses clients (what
Codex CLI uses) have their own body sent as it came, reasoning items and all."""

from __future__ import annotations

import json
import math
from typing import Iterator

import openai
import pytest

from tests.procs import Proc, sim_set, start_gateway
from tests.test_providers_e2e import config

MODEL, UPSTREAM = "codex", "gpt-5.4-codex"
PRICE = (1_250_000, 10_000_000, 125_000)  # micro-dollars per million: input, output, cached input
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ASK = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Tell me about the sea."}]
THINK = {"reasoning": {"effort": "low", "summary": "auto"}, "include": ["reasoning.encrypted_content"]}


def with_responses_provider(text: str, sim_port: int) -> str:
    """A gateway config (tests.test_providers_e2e.config) with the `openai_responses` provider and
    its model, and the same upstream model on the chat format."""
    base = f"http://127.0.0.1:{sim_port}/v1"
    return (text.replace("providers:\n", f"providers:\n  openai-resp: {{format: openai_responses, base_url: {base}, "
                                        "api_key_env: SIMULATOR_API_KEY}\n")
            .replace("models:\n", f"models:\n  {MODEL}: {{provider: openai-resp, upstream: {UPSTREAM}, "
                                  "price: {input: 1.25, output: 10, cached_input: 0.125}}\n"
                                  f"  codex-chat: {{provider: openai, upstream: {UPSTREAM}, price: {{input: 1, output: 1}}}}\n"))


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    text = (with_responses_provider(config(sim.port).replace("prefix: prov", "prefix: respout"), sim.port)
            + "responses: {enabled: true, ttl_s: 600}\n")
    with start_gateway(tmp_path_factory.mktemp("gw"), text, redis_url) as proc:
        yield proc


def stats(sim: Proc) -> dict:
    import urllib.request
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())


def cost(prompt: int, cached: int, completion: int) -> float:
    pin, pout, pcached = PRICE
    return math.ceil(((prompt - cached) * pin + cached * pcached + completion * pout) / 1_000_000) / 1_000_000


def test_chat_completion_plain_with_usage_and_cost(client: openai.OpenAI, sim: Proc) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=ASK)
    done = raw.parse()
    assert done.choices[0].message.content and done.choices[0].finish_reason == "stop"
    usage = done.usage
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-gateway-provider"] == "openai-resp" and raw.headers["x-gateway-model"] == MODEL
    expected = cost(usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected, abs=1e-9)
    assert stats(sim)["by_format"] == {"openai_responses": 1}  # the Responses API was called
    # the same model on the chat API answers the same text: nothing lost on the way
    direct = client.chat.completions.create(model="codex-chat", messages=ASK)
    assert direct.choices[0].message.content == done.choices[0].message.content


def test_chat_stream_reassembles_to_the_plain_answer(client: openai.OpenAI, sim: Proc) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=ASK)
    sim_set(sim, UPSTREAM, tokens_per_s=400)  # paced: relayed event by event
    chunks = list(client.chat.completions.create(model=MODEL, messages=ASK, stream=True,
                                                 stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True])
def test_chat_tool_call_round_trip(client: openai.OpenAI, stream: bool) -> None:
    ask = [{"role": "user", "content": "What is the weather in Lisbon? Use get_weather."}]
    if stream:
        chunks = list(client.chat.completions.create(model=MODEL, messages=ask, tools=TOOLS, tool_choice="required",
                                                     stream=True))
        deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or ()]
        call_id, name = deltas[0].id, deltas[0].function.name
        args = "".join(d.function.arguments or "" for d in deltas)
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    else:
        first = client.chat.completions.create(model=MODEL, messages=ask, tools=TOOLS, tool_choice="required")
        assert first.choices[0].finish_reason == "tool_calls"
        call = first.choices[0].message.tool_calls[0]
        call_id, name, args = call.id, call.function.name, call.function.arguments
    assert name == "get_weather" and isinstance(json.loads(args)["city"], str) and call_id
    answer = client.chat.completions.create(model=MODEL, tools=TOOLS, messages=[
        *ask, {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]},
        {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'}])
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"


def test_a_responses_client_gets_its_reasoning_items_back_and_carries_them(client: openai.OpenAI) -> None:
    """What Codex CLI does: store false, encrypted reasoning asked for, sent back with the next turn."""
    first = client.responses.create(model=MODEL, input="Weather in Oslo?", store=False, **THINK)
    thought, message = first.output
    assert thought.type == "reasoning" and thought.encrypted_content and message.type == "message"
    assert thought.summary[0].text.endswith("0 earlier reasoning item(s) carried back.")
    assert first.usage.output_tokens > 0 and first.output_text
    second = client.responses.create(model=MODEL, store=False, **THINK, input=[
        {"role": "user", "content": "Weather in Oslo?"}, thought.model_dump(exclude_none=True),
        {"role": "assistant", "content": first.output_text}, {"role": "user", "content": "And tomorrow?"}])
    assert second.output[0].summary[0].text.endswith("1 earlier reasoning item(s) carried back.")
    with client.responses.stream(model=MODEL, input="Weather in Oslo?", store=False, **THINK) as stream:
        final = stream.get_final_response()  # the SDK's own accumulator over the gateway's events
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output[0].encrypted_content and final.output_text == first.output_text


def test_previous_response_id_sends_the_stored_conversation_with_its_reasoning(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="Weather in Oslo?", **THINK)
    follow = client.responses.create(model=MODEL, input="And tomorrow?", previous_response_id=first.id, **THINK)
    assert follow.output[0].summary[0].text.endswith("1 earlier reasoning item(s) carried back.")
    assert follow.previous_response_id == first.id and follow.output_text


def test_no_provider_key_in_the_log(gateway: Proc, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=ASK)
    lines = gateway.log_lines()
    assert any('"provider":"openai-resp"' in line for line in lines)
    assert not any("sim-test-key" in line for line in lines)


def test_upstream_errors_reach_the_client_with_the_right_status(client: openai.OpenAI, sim: Proc) -> None:
    """Last in this module: the 429 leaves the deployment cooling down."""
    with pytest.raises(openai.BadRequestError) as bad:  # the Responses API's own 400: the cap is below 16
        client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=5)
    assert bad.value.status_code == 400 and "max_output_tokens" in str(bad.value)
    with pytest.raises(openai.BadRequestError, match="stop"):  # refused before the call
        client.chat.completions.create(model=MODEL, messages=ASK, stop=["END"])
    sim_set(sim, UPSTREAM, fail_status=429, retry_after_s=1)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=ASK)
    assert limited.value.status_code == 429
