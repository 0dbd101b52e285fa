"""Gemini's thought signatures through the Anthropic Messages inbound alone: a thinking block with
the gateway's envelope just before each signed call of a whole and a streamed answer (of parallel
calls, the first only), the block sent back putting the signature on the call it names for
Gemini's adapters, and no other format (Claude's native body above all) seeing it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.anthropic.reply import message_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.inbound.anthropic.signatures import block, is_ours
from gateway.inbound.anthropic.stream import MessagesStream
from gateway.inbound.responses.signatures import PREFIX, opened
from gateway.providers import adapter_for
from gateway.providers.base import NATIVE, for_format
from gateway.providers.registry import ADAPTERS
from tests.providers.helpers import deployment
from tests.test_inbound_anthropic import accumulate, frame, read_events

SIGNED = {"extra_content": {"google": {"thought_signature": "c2lnLTE="}}}
CLAUDES = {"type": "thinking", "thinking": "Let me check.", "signature": "claude-sig"}  # Claude's own: kept


def _call(call_id: str, city: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": city}}


def _turn(*assistant: dict[str, Any]) -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 100, "messages": [
        {"role": "user", "content": "Weather in Lisbon and Porto?"},
        {"role": "assistant", "content": list(assistant)},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_a", "content": "21C"},
                                     {"type": "tool_result", "tool_use_id": "call_b", "content": "19C"}]}]}


def test_the_block_round_trips_and_is_not_claudes() -> None:
    sealed = block("call_a", "c2lnLTE=")
    assert is_ours(sealed) and not is_ours(CLAUDES) and sealed["thinking"] == ""
    assert opened(sealed["signature"]) == ("call_a", "c2lnLTE=")


def test_a_whole_answer_signs_the_first_of_parallel_calls_only() -> None:
    answer = {"id": "chatcmpl-1", "model": "gemini-3-flash", "choices": [{"index": 0, "finish_reason": "tool_calls",
              "message": {"role": "assistant", "content": None, "tool_calls": [
                  {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}, **SIGNED},
                  {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}}]}
    content = message_body(answer)["content"]
    assert [b["type"] for b in content] == ["thinking", "tool_use", "tool_use"]
    assert content[0] == block("call_a", "c2lnLTE=") and b"thought_signature" not in orjson.dumps(content[1:])


def test_a_streamed_signed_call_has_its_thinking_block_first() -> None:
    """As the Gemini decoder streams calls: the id, name and signature, then the arguments whole."""
    encoder = MessagesStream("gemini-3-flash")
    head = {"type": "function", "function": {"name": "get_weather", "arguments": ""}}
    raw = encoder.feed(frame({"role": "assistant", "content": "Checking."})
                       + frame({"tool_calls": [{"index": 0, "id": "call_a", **head, **SIGNED}]})
                       + frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Lisbon"}'}}]})
                       + frame({"tool_calls": [{"index": 1, "id": "call_b", **head}]})
                       + frame({"tool_calls": [{"index": 1, "function": {"arguments": '{"city":"Porto"}'}}]})
                       + frame({}, "tool_calls") + frame(usage={"prompt_tokens": 5, "completion_tokens": 9}))
    message = accumulate(read_events(raw + encoder.finish()))  # the anthropic SDK's own accumulator
    assert [b.type for b in message.content] == ["text", "thinking", "tool_use", "tool_use"]
    assert message.content[1].signature == block("call_a", "c2lnLTE=")["signature"]
    assert [b.input for b in message.content[2:]] == [{"city": "Lisbon"}, {"city": "Porto"}]


def test_a_block_sent_back_signs_its_call_for_gemini_only() -> None:
    body = to_canonical(_turn(CLAUDES, block("call_a", "c2lnLTE="), _call("call_a", "Lisbon"), _call("call_b", "Porto")))
    assistant = body["messages"][1]
    assert [c.get("extra_content") for c in assistant["tool_calls"]] == [SIGNED["extra_content"], None]
    assert assistant["thinking_blocks"] == [CLAUDES]  # Claude's own block stays a hint; ours is gone
    native = body[NATIVE]
    assert native["signatures"] is True and PREFIX.encode() not in orjson.dumps(native["body"])
    for name in ("gemini", "vertex_gemini"):
        adapter = adapter_for(name)
        sent = orjson.loads(adapter.to_upstream(for_format(body, adapter.native_format, adapter.reads_hints),
                                                deployment(name, "gemini-3-flash", "https://g.example"), False).body)
        parts = sent["contents"][1]["parts"]
        assert parts[0]["thoughtSignature"] == "c2lnLTE=" and "thoughtSignature" not in parts[1]
    for adapter in ADAPTERS.values():  # Claude (native body or hints), OpenAI, Bedrock...: no envelope, no signature
        if adapter.native_format == "gemini":
            continue
        seen = orjson.dumps(for_format(body, adapter.native_format, adapter.reads_hints))
        if adapter.native_format == "anthropic":
            seen = orjson.dumps(body[NATIVE]["body"])  # what the Anthropic-format adapters send
        assert PREFIX.encode() not in seen and b"c2lnLTE=" not in seen, adapter.name
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    sent = orjson.loads(adapter_for("anthropic").to_upstream(body, dep, False).body)
    assert sent["messages"][1]["content"] == [CLAUDES, _call("call_a", "Lisbon"), _call("call_b", "Porto")]


def test_a_damaged_block_is_a_400_naming_it() -> None:
    bad = {"type": "thinking", "thinking": "", "signature": PREFIX + "not base64!"}
    with pytest.raises(GatewayError) as err:
        AnthropicMessages().parse(orjson.dumps(_turn(bad, _call("call_a", "Lisbon"))))
    assert err.value.status == 400 and err.value.param == "messages.1.content.0.signature"
