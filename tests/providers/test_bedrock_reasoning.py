"""The Bedrock Converse adapter's reasoning and prompt caching: `reasoning_effort` and an Anthropic
client's `thinking` → Claude's thinking, signed thinking blocks → `reasoningContent` and back (whole
answers and streams), `cache_control` hints → `cachePoint` blocks, and the Anthropic Messages
inbound's canonical body carried through to Converse."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from gateway.inbound.anthropic.reply import message_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.providers.base import for_format
from gateway.providers.bedrock import adapter
from gateway.providers.bedrock.eventstream import EventStreamParser
from gateway.providers.bedrock.reasoning import caches, is_claude
from tests.providers.helpers import deployment, reassemble, run_decoder
from tests.providers.test_bedrock import event

BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
CLAUDE = deployment("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", BASE, api_key="k")
LLAMA = deployment("bedrock", "meta.llama3-70b-instruct-v1:0", BASE, api_key="k")
NOVA = deployment("bedrock", "amazon.nova-pro-v1:0", BASE, api_key="k")
EPH = {"type": "ephemeral"}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def sent(chat: dict[str, Any], dep: Any = CLAUDE) -> dict[str, Any]:
    return orjson.loads(adapter.to_upstream(copy.deepcopy(chat), dep, False).body)


@pytest.mark.parametrize("model, claude, cached", [
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", True, True),
    ("eu.anthropic.claude-sonnet-4-20250514-v1:0", True, True),
    ("global.anthropic.claude-opus-4-5-20251101-v1:0", True, True),
    ("arn:aws:bedrock:us-east-1:123:inference-profile/apac.anthropic.claude-3-5-sonnet-v2:0", True, True),
    ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", True, True),
    ("us.amazon.nova-lite-v1:0", False, True),
    ("meta.llama3-70b-instruct-v1:0", False, False),
    ("arn:aws:bedrock:us-east-1:123:application-inference-profile/abc123", False, False),
])
def test_which_models_get_thinking_and_cache_points(model: str, claude: bool, cached: bool) -> None:
    assert is_claude(model) is claude and caches(model) is cached


@pytest.mark.parametrize("effort, max_tokens, budget, sent_max", [
    ("low", 8000, 1024, 8000), ("medium", 8000, 4096, 8000), ("high", 8000, 7999, 8000),
    ("high", None, 16384, 20480), ("minimal", 8000, None, 8000), ("low", 1024, None, 1024),
])
def test_reasoning_effort_is_a_thinking_budget_as_on_anthropic(effort: str, max_tokens: int | None,
                                                               budget: int | None, sent_max: int) -> None:
    chat: dict[str, Any] = {"model": "m", "reasoning_effort": effort, "temperature": 0.3, "top_p": 0.5,
                            "messages": [{"role": "user", "content": "Is 91 prime?"}]}
    if max_tokens:
        chat["max_completion_tokens"] = max_tokens
    dep = deployment("bedrock", CLAUDE.upstream, BASE, api_key="k", max_output_tokens=64000)
    body = sent(chat, dep)
    if budget is None:
        assert "additionalModelRequestFields" not in body
        assert body["inferenceConfig"]["temperature"] == 0.3
    else:
        assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": budget}}
        assert "temperature" not in body["inferenceConfig"] and "topP" not in body["inferenceConfig"]
    assert body["inferenceConfig"].get("maxTokens") == sent_max


def test_no_thinking_for_other_models_nor_with_a_forced_tool() -> None:
    chat = {"model": "m", "reasoning_effort": "high", "max_tokens": 9000, "messages": [{"role": "user", "content": "x"}]}
    assert "additionalModelRequestFields" not in sent(chat, LLAMA)
    forced = sent({**chat, "tools": [TOOL], "tool_choice": "required"})
    assert "additionalModelRequestFields" not in forced and forced["toolConfig"]["toolChoice"] == {"any": {}}
    json_mode = sent({**chat, "response_format": {"type": "json_object"}})
    assert "additionalModelRequestFields" not in json_mode
    with pytest.raises(Exception, match="reasoning_effort"):
        sent({**chat, "reasoning_effort": "huge"})


ANTHROPIC_TURNS: dict[str, Any] = {
    "model": "claude", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000},
    "system": [{"type": "text", "text": "You are a weather bot."},
               {"type": "text", "text": "Long shared instructions.", "cache_control": EPH}],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}, "cache_control": {**EPH, "ttl": "1h"}}],
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "b3BhcXVl"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4 C",
                                      "cache_control": EPH}]}],
}


def test_an_anthropic_clients_thinking_blocks_and_cache_marks_reach_converse() -> None:
    canonical = to_canonical(copy.deepcopy(ANTHROPIC_TURNS))
    body = sent(for_format(canonical, adapter.native_format, adapter.reads_hints))
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert body["inferenceConfig"] == {"maxTokens": 4000}
    assert body["system"] == [{"text": "You are a weather bot."}, {"text": "Long shared instructions."},
                              {"cachePoint": {"type": "default"}}]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assistant = body["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "I should call the tool.", "signature": "sig-1"}}},
        {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
        {"toolUse": {"toolUseId": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}}]
    result = body["messages"][2]["content"]
    assert result[0]["toolResult"]["content"] == [{"text": "4 C"}] and result[1] == {"cachePoint": {"type": "default"}}


def test_openai_style_cache_marks_on_parts_messages_and_tools() -> None:
    chat = {"model": "m", "tools": [{**TOOL, "cache_control": EPH}], "messages": [
        {"role": "system", "content": "Rules.", "cache_control": EPH},
        {"role": "user", "content": [{"type": "text", "text": "Big document", "cache_control": EPH},
                                     {"type": "text", "text": "Question?"}]},
        {"role": "assistant", "content": "", "thinking_blocks": [{"type": "thinking", "thinking": "x"}],  # unsigned
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}
    for dep in (CLAUDE, NOVA):
        body = sent(chat, dep)
        assert body["system"] == [{"text": "Rules."}, {"cachePoint": {"type": "default"}}]
        assert body["messages"][0]["content"] == [{"text": "Big document"}, {"cachePoint": {"type": "default"}},
                                                  {"text": "Question?"}]
        assert body["messages"][1]["content"] == [{"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": {}}}]
        assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    assert "cachePoint" not in orjson.dumps(sent(chat, LLAMA)).decode()  # Bedrock caches Claude and Nova only


ANSWER = {"output": {"message": {"role": "assistant", "content": [
    {"reasoningContent": {"reasoningText": {"text": "91 = 7 x 13.", "signature": "sig-9"}}},
    {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}},
    {"text": "No."}]}}, "stopReason": "end_turn",
    "usage": {"inputTokens": 20, "outputTokens": 50, "totalTokens": 70}}
BLOCKS = [{"type": "thinking", "thinking": "91 = 7 x 13.", "signature": "sig-9"},
          {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="}]


def test_answer_reasoning_is_the_anthropic_adapters_shape() -> None:
    body, usage = adapter.from_upstream(orjson.dumps(ANSWER), CLAUDE)
    message = body["choices"][0]["message"]
    assert message["content"] == "No." and message["reasoning_content"] == "91 = 7 x 13."
    assert message["thinking_blocks"] == BLOCKS
    assert usage.completion_tokens == 50 and usage.reasoning_tokens == 0
    reply = message_body(body)  # what an Anthropic Messages client gets
    assert reply["content"] == [*BLOCKS, {"type": "text", "text": "No."}]


def test_stream_reasoning_deltas_are_the_anthropic_decoders() -> None:
    stream = [event("messageStart", {"role": "assistant"})]
    for piece in ("91 = 7", " x 13."):
        stream.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": piece}}}))
    stream += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig-9"}}}),
               event("contentBlockStop", {"contentBlockIndex": 0}),
               event("contentBlockDelta", {"contentBlockIndex": 1,
                                           "delta": {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}}}),
               event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "No."}}),
               event("messageStop", {"stopReason": "end_turn"}),
               event("metadata", {"usage": {"inputTokens": 20, "outputTokens": 50, "totalTokens": 70},
                                  "metrics": {"latencyMs": 1}})]
    decoder = adapter.StreamDecoder(CLAUDE, True)
    chunks = run_decoder(decoder, EventStreamParser().feed(b"".join(stream)))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "91 = 7 x 13."
    assert [b for d in deltas for b in d.get("thinking_blocks", ())] == [
        {"type": "thinking", "thinking": "", "signature": "sig-9"}, BLOCKS[1]]
    assert reassemble(chunks)["choices"][0]["message"]["content"] == "No." and decoder.done
