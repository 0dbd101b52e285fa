"""Reasoning and prompt caching on Bedrock Converse (`format: bedrock`), end to end: the openai SDK
with `reasoning_effort`, the anthropic SDK on /v1/messages with `thinking`, a tool round trip
keeping the signed thinking block, and a cache_control-marked system prompt read from the cache
the second time (cached tokens in usage, a lower cost), documents (file parts) and a deployment's
guardrail that intervenes (the answer, finish_reason content_filter, no fallback), the client's
metadata (an OpenAI chat, Anthropic or Responses client's) as `requestMetadata` and a deployment's
`latency` as `performanceConfig` → the gateway → the simulator's Converse."""

from __future__ import annotations

import base64
import math
from typing import Any, Iterator

import anthropic
import openai
import pytest

from tests.procs import (DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_invocations, sim_reset, sim_set,
                         start_gateway)

UPSTREAM = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
PRICE = (3_000_000, 15_000_000, 300_000)  # input, output, cached input: micro-dollars per million tokens
ASK = [{"role": "user", "content": "Is 91 prime?"}]
TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
LONG_SYSTEM = "You answer questions about the weather, tersely and with care. " * 200


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    config = f"""
server: {{request_timeout_s: 20, attempt_budget: 1}}
state: {{prefix: brconv, timeout_ms: 1000}}
providers:
  bedrock: {{format: bedrock, base_url: "{sim.url}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
  openai: {{format: openai, base_url: "{sim.url}/v1", api_key_env: SIMULATOR_API_KEY}}
models:
  claude-converse: {{provider: bedrock, upstream: "{UPSTREAM}", max_output_tokens: 64000,
                    price: {{input: 3, output: 15, cached_input: 0.3}}}}
  nova-guarded: {{provider: bedrock, upstream: "{NOVA}", price: {{input: 0.06, output: 0.24}},
                 bedrock: {{guardrail: {{id: gr7abc, version: 1, trace: enabled, stream_processing_mode: sync}}}}}}
  nova-fast: {{provider: bedrock, upstream: "{NOVA}", price: {{input: 0.06, output: 0.24}},
              bedrock: {{latency: optimized}}}}
  gpt-chat: {{provider: openai, upstream: gpt-4o-mini, price: {{input: 0.15, output: 0.6}}}}
routes:
  auto: {{primary: claude-converse}}
  guarded: {{primary: nova-guarded, fallbacks: [claude-converse]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""
    with start_gateway(tmp_path_factory.mktemp("brconv"), config, redis_url) as proc:
        yield proc


@pytest.fixture
def claude(gateway: Proc, sim: Proc) -> anthropic.Anthropic:
    sim_reset(sim)
    return anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0)


def cost(prompt: int, cached: int, completion: int, written: int = 0) -> float:
    """Claude's cache writes cost 1.25 x input, the config's default for a Claude model id."""
    pin, pout, pcached = PRICE
    scaled = (prompt - cached - written) * pin + cached * pcached + written * pin * 5 // 4 + completion * pout
    return math.ceil(scaled / 1_000_000) / 1_000_000


def test_openai_sdk_reasoning_effort_brings_reasoning_content(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="claude-converse", messages=ASK, reasoning_effort="low",
                                           max_completion_tokens=4000)
    message: Any = plain.choices[0].message
    assert message.content and message.reasoning_content
    assert message.thinking_blocks[0]["signature"] and message.thinking_blocks[0]["thinking"] == message.reasoning_content
    assert plain.usage.completion_tokens > len(message.content.split())  # the thinking is billed as output
    stream = client.chat.completions.create(model="claude-converse", messages=ASK, reasoning_effort="low",
                                            max_completion_tokens=4000, stream=True)
    deltas: list[Any] = [c.choices[0].delta for c in stream if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == message.reasoning_content
    assert "".join(d.content or "" for d in deltas) == message.content
    signed = [b for d in deltas for b in getattr(d, "thinking_blocks", None) or ()]
    # streamed, a list entry carries its place in the whole list (for the openai SDK's stream helper)
    assert signed == [{"type": "thinking", "thinking": "", "signature": message.thinking_blocks[0]["signature"],
                       "index": 0}]


def test_anthropic_sdk_thinking_and_a_tool_round_trip_keep_the_signed_block(claude: anthropic.Anthropic) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    ask: Any = [{"role": "user", "content": "Weather in Oslo?"}]
    first = claude.messages.create(model="claude-converse", max_tokens=2048, thinking=thinking, tools=[TOOL],
                                   messages=ask)
    assert first.content[0].type == "thinking" and first.content[0].signature and first.content[0].thinking
    use = next(b for b in first.content if b.type == "tool_use")
    assert first.stop_reason == "tool_use" and use.name == "get_weather"
    turns: Any = [*ask, {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "4 C"}]}]
    with claude.messages.stream(model="claude-converse", max_tokens=2048, thinking=thinking, tools=[TOOL],
                                messages=turns) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature
    assert final.content[-1].type in ("text", "tool_use")
    # Claude (the simulator too) refuses a tool turn without its signed thinking block with thinking
    # on: such a turn (another provider's, a fallback mid tool loop) goes without thinking, and says so
    bare: Any = [*ask, {"role": "assistant", "content": [use.model_dump()]}, turns[2]]
    told = claude.messages.with_raw_response.create(model="claude-converse", max_tokens=2048, thinking=thinking,
                                                    tools=[TOOL], messages=bare)
    assert told.headers["x-gateway-adapted"] == "thinking-off"
    assert told.parse().content[0].type != "thinking"


def test_a_cache_marked_system_prompt_is_read_from_the_cache_the_second_time(claude: anthropic.Anthropic) -> None:
    system: Any = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    answers = []
    for _ in range(2):
        raw = claude.messages.with_raw_response.create(model="claude-converse", max_tokens=200, system=system,
                                                       messages=[{"role": "user", "content": "Rain in Oslo?"}])
        answers.append((raw.parse(), float(raw.headers["x-gateway-cost-usd"])))
    (first, first_cost), (second, second_cost) = answers
    assert not first.usage.cache_read_input_tokens and second.usage.cache_read_input_tokens >= 1024
    written = first.usage.cache_creation_input_tokens  # Bedrock's cacheWriteInputTokens, billed at 1.25 x input
    assert written == second.usage.cache_read_input_tokens and not second.usage.cache_creation_input_tokens
    prompt = first.usage.input_tokens + written
    assert second.usage.input_tokens + second.usage.cache_read_input_tokens == prompt
    assert first_cost == pytest.approx(cost(prompt, 0, first.usage.output_tokens, written), abs=1e-9)
    assert second_cost == pytest.approx(cost(prompt, second.usage.cache_read_input_tokens,
                                             second.usage.output_tokens), abs=1e-9)
    assert second_cost < first_cost


def test_openai_sdk_file_parts_reach_converse_as_documents(client: openai.OpenAI, sim: Proc) -> None:
    rows = "".join(f"city{i},{i % 30}\n" for i in range(400))
    csv = base64.b64encode(f"city,temp\n{rows}".encode()).decode()
    pdf = base64.b64encode(b"%PDF-1.7\n1 0 obj << /Type /Page >> endobj\n%%EOF").decode()
    ask: Any = [{"type": "text", "text": "Which city is warmest?"}]
    files: Any = [{"type": "file", "file": {"filename": "temps_2024.csv", "file_data": f"data:text/csv;base64,{csv}"}},
                  {"type": "file", "file": {"filename": "temps_2024.pdf",  # the same stem: named apart
                                            "file_data": f"data:application/pdf;base64,{pdf}"}}]
    bare = client.chat.completions.create(model="claude-converse", messages=[{"role": "user", "content": ask}])
    read = client.chat.completions.create(model="claude-converse", messages=[{"role": "user", "content": ask + files}])
    assert read.choices[0].message.content and read.choices[0].finish_reason == "stop"
    assert read.usage and bare.usage and read.usage.prompt_tokens > bare.usage.prompt_tokens + 1000  # the CSV's rows
    zipped: Any = [{"type": "file", "file": {"filename": "a.zip", "file_data": f"data:application/zip;base64,{pdf}"}}]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude-converse", messages=[{"role": "user", "content": ask + zipped}])
    assert err.value.status_code == 400 and "application/zip" in err.value.message
    assert sim_calls(sim).get(UPSTREAM) == 2  # the refused file never reached Bedrock


def test_a_guardrail_intervention_is_the_answer_not_a_failure(client: openai.OpenAI, sim: Proc,
                                                             claude: anthropic.Anthropic) -> None:
    sim_set(sim, NOVA, guardrail_word="heist")
    fine = client.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "Plan a picnic"}])
    assert fine.choices[0].finish_reason == "stop"  # the simulator took the guardrailConfig
    ask: Any = [{"role": "user", "content": "Plan a bank heist"}]
    raw = client.chat.completions.with_raw_response.create(model="guarded", messages=ask)
    blocked = raw.parse()
    assert raw.status_code == 200 and raw.headers["x-gateway-model"] == "nova-guarded"
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.choices[0].message.content == "Sorry, the model cannot answer this question."
    chunks = list(client.chat.completions.create(model="guarded", messages=ask, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == blocked.choices[0].message.content
    message = claude.messages.create(model="guarded", max_tokens=100, messages=ask)
    assert message.stop_reason == "refusal"  # the Messages client's nearest
    assert UPSTREAM not in sim_calls(sim) and sim_calls(sim)[NOVA] == 4  # no fallback to the chain's next model


def test_client_metadata_and_the_deployments_latency_reach_converse(client: openai.OpenAI, claude: anthropic.Anthropic,
                                                                      sim: Proc) -> None:
    """What Bedrock would refuse (a key with `!`, a non-ASCII value) is left out, not a failed request."""
    meta = {"team": "search", "cost-center": "cc 42/eu", "bad key!": "x", "city": "Zürich"}
    plain = client.chat.completions.create(model="nova-fast", messages=ASK, metadata=meta, user="u-7@example.com")
    assert plain.choices[0].message.content
    streamed = client.chat.completions.create(model="nova-fast", messages=ASK, metadata=meta, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    answer = claude.messages.create(model="claude-converse", max_tokens=50, messages=ASK,
                                    metadata={"user_id": "anthropic-user-1"})
    assert answer.content[0].type == "text"
    sent = {"team": "search", "cost-center": "cc 42/eu"}
    assert sim_invocations(sim) == [
        {"model": NOVA, "requestMetadata": {**sent, "user_id": "u-7@example.com"}, "latency": "optimized"},
        {"model": NOVA, "requestMetadata": sent, "latency": "optimized"},
        {"model": UPSTREAM, "requestMetadata": {"user_id": "anthropic-user-1"}, "latency": None}]


def test_a_responses_clients_metadata_reaches_converse_and_not_openais_chat_api(client: openai.OpenAI,
                                                                             sim: Proc) -> None:
    """The Responses API's `metadata` becomes `requestMetadata` too; an OpenAI chat deployment is
    not sent it (OpenAI's chat API refuses `metadata` without `store`, as the simulator does), and
    the client gets its metadata back on the Response either way."""
    meta = {"team": "search", "ticket": "T-1234", "bad key!": "x"}
    plain = client.responses.create(model="nova-fast", input="Is 91 prime?", metadata=meta, user="u-9@example.com")
    assert plain.output_text and plain.metadata == meta
    events = list(client.responses.create(model="nova-fast", input="Is 91 prime?", metadata=meta, stream=True))
    done = [e for e in events if e.type == "response.completed"]
    assert done and done[0].response.output_text and done[0].response.metadata == meta
    chat = client.responses.create(model="gpt-chat", input="Is 91 prime?", metadata=meta)
    assert chat.output_text and chat.metadata == meta
    sent = {"team": "search", "ticket": "T-1234"}
    assert sim_invocations(sim) == [
        {"model": NOVA, "requestMetadata": {**sent, "user_id": "u-9@example.com"}, "latency": "optimized"},
        {"model": NOVA, "requestMetadata": sent, "latency": "optimized"}]
    assert sim_calls(sim) == {NOVA: 2, "gpt-4o-mini": 1}
