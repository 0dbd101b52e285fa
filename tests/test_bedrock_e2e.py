"""Amazon Bedrock's InvokeModel end to end: the openai SDK and the anthropic SDK → the gateway →
the simulator's InvokeModel paths. Claude as `bedrock_anthropic` (SigV4-signed, and with a Bedrock
API key), a guardrail that intervenes (the answer, finish_reason content_filter, nothing billed),
Titan and Cohere embeddings on the `bedrock` format; usage, cost headers and the log."""

from __future__ import annotations

import json
import math
import urllib.request
from typing import Any, Iterator

import anthropic
import openai
import pytest

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_reset, sim_set, start_gateway

CLAUDE = {  # gateway model: (provider, upstream, (input, output, cached input) micro-dollars per million)
    "claude-bedrock": ("bedrock-iam", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", (3_000_000, 15_000_000, 300_000)),
    "claude-bedrock-key": ("bedrock-key", "anthropic.claude-3-5-haiku-20241022-v1:0", (800_000, 4_000_000, 80_000)),
}
GUARDED = "anthropic.claude-3-7-sonnet-20250219-v1:0"  # a signed deployment with a guardrail
TITAN, COHERE = "amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about rivers."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def config(sim: Proc) -> str:
    base = sim.url
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: brinv, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  bedrock-iam: {{format: bedrock_anthropic, base_url: "{base}", api_key_env: null, aws_region: us-east-1,
                aws_access_key_env: SIMULATOR_API_KEY, aws_secret_key_env: BEDROCK_SECRET,
                aws_session_token_env: NO_SUCH_SESSION_TOKEN}}
  bedrock-key: {{format: bedrock_anthropic, base_url: "{base}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
  bedrock-embed: {{format: bedrock, base_url: "{base}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
models:
  claude-bedrock: {{provider: bedrock-iam, upstream: "{CLAUDE['claude-bedrock'][1]}",
                   price: {{input: 3, output: 15, cached_input: 0.3}}}}
  claude-bedrock-key: {{provider: bedrock-key, upstream: "{CLAUDE['claude-bedrock-key'][1]}",
                       price: {{input: 0.8, output: 4, cached_input: 0.08}}}}
  claude-guarded: {{provider: bedrock-iam, upstream: "{GUARDED}", price: {{input: 3, output: 15}},
                   bedrock: {{guardrail: {{id: gr7abc, version: 1, trace: enabled, stream_processing_mode: async}}}}}}
  titan-embed: {{provider: bedrock-embed, upstream: "{TITAN}", kind: embedding, price: {{input: 0.02}}}}
  cohere-embed: {{provider: bedrock-embed, upstream: "{COHERE}", kind: embedding, price: {{input: 0.1}}}}
routes:
  auto: {{primary: claude-bedrock}}
  embeddings: {{primary: titan-embed, fallbacks: [cohere-embed]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    env = {"BEDROCK_SECRET": "bedrock-secret-e2e"}
    with start_gateway(tmp_path_factory.mktemp("brinv"), config(sim), redis_url, env=env) as proc:
        yield proc


def by_format(sim: Proc) -> dict[str, int]:
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["by_format"]


def cost(model: str, prompt: int, cached: int, completion: int) -> float:
    pin, pout, pcached = CLAUDE[model][2]
    return math.ceil(((prompt - cached) * pin + cached * pcached + completion * pout) / 1_000_000) / 1_000_000


@pytest.mark.parametrize("model", CLAUDE)
def test_chat_plain_and_streamed_with_cost(client: openai.OpenAI, sim: Proc, model: str) -> None:
    sim_set(sim, CLAUDE[model][1], cache_ratio=0.5)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    plain = raw.parse()
    assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.content
    usage = plain.usage
    cached = usage.prompt_tokens_details.cached_tokens
    assert cached == usage.prompt_tokens // 2 > 0 and usage.completion_tokens > 0
    assert raw.headers["x-gateway-provider"] == CLAUDE[model][0]
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(
        cost(model, usage.prompt_tokens, cached, usage.completion_tokens), abs=1e-9)
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == \
        (usage.prompt_tokens, usage.completion_tokens)
    assert by_format(sim) == {"bedrock_anthropic": 2}


@pytest.mark.parametrize("model", CLAUDE)
def test_tool_call_plain_streamed_and_answered(client: openai.OpenAI, model: str) -> None:
    ask = [{"role": "user", "content": "Weather in Lisbon? Use get_weather."}]
    out = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice="required")
    call = out.choices[0].message.tool_calls[0]
    assert out.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    streamed = "".join(d.function.arguments or "" for c in client.chat.completions.create(
        model=model, messages=ask, tools=TOOLS, tool_choice="required", stream=True)
        if c.choices for d in c.choices[0].delta.tool_calls or ())
    assert json.loads(streamed) == args
    follow = client.chat.completions.create(model=model, tools=TOOLS, messages=[
        *ask, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}])
    assert follow.choices[0].message.content


@pytest.mark.parametrize("status, exc, kind", [(400, openai.BadRequestError, "invalid_request_error"),
                                               (429, openai.RateLimitError, "rate_limit_error"),
                                               (503, openai.InternalServerError, "upstream_error")])
def test_upstream_errors_in_the_openai_shape(client: openai.OpenAI, sim: Proc, status: int, exc: type[Exception],
                                             kind: str) -> None:
    sim_set(sim, CLAUDE["claude-bedrock"][1], fail_status=status, retry_after_s=0)
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="claude-bedrock", messages=MESSAGES)
    assert info.value.body["type"] == kind and info.value.body["code"]


def test_anthropic_sdk_on_messages_keeps_thinking_and_its_signature(gateway: Proc, sim: Proc) -> None:
    """/v1/messages (the anthropic SDK, Claude Code) to a bedrock_anthropic model: Claude on
    Bedrock speaks Messages, so the client's own fields (thinking here) reach it as they came."""
    sim_reset(sim)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0)
    ask: Any = [{"role": "user", "content": "Is 91 prime?"}]
    raw = client.messages.with_raw_response.create(model="claude-bedrock", max_tokens=2048, messages=ask,
                                                   thinking={"type": "enabled", "budget_tokens": 1024})
    msg = raw.parse()
    first = msg.content[0]
    assert first.type == "thinking" and first.thinking and first.signature
    assert msg.content[-1].type == "text" and msg.content[-1].text and msg.stop_reason == "end_turn"
    prompt = msg.usage.input_tokens + (msg.usage.cache_read_input_tokens or 0)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(
        cost("claude-bedrock", prompt, msg.usage.cache_read_input_tokens or 0, msg.usage.output_tokens), abs=1e-9)
    with client.messages.stream(model="claude-bedrock", max_tokens=2048, messages=ask,
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == first.signature
    assert final.content[-1].text == msg.content[-1].text
    # the signed thinking goes back in the next turn, as Claude Code sends it
    follow = client.messages.create(model="claude-bedrock", max_tokens=2048, thinking={"type": "enabled",
                                    "budget_tokens": 1024}, messages=[*ask, {"role": "assistant", "content": [
                                        b.model_dump() for b in msg.content]}, {"role": "user", "content": "Why?"}])
    assert follow.content[-1].text
    assert by_format(sim) == {"bedrock_anthropic": 3}


def test_embeddings_titan_one_text_cohere_for_a_list(client: openai.OpenAI, sim: Proc) -> None:
    raw = client.embeddings.with_raw_response.create(model="auto", input="the sea", dimensions=256)
    out = raw.parse()
    assert raw.headers["x-gateway-model"] == "titan-embed" and len(out.data[0].embedding) == 256
    assert out.usage.prompt_tokens == 2  # Titan's inputTextTokenCount, not the gateway's estimate
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(math.ceil(2 * 20_000 / 1e6) / 1e6, abs=1e-9)
    # Titan embeds one text per call: a list falls back to Cohere, counted by Bedrock's header
    raw = client.embeddings.with_raw_response.create(model="auto", input=["the sea", "a long river"])
    out = raw.parse()
    assert raw.headers["x-gateway-model"] == "cohere-embed" and raw.headers["x-gateway-fallbacks"] == "1"
    assert [len(d.embedding) for d in out.data] == [1024, 1024] and out.data[0].embedding != out.data[1].embedding
    assert out.usage.prompt_tokens == 5
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(math.ceil(5 * 100_000 / 1e6) / 1e6, abs=1e-9)
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="titan-embed", input=["a", "b"])
    assert "one text per request" in info.value.body["message"]
    assert by_format(sim) == {"bedrock": 2}


def test_a_guardrail_intervention_is_the_answer_not_a_failure(client: openai.OpenAI, sim: Proc) -> None:
    """The guardrail's headers reach InvokeModel (signed); the simulator's guardrail blocks a prompt
    with its word: the blocked message is the answer, finish_reason content_filter, whole and streamed."""
    sim_set(sim, GUARDED, guardrail_word="heist")
    picnic: Any = [{"role": "user", "content": "Plan a picnic"}]
    fine = client.chat.completions.create(model="claude-guarded", messages=picnic)
    assert fine.choices[0].finish_reason == "stop" and fine.choices[0].message.content
    ask: Any = [{"role": "user", "content": "Plan a bank heist"}]
    raw = client.chat.completions.with_raw_response.create(model="claude-guarded", messages=ask)
    blocked = raw.parse()
    assert raw.status_code == 200 and raw.headers["x-gateway-model"] == "claude-guarded"
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.choices[0].message.content == "Sorry, the model cannot answer this question."
    assert blocked.usage and blocked.usage.completion_tokens == 0 and float(raw.headers["x-gateway-cost-usd"]) == 0
    chunks = list(client.chat.completions.create(model="claude-guarded", messages=ask, stream=True,
                                                 stream_options={"include_usage": True}))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == blocked.choices[0].message.content
    assert sim_calls(sim)[GUARDED] == 3 and by_format(sim) == {"bedrock_anthropic": 3}  # no retry, no fallback


def test_no_key_secret_or_signature_reaches_the_log(client: openai.OpenAI, gateway: Proc) -> None:
    """Last: after signed and keyed calls, answers and failures, the log holds none of them."""
    for model in CLAUDE:
        assert client.chat.completions.create(model=model, messages=MESSAGES).choices
    text = "\n".join(gateway.log_lines())
    assert '"event":"request"' in text
    for secret in ("sim-test-key", "bedrock-secret-e2e", "Signature=", "AWS4-HMAC-SHA256", "Bearer "):
        assert secret not in text, secret
