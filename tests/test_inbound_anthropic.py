"""The Anthropic Messages translator alone: request → canonical body, canonical answers and
frames → messages and events (read back by the `anthropic` SDK's own stream accumulator), the
same-format pass-through to the Anthropic adapter, and its removal for every other format."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from gateway.errors import GatewayError, rate_limited, unauthorized, upstream_failed
from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.anthropic.reply import error_body, message_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.inbound.anthropic.stream import MessagesStream
from gateway.providers.base import NATIVE, for_format
from gateway.net.sse import SSEParser
from gateway.providers import adapter_for
from gateway.providers import anthropic as anthropic_adapter
from gateway.providers import openai as openai_adapter
from gateway.providers.registry import ADAPTERS
from tests.providers.helpers import deployment

PNG = "iVBORw0KGgo="
CLIENT_BODY: dict[str, Any] = {
    "model": "auto", "max_tokens": 300, "stream": True, "top_k": 5,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "metadata": {"user_id": "user-7"}, "stop_sequences": ["END"], "temperature": 0.5,
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"},
               "cache_control": {"type": "ephemeral"}},
              {"type": "web_search_20250305", "name": "web_search"}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
             "title": "a.pdf"}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
                {"type": "text", "text": "timeout"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
            {"type": "text", "text": "Try again", "cache_control": {"type": "ephemeral"}}]},
        {"role": "system", "content": "Reminder: be brief."},
    ],
}


def test_request_maps_to_the_canonical_body() -> None:
    body = to_canonical(copy.deepcopy(CLIENT_BODY))
    assert body["model"] == "auto" and body["max_completion_tokens"] == 300
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["user"] == "user-7" and body["stop"] == ["END"] and body["temperature"] == 0.5
    assert "top_k" not in body  # Anthropic-only: native only
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}  # a hint (base.HINTS)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object"}, "description": "Weather"},
        "cache_control": {"type": "ephemeral"}}]
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is False
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user", "system"]
    assert messages[0]["content"] == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Weather in Paris?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}]
    assert messages[2] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
        "thinking_blocks": [{"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"}]}
    assert messages[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: timeout"}
    assert messages[4]["content"][0]["type"] == "image_url"  # the result's image follows it
    assert messages[4]["content"][1] == {"type": "text", "text": "Try again", "cache_control": {"type": "ephemeral"}}
    assert messages[5] == {"role": "system", "content": "Reminder: be brief."}
    native = body[NATIVE]
    assert native["format"] == "anthropic" and native["headers"] == {} and native["hints"] is True
    assert native["body"] == {k: v for k, v in CLIENT_BODY.items() if k not in ("model", "max_tokens", "stream")}


def test_parse_validates_through_the_canonical_checks() -> None:
    chat = AnthropicMessages().parse(orjson.dumps({"model": "auto", "max_tokens": 10, "messages": [
        {"role": "user", "content": "hi"}], "stream": True}))
    assert chat.stream and chat.include_usage and chat.max_tokens == 10 and chat.prompt_chars == 2


@pytest.mark.parametrize("body, where", [
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "auto", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "auto", "max_tokens": 10**9, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "auto", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "auto", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": 7}]}, "messages.0.content"),
    ({"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "content": "x"}]}]}, "messages.0.content.0.tool_use_id"),
    ({"model": "auto", "max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]},
     "temperature"),
    ({"model": "auto", "max_tokens": 5, "tool_choice": {"type": "maybe"}, "tools": [
        {"name": "t", "input_schema": {}}], "messages": [{"role": "user", "content": "x"}]}, "tool_choice.type"),
])
def test_bad_requests_name_the_field_in_anthropic_terms(body: dict[str, Any], where: str) -> None:
    inbound = AnthropicMessages()
    with pytest.raises(GatewayError) as exc:
        inbound.parse(orjson.dumps(body))
    assert exc.value.status == 400 and where in exc.value.message
    doc = orjson.loads(inbound.error_body(exc.value))
    assert doc == {"type": "error", "error": {"type": "invalid_request_error", "message": exc.value.message}}


@pytest.mark.parametrize("err, kind", [
    (unauthorized(), "authentication_error"), (rate_limited("slow down", 1000), "rate_limit_error"),
    (GatewayError(403, "no", "permission_error"), "permission_error"),
    (GatewayError(404, "no", "invalid_request_error"), "not_found_error"),
    (GatewayError(413, "big", "invalid_request_error"), "request_too_large"),
    (upstream_failed(502, "bad"), "api_error"), (upstream_failed(503, "none"), "overloaded_error"),
    (upstream_failed(504, "late"), "timeout_error"),
])
def test_errors_take_anthropic_types(err: GatewayError, kind: str) -> None:
    assert orjson.loads(error_body(err)) == {"type": "error", "error": {"type": kind, "message": err.message}}


def test_completion_becomes_a_message() -> None:
    completion = {"id": "chatcmpl-abc", "model": "gpt-5.4-mini", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Sure.", "reasoning_content": "hmm",
                    "tool_calls": [{"id": "call_1", "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 60}}}
    message = message_body(completion)
    assert message["id"] == "msg_abc" and message["model"] == "gpt-5.4-mini" and message["stop_reason"] == "tool_use"
    assert message["content"] == [{"type": "thinking", "thinking": "hmm", "signature": ""},
                                  {"type": "text", "text": "Sure."},
                                  {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert message["usage"] == {"input_tokens": 40, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 60, "output_tokens": 20}


def frame(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    chunk: dict[str, Any] = {"id": "chatcmpl-xyz", "object": "chat.completion.chunk", "model": "m",
                             "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def read_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(name.decode(), orjson.loads(body)) for name, body in SSEParser().feed(data)]


def accumulate(events: list[tuple[str, dict[str, Any]]]) -> Any:
    snapshot, buffers = None, {}
    for _, doc in events:
        if doc["type"] != "ping":
            snapshot = accumulate_event(event=doc, current_snapshot=snapshot, json_bufs=buffers)
    return snapshot


def test_stream_encoder_builds_blocks_the_sdk_reads() -> None:
    encoder = MessagesStream("auto")
    frames = [frame({"role": "assistant", "content": ""}), frame({"reasoning_content": "Let me"}),
              frame({"reasoning_content": " think."}),
              frame({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "sig-9"}]}),
              frame({"content": "Hello"}), frame({"content": " there."}),
              frame({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "get_weather", "arguments": ""}}]}),
              frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
              frame({"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]}),
              frame({}, "tool_calls"),
              frame(None, usage={"prompt_tokens": 50, "completion_tokens": 12})]
    data = b"".join(encoder.feed(f) for f in frames) + encoder.finish()
    events = read_events(data)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    assert [d["index"] for n, d in events if n == "content_block_start"] == [0, 1, 2]
    assert names.count("content_block_stop") == 3
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 12 and delta["usage"]["input_tokens"] == 50
    message = accumulate(events)
    assert message.content[0].type == "thinking" and message.content[0].thinking == "Let me think."
    assert message.content[0].signature == "sig-9"
    assert message.content[1].text == "Hello there."
    assert message.content[2].name == "get_weather" and message.content[2].input == {"city": "Rome"}
    assert message.usage.output_tokens == 12 and message.stop_reason == "tool_use"


def test_stream_without_usage_estimates_and_an_error_is_an_error_event() -> None:
    encoder = MessagesStream("auto")
    data = encoder.feed(frame({"content": "x" * 40}) + frame({}, "stop")) + encoder.finish()
    events = read_events(data)
    assert events[-2][1]["usage"]["output_tokens"] > 0 and events[-2][1]["delta"]["stop_reason"] == "end_turn"
    (name, doc), = read_events(MessagesStream("auto").error(upstream_failed(502, "cut", "upstream_stream_cut")))
    assert name == "error" and doc == {"type": "error", "error": {"type": "api_error", "message": "cut"}}


def test_same_format_passes_the_client_body_through() -> None:
    body = to_canonical(copy.deepcopy(CLIENT_BODY))
    body[NATIVE]["headers"] = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com",
                     headers=(("anthropic-beta", "operator-beta"),))
    upstream = anthropic_adapter.to_upstream(for_format(body, adapter_for("anthropic").native_format), dep, True)
    sent = orjson.loads(upstream.body)
    expected = {k: v for k, v in CLIENT_BODY.items() if k not in ("model", "max_tokens", "stream")}
    assert {k: v for k, v in sent.items() if k not in ("model", "max_tokens", "stream")} == expected
    assert sent["model"] == "claude-sonnet-4-6" and sent["max_tokens"] == 300 and sent["stream"] is True
    assert upstream.headers["anthropic-beta"] == "operator-beta,interleaved-thinking-2025-05-14"
    assert NATIVE.encode() not in upstream.body


def test_claude_on_vertex_gets_the_client_body_too() -> None:
    """Claude Code pointed at a vertex_anthropic model keeps its thinking, cache points and server tools."""
    body = to_canonical(copy.deepcopy(CLIENT_BODY))
    body[NATIVE]["headers"] = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    vertex = adapter_for("vertex_anthropic")
    assert for_format(body, vertex.native_format) is body
    dep = deployment("vertex_anthropic", "claude-sonnet-4-5@20250929", "https://us-east5-aiplatform.googleapis.com",
                     api_key="ya29.token")
    upstream = vertex.to_upstream(body, dep, True)
    sent = orjson.loads(upstream.body)
    expected = {k: v for k, v in CLIENT_BODY.items() if k not in ("model", "max_tokens", "stream")}
    assert {k: v for k, v in sent.items() if k not in ("max_tokens", "stream", "anthropic_version")} == expected
    assert "model" not in sent and sent["anthropic_version"] == "vertex-2023-10-16"
    assert upstream.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert NATIVE.encode() not in upstream.body


def test_claude_on_bedrock_gets_the_client_body_too() -> None:
    """Claude Code pointed at a bedrock_anthropic model (InvokeModel) keeps its thinking, cache
    points and server tools; its betas go in the body, as the anthropic SDK's Bedrock client sends them."""
    body = to_canonical(copy.deepcopy(CLIENT_BODY))
    body[NATIVE]["headers"] = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    bedrock = adapter_for("bedrock_anthropic")
    assert for_format(body, bedrock.native_format) is body
    dep = deployment("bedrock_anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                     "https://bedrock-runtime.us-east-1.amazonaws.com", api_key="brk-key")
    upstream = bedrock.to_upstream(body, dep, True)
    sent = orjson.loads(upstream.body)
    expected = {k: v for k, v in CLIENT_BODY.items() if k not in ("model", "max_tokens", "stream")}
    assert {k: v for k, v in sent.items() if k not in ("max_tokens", "anthropic_version", "anthropic_beta")} == expected
    assert "model" not in sent and "stream" not in sent and sent["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
    assert upstream.url.endswith("/invoke-with-response-stream") and NATIVE.encode() not in upstream.body


def test_other_formats_never_see_the_native_field() -> None:
    body = to_canonical(copy.deepcopy(CLIENT_BODY))
    others = [a for a in ADAPTERS.values() if a.native_format != "anthropic"]
    assert {a.name for a in others} >= {"openai", "azure", "gemini", "bedrock", "vertex_gemini"}
    for adapter in others:
        assert NATIVE not in for_format(body, adapter.native_format)
    assert for_format(body, "anthropic") is body
    plain = {"model": "m", "messages": []}
    assert for_format(plain, adapter_for("openai").native_format) is plain
    dep = deployment("openai", "gpt-5.4-mini", "https://api.openai.com/v1")
    sent = orjson.loads(openai_adapter.to_upstream(for_format(body, adapter_for("openai").native_format), dep, True).body)
    assert NATIVE not in sent and "cache_control" not in orjson.dumps(sent).decode()
    assert "thinking_blocks" not in orjson.dumps(sent).decode() and "thinking" not in sent
    original = copy.deepcopy(body)
    for adapter in others:  # the hints stay only for an adapter that reads them; the body is not changed
        seen = orjson.dumps(for_format(body, adapter.native_format, adapter.reads_hints)).decode()
        assert ("cache_control" in seen and "thinking_blocks" in seen) is adapter.reads_hints, adapter.name
    assert body == original and {a.name for a in others if a.reads_hints} == {"bedrock"}


def test_anthropic_thinking_reaches_the_canonical_answer_and_back() -> None:
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    upstream = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
                "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 30},
                "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig-a"},
                            {"type": "redacted_thinking", "data": "opaque"},
                            {"type": "text", "text": "Hi."}]}
    answer, _ = anthropic_adapter.from_upstream(orjson.dumps(upstream), dep)
    assert answer["choices"][0]["message"]["reasoning_content"] == "Hmm."
    assert message_body(answer)["content"] == upstream["content"]


def test_anthropic_stream_thinking_reaches_the_client_with_its_signature() -> None:
    dep = deployment("anthropic", "claude-sonnet-4-6", "https://api.anthropic.com")
    decoder = anthropic_adapter.StreamDecoder(dep, True)
    upstream = [
        {"type": "message_start", "message": {"id": "msg_2", "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Plan."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-b"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "zz"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Done."}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"}]
    frames = b"".join(f for e in upstream for f in decoder.feed(e["type"].encode(), orjson.dumps(e)))
    encoder = MessagesStream("auto")
    message = accumulate(read_events(encoder.feed(frames) + encoder.finish()))
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text"]
    assert message.content[0].thinking == "Plan." and message.content[0].signature == "sig-b"
    assert message.content[1].data == "zz" and message.content[2].text == "Done."
    assert message.usage.output_tokens == 7 and message.usage.input_tokens == 9


def test_parse_keeps_only_the_client_headers_an_anthropic_deployment_may_receive() -> None:
    raw = orjson.dumps({"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    chat = AnthropicMessages().parse(raw, {"anthropic-beta": "interleaved-thinking-2025-05-14",
                                           "x-api-key": "sk-ant-client", "authorization": "Bearer x"})
    assert chat.body[NATIVE]["headers"] == {"anthropic-beta": "interleaved-thinking-2025-05-14"}
