"""Every wire format end to end: the openai SDK → the gateway → the simulator speaking that
provider's real format (OpenAI, Azure OpenAI, Anthropic Messages, Gemini, Bedrock Converse signed
with SigV4 or a Bedrock API key), and embeddings."""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Iterator

import openai
import pytest
import redis

from tests.procs import DEMO_KEY_SHA, Proc, sim_set, start_gateway, wait_for

PROVIDERS = {
    # gateway model: (provider name, upstream model the simulator sees)
    "gpt-5.4-mini": ("openai", "gpt-5.4-mini"),
    "azure-gpt-5.4": ("azure", "gpt-5.4"),
    "claude-opus-4.7": ("anthropic", "claude-opus-4.7"),
    "gemini-2.5-flash": ("gemini", "gemini-2.5-flash"),
}
BEDROCK = {  # tested here only (the other clients' e2e tests import PROVIDERS)
    "bedrock-haiku": ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),  # signed with SigV4
    "bedrock-nova": ("bedrock-key", "amazon.nova-lite-v1:0"),  # a Bedrock API key
}
ALL = {**PROVIDERS, **BEDROCK}
PRICES = {  # micro-dollars per million: input, output, cached input
    "gpt-5.4-mini": (400_000, 1_600_000, 40_000),
    "azure-gpt-5.4": (2_500_000, 15_000_000, 250_000),
    "claude-opus-4.7": (15_000_000, 75_000_000, 1_500_000),
    "gemini-2.5-flash": (300_000, 2_500_000, 75_000),
    "bedrock-haiku": (800_000, 4_000_000, 80_000),
    "bedrock-nova": (60_000, 240_000, 15_000),
}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}]
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tell me something nice about the sea."}]


def config(sim_port: int) -> str:
    base = f"http://127.0.0.1:{sim_port}"
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: prov, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  openai: {{format: openai, base_url: {base}/v1, api_key_env: SIMULATOR_API_KEY}}
  azure: {{format: azure, base_url: {base}, api_key_env: SIMULATOR_API_KEY, api_version: "2024-10-21"}}
  anthropic: {{format: anthropic, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  gemini: {{format: gemini, base_url: {base}, api_key_env: SIMULATOR_API_KEY}}
  bedrock: {{format: bedrock, base_url: {base}, api_key_env: null, aws_region: us-east-1,
            aws_access_key_env: SIMULATOR_API_KEY, aws_secret_key_env: SIMULATOR_API_KEY,
            aws_session_token_env: NO_SUCH_SESSION_TOKEN}}
  bedrock-key: {{format: bedrock, base_url: {base}, api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
models:
  gpt-5.4-mini: {{provider: openai, price: {{input: 0.4, output: 1.6, cached_input: 0.04}}}}
  azure-gpt-5.4: {{provider: azure, upstream: gpt-5.4, price: {{input: 2.5, output: 15, cached_input: 0.25}}}}
  claude-opus-4.7: {{provider: anthropic, price: {{input: 15, output: 75, cached_input: 1.5}}}}
  gemini-2.5-flash: {{provider: gemini, price: {{input: 0.3, output: 2.5, cached_input: 0.075}}}}
  bedrock-haiku: {{provider: bedrock, upstream: "anthropic.claude-3-5-haiku-20241022-v1:0",
                  price: {{input: 0.8, output: 4, cached_input: 0.08}}}}
  bedrock-nova: {{provider: bedrock-key, upstream: "amazon.nova-lite-v1:0",
                 price: {{input: 0.06, output: 0.24, cached_input: 0.015}}}}
  text-embedding-3-small: {{provider: openai, kind: embedding, price: {{input: 0.02}}}}
  gemini-embedding-001: {{provider: gemini, kind: embedding, price: {{input: 0.15}}}}
routes:
  auto: {{primary: gpt-5.4-mini}}
  claude-first: {{primary: claude-opus-4.7, fallbacks: [gpt-5.4-mini]}}
  embeddings: {{primary: text-embedding-3-small, fallbacks: [gemini-embedding-001]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with start_gateway(tmp_path_factory.mktemp("gw"), config(sim.port), redis_url) as proc:
        yield proc


def expected_cost(model: str, usage) -> float:
    pin, pout, pcached = PRICES[model]
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    scaled = (usage.prompt_tokens - cached) * pin + cached * pcached + usage.completion_tokens * pout
    return math.ceil(scaled / 1_000_000) / 1_000_000


@pytest.mark.parametrize("model", ALL)
def test_completion_usage_and_cost(client: openai.OpenAI, model: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-gateway-provider"] == ALL[model][0]
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(expected_cost(model, usage), abs=1e-9)


@pytest.mark.parametrize("model", ALL)
def test_stream_reassembles_to_the_plain_answer(client: openai.OpenAI, model: str) -> None:
    plain = client.chat.completions.create(model=model, messages=MESSAGES)
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == plain.usage.prompt_tokens


@pytest.mark.parametrize("model", ALL)
def test_tool_call_plain_and_streamed(client: openai.OpenAI, model: str) -> None:
    messages = [{"role": "user", "content": "What is the weather in Lisbon? Use get_weather."}]
    plain = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, tool_choice="required")
    choice = plain.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id
    args = json.loads(call.function.arguments)
    assert isinstance(args["city"], str)
    streamed_args: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=TOOLS,
                                                tool_choice="required", stream=True):
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta_call.function.name:
                names[delta_call.index] = delta_call.function.name
            streamed_args[delta_call.index] = streamed_args.get(delta_call.index, "") + (
                delta_call.function.arguments or "")
    assert names == {0: "get_weather"}
    assert json.loads(streamed_args[0]) == args
    # the tool's answer goes back, and the model answers in text
    follow = client.chat.completions.create(model=model, tools=TOOLS, messages=[
        *messages, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}])
    assert follow.choices[0].message.content


@pytest.mark.parametrize("model", ALL)
@pytest.mark.parametrize("status, exc", [
    (400, openai.BadRequestError),
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
    (503, openai.InternalServerError),
])
def test_upstream_errors_map_to_openai_exceptions(client: openai.OpenAI, sim: Proc, model: str, status: int,
                                                  exc: type[Exception]) -> None:
    sim_set(sim, ALL[model][1], fail_status=status, retry_after_s=0)
    with pytest.raises(exc) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert set(info.value.body) >= {"message", "type", "code"}


def test_reasoning_with_tools_keeps_claudes_signed_thinking_across_turns(client: openai.OpenAI, sim: Proc) -> None:
    """reasoning_effort on Claude: the answer's `thinking_blocks`, sent back in the assistant
    message as the openai SDK returns it, open the tool turn; Claude refuses the turn without them."""
    sim_set(sim, "claude-opus-4.7", tool_call="get_weather")
    ask = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    first = client.chat.completions.create(model="claude-opus-4.7", messages=ask, tools=TOOLS, reasoning_effort="low")
    message = first.choices[0].message
    assert message.tool_calls and (message.model_extra or {})["thinking_blocks"][0]["signature"]
    turn = message.model_dump(exclude_none=True)
    result = {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": '{"temp_c": 21}'}
    sim_set(sim, "claude-opus-4.7", tool_call="none")
    follow = client.chat.completions.with_raw_response.create(model="claude-opus-4.7", messages=[*ask, turn, result],
                                                              tools=TOOLS, reasoning_effort="low")
    assert follow.parse().choices[0].message.content and "x-gateway-adapted" not in follow.headers
    # without them (another provider's turn) Claude would refuse the turn with thinking on: it goes
    # without thinking, and says so
    bare = {k: v for k, v in turn.items() if k not in ("thinking_blocks", "reasoning_content")}
    told = client.chat.completions.with_raw_response.create(model="claude-opus-4.7", messages=[*ask, bare, result],
                                                            tools=TOOLS, reasoning_effort="low")
    assert told.headers["x-gateway-adapted"] == "thinking-off" and told.parse().choices[0].message.content


def test_anthropic_overloaded_529_is_retryable_and_fails_over(gateway: Proc, sim: Proc,
                                                             client: openai.OpenAI) -> None:
    sim_set(sim, "claude-opus-4.7", fail_status=529)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude-opus-4.7", messages=MESSAGES)
    assert info.value.status_code == 502
    raw = client.chat.completions.with_raw_response.create(model="claude-first", messages=MESSAGES)
    assert raw.headers["x-gateway-model"] == "gpt-5.4-mini"
    assert raw.headers["x-gateway-fallbacks"] == "1"


@pytest.mark.parametrize("stream", [False, True])
def test_bedrock_cached_input_is_priced_and_charged(client: openai.OpenAI, sim: Proc, redis_url: str,
                                                    stream: bool) -> None:
    """Bedrock's cacheReadInputTokens (the simulator caches half the prompt) are the cached tokens:
    priced at cached_input in the answer's cost header and charged so in the ledger."""
    sim_set(sim, BEDROCK["bedrock-haiku"][1], cache_ratio=0.5)
    state = redis.Redis.from_url(redis_url)
    before = len(state.xrange("{prov}:ledger"))
    raw = client.chat.completions.with_raw_response.create(
        model="bedrock-haiku", messages=MESSAGES, stream=stream,
        **({"stream_options": {"include_usage": True}} if stream else {}))
    usage = list(raw.parse())[-1].usage if stream else raw.parse().usage
    assert usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens // 2 > 0
    micro = round(expected_cost("bedrock-haiku", usage) * 1_000_000)
    if not stream:  # a stream's cost is known only after its headers went out
        assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(micro / 1_000_000, abs=1e-9)
    wait_for(lambda: any(e[1].get(b"deployment") == b"bedrock-haiku" and e[1].get(b"status") == b"settled"
                         for e in state.xrange("{prov}:ledger")[before:]))
    entries = [{k.decode(): v.decode() for k, v in e[1].items()} for e in state.xrange("{prov}:ledger")[before:]]
    settled = [e for e in entries if e["deployment"] == "bedrock-haiku" and e["status"] == "settled"]
    assert int(settled[-1]["cost"]) == micro, entries


def test_request_one_provider_cannot_express_goes_to_one_that_can(client: openai.OpenAI, redis_url: str) -> None:
    # Anthropic has no n > 1: the adapter refuses, and the chain's OpenAI model serves it
    state = redis.Redis.from_url(redis_url)
    before = len(state.xrange("{prov}:ledger"))
    raw = client.chat.completions.with_raw_response.create(model="claude-first", messages=MESSAGES, n=2)
    assert raw.headers["x-gateway-model"] == "gpt-5.4-mini"
    assert len(raw.parse().choices) == 2
    # the refused candidate's reservation is released and the serving one's is charged: two
    # admits with two ids (a repeated id would get the first decision back, and go uncharged)
    wait_for(lambda: len(state.xrange("{prov}:ledger")) >= before + 2)
    entries = [{k.decode(): v.decode() for k, v in e[1].items()} for e in state.xrange("{prov}:ledger")[before:]]
    served = [e for e in entries if e["deployment"] == "gpt-5.4-mini"]
    assert served and served[-1]["status"] == "settled" and int(served[-1]["cost"]) > 0, entries
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude-opus-4.7", messages=MESSAGES, n=2)
    assert info.value.body["param"] in ("n", None)


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_routed_with_fallback(client: openai.OpenAI, sim: Proc, encoding: str) -> None:
    raw = client.embeddings.with_raw_response.create(model="auto", input=["hello world", "the sea"],
                                                     encoding_format=encoding)
    out = raw.parse()
    assert raw.headers["x-gateway-model"] == "text-embedding-3-small"
    assert len(out.data) == 2 and out.usage.prompt_tokens > 0
    vector = out.data[0].embedding
    if encoding == "base64":  # asked for explicitly, the SDK hands back the string as sent
        vector = list(struct.unpack(f"<{len(base64.b64decode(vector)) // 4}f", base64.b64decode(vector)))
    assert len(vector) > 0 and all(isinstance(v, float) and math.isfinite(v) for v in vector)
    sim_set(sim, "text-embedding-3-small", fail_status=503)
    raw = client.embeddings.with_raw_response.create(model="auto", input="hello world", dimensions=8,
                                                     encoding_format=encoding)
    assert raw.headers["x-gateway-model"] == "gemini-embedding-001"
    assert raw.headers["x-gateway-fallbacks"] == "1"
    vector = raw.parse().data[0].embedding
    assert (len(base64.b64decode(vector)) // 4 if encoding == "base64" else len(vector)) == 8


def test_embeddings_bad_input_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="auto", input=[])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-embedder", input="x")


@pytest.mark.parametrize("model", BEDROCK)
def test_bedrock_json_schema_by_a_forced_tool(client: openai.OpenAI, model: str) -> None:
    """JSON mode on Converse, which has no switch for it: the answer is the forced tool's input."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
              "required": ["city", "temp"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}}
    ask = [{"role": "user", "content": "The weather in Paris, as JSON."}]
    out = client.chat.completions.create(model=model, messages=ask, response_format=fmt)
    data = json.loads(out.choices[0].message.content)
    assert set(data) == {"city", "temp"} and isinstance(data["temp"], int)
    assert not out.choices[0].message.tool_calls and out.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model=model, messages=ask, response_format=fmt, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert set(json.loads(text)) == {"city", "temp"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_no_provider_credential_reaches_the_log(client: openai.OpenAI, gateway: Proc) -> None:
    """Last in the module, after every provider answered and failed: the gateway's log holds
    requests, never the provider key (here also Bedrock's SigV4 secret) nor a signature."""
    for model in BEDROCK:  # one more signed and one more keyed call each
        assert client.chat.completions.create(model=model, messages=MESSAGES).choices
    text = "\n".join(gateway.log_lines())
    assert '"event":"request"' in text
    assert "sim-test-key" not in text and "Signature=" not in text and "AWS4-HMAC-SHA256" not in text
