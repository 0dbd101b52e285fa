"""The Bedrock Converse adapter alone: request translation, answers, errors, the binary event
stream's framing (CRCs checked) and the stream decoder."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.pricing import cost_micro
from gateway.providers.base import StreamError
from gateway.providers.bedrock import adapter
from gateway.providers.bedrock.eventstream import EventStreamParser, parse_headers
from gateway.providers.json_mode import JSON_TOOL, JSON_TOOL_DESCRIPTION
from tests.providers.helpers import deployment, reassemble, run_decoder

DEP = deployment("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "https://bedrock-runtime.us-east-1.amazonaws.com",
                 api_key="brk-key")
PNG = "iVBORw0KGgo="
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def body_of(chat: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    return orjson.loads(adapter.to_upstream(chat, DEP, stream).body)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers, framed here independently of the gateway."""
    head = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
                    for k, v in headers.items())
    prelude = struct.pack(">II", 16 + len(head) + len(payload), len(head))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return message({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                   orjson.dumps(payload))


def test_request_translates_system_turns_images_and_inference_config() -> None:
    body = body_of({"model": "m", "max_completion_tokens": 300, "temperature": 0.2, "top_p": 0.9, "stop": "END",
                    "seed": 7, "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                     {"type": "image_url",
                                                      "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
                        {"role": "user", "content": "And quickly."}]})
    assert body["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert body["messages"] == [{"role": "user", "content": [
        {"text": "What is this?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}, {"text": "And quickly."}]}]
    assert body["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert "seed" not in body and "model" not in body
    req = adapter.to_upstream({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, DEP, True)
    assert req.url == ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                       "anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")


def test_request_translates_tools_calls_and_results() -> None:
    chat = {"model": "m", "tools": [WEATHER], "tool_choice": "required", "messages": [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "tooluse_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "tooluse_2", "content": [{"type": "text", "text": "9C"}]}]}
    body = body_of(chat)
    assert body["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Weather in a city",
        "inputSchema": {"json": WEATHER["function"]["parameters"]}}}], "toolChoice": {"any": {}}}
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {"city": "Oslo"}}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "9C"}]}}]}
    named = body_of({**chat, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})
    assert named["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    assert body_of({**chat, "tool_choice": "auto"})["toolConfig"]["toolChoice"] == {"auto": {}}
    fresh = {"model": "m", "tools": [WEATHER], "tool_choice": "none", "messages": [{"role": "user", "content": "hi"}]}
    assert "toolConfig" not in body_of(fresh)  # Converse has no "none": the tools are not offered


@pytest.mark.parametrize("chat, param", [
    ({"n": 2}, "n"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "messages[0].tool_call_id"),
])
def test_what_converse_cannot_take_is_a_400(chat: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as err:
        adapter.to_upstream({"model": "m", "messages": [{"role": "user", "content": "hi"}], **chat}, DEP, False)
    assert err.value.status == 400 and err.value.param == param


ANSWER = {"output": {"message": {"role": "assistant", "content": [
    {"text": "Let me look."}, {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather", "input": {"city": "Oslo"}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 1120,
                                        "cacheReadInputTokens": 1000}, "metrics": {"latencyMs": 321}}


def test_answer_becomes_a_chat_completion_with_usage_and_cache() -> None:
    body, usage = adapter.from_upstream(orjson.dumps(ANSWER), DEP)
    msg = body["choices"][0]["message"]
    assert msg["content"] == "Let me look."
    assert msg["tool_calls"] == [{"id": "tooluse_9", "type": "function",
                                  "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (1100, 20, 1000)
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 1000
    # 100 fresh x $1/M + 1000 cached x $0.10/M + 20 out x $2/M = 240 micro-dollars
    assert cost_micro(usage, DEP.price) == 240


@pytest.mark.parametrize("reason, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                            ("content_filtered", "content_filter"),
                                            ("guardrail_intervened", "content_filter")])
def test_stop_reasons(reason: str, finish: str) -> None:
    doc = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": reason,
           "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}
    assert adapter.from_upstream(orjson.dumps(doc), DEP)[0]["choices"][0]["finish_reason"] == finish


def test_a_body_that_is_not_an_answer_is_malformed() -> None:
    with pytest.raises(ValueError):
        adapter.from_upstream(b'{"message": "hi"}', DEP)


@pytest.mark.parametrize("status, kind, client, retryable", [
    (429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", 429, True),
    (400, "ValidationException", 400, False),
    (403, "AccessDeniedException", 502, False),
    (503, "ServiceUnavailableException", 502, True),
    (429, "ModelNotReadyException", 429, True),
    (424, "ModelErrorException", 502, False),
])
def test_errors_keep_the_type_and_say_if_retryable(status: int, kind: str, client: int, retryable: bool) -> None:
    err = adapter.error_from_upstream(status, b'{"message":"Too many requests, please wait."}',
                                      {"x-amzn-errortype": kind})
    assert (err.status, err.retryable, err.upstream_status) == (client, retryable, status)
    assert err.code == kind.split(":")[0]
    assert err.message == "Too many requests, please wait."


def test_error_type_from_the_body_when_the_header_is_missing() -> None:
    err = adapter.error_from_upstream(400, b'{"__type":"com.amazon.coral#ValidationException","Message":"bad"}', {})
    assert (err.code, err.message, err.status) == ("ValidationException", "bad", 400)


STREAM = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let "}, "p": "abc"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "me look."}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_9",
                                                                              "name": "get_weather"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Oslo"}'}}}),
    event("contentBlockStop", {"contentBlockIndex": 1}),
    event("messageStop", {"stopReason": "tool_use"}),
    event("metadata", {"usage": ANSWER["usage"], "metrics": {"latencyMs": 300}}),
]


@pytest.mark.parametrize("split", [1, 5, 64, 100_000])
def test_event_stream_framing_in_any_chunking(split: int) -> None:
    raw = b"".join(STREAM)
    parser = EventStreamParser()
    events = [e for i in range(0, len(raw), split) for e in parser.feed(raw[i:i + split])]
    assert [name for name, _ in events] == [b"messageStart", b"contentBlockDelta", b"contentBlockDelta",
                                            b"contentBlockStop", b"contentBlockStart", b"contentBlockDelta",
                                            b"contentBlockDelta", b"contentBlockStop", b"messageStop", b"metadata"]
    assert orjson.loads(events[1][1])["delta"] == {"text": "Let "}


@pytest.mark.parametrize("where", [5, 20, -2])  # the prelude, a header, the message CRC
def test_a_corrupt_byte_fails_a_crc(where: int) -> None:
    raw = bytearray(STREAM[1])
    raw[where] ^= 0x01
    with pytest.raises(ValueError, match="CRC"):
        EventStreamParser().feed(bytes(raw))


def test_header_value_types() -> None:
    data = (b"\x01a\x00" + b"\x01b\x01" + b"\x01c\x02\xff" + b"\x01d\x04\x00\x00\x01\x00" +
            b"\x01e\x06\x00\x02hi" + b"\x01f\x08" + (1000).to_bytes(8, "big") + b"\x01g\x09" + bytes(16))
    assert parse_headers(data) == {"a": True, "b": False, "c": -1, "d": 256, "e": b"hi", "f": 1000, "g": bytes(16)}


def _decode(stream: list[bytes]) -> tuple[Any, list[dict[str, Any]]]:
    decoder = adapter.StreamDecoder(DEP, include_usage=True)
    parser = EventStreamParser()
    return decoder, run_decoder(decoder, parser.feed(b"".join(stream)))


def test_stream_is_the_answer_in_chunks() -> None:
    decoder, chunks = _decode(STREAM)
    assert decoder.done
    whole = reassemble(chunks)
    msg = whole["choices"][0]["message"]
    assert msg["content"] == "Let me look."
    assert msg["tool_calls"] == [{"id": "tooluse_9", "type": "function",
                                  "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
    assert whole["usage"]["prompt_tokens"] == 1100 and whole["usage"]["completion_tokens"] == 20
    assert decoder.usage.cached_tokens == 1000


def test_stream_without_metadata_is_still_whole_but_estimated() -> None:
    decoder, chunks = _decode(STREAM[:-1])
    assert decoder.done and not decoder.usage.reported and decoder.usage.completion_tokens > 0
    assert reassemble(chunks)["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_cut_before_message_stop_is_not_done() -> None:
    decoder, _ = _decode(STREAM[:4])
    assert not decoder.done


def test_exception_message_raises_stream_error() -> None:
    boom = message({":message-type": "exception", ":exception-type": "throttlingException",
                    ":content-type": "application/json"}, b'{"message":"Slow down"}')
    decoder = adapter.StreamDecoder(DEP, include_usage=False)
    frames = [f for name, data in EventStreamParser().feed(STREAM[0] + boom)[:1] for f in decoder.feed(name, data)]
    assert frames
    (name, data), = EventStreamParser().feed(boom)
    with pytest.raises(StreamError) as err:
        decoder.feed(name, data)
    assert err.value.code == "throttlingException" and "Slow down" in str(err.value)


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_json_mode_is_one_forced_tool_whose_input_is_the_answer() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}}
    body = body_of({"messages": [{"role": "user", "content": "Oslo?"}], "response_format": fmt})
    assert body["toolConfig"] == {"tools": [{"toolSpec": {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION,
                                                          "inputSchema": {"json": SCHEMA}}}],
                                  "toolChoice": {"tool": {"name": JSON_TOOL}}}
    assert "system" not in body
    # with tools of the client's own, or a root that is not an object: asked for in the system prompt
    body = body_of({"messages": [{"role": "user", "content": "Oslo?"}], "tools": [WEATHER], "response_format": fmt})
    assert [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]] == ["get_weather"]
    assert "JSON" in body["system"][-1]["text"] and '"city"' in body["system"][-1]["text"]
    listing = {"type": "json_schema", "json_schema": {"name": "l", "schema": {"type": "array"}}}
    body = body_of({"messages": [{"role": "user", "content": "Oslo?"}], "response_format": listing})
    assert "toolConfig" not in body and "JSON" in body["system"][-1]["text"]
    # the answer: the tool's input is the content, the finish is "stop"
    answer = {"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t1", "name": JSON_TOOL, "input": {"city": "Oslo"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 3}}
    out, _ = adapter.from_upstream(orjson.dumps(answer), DEP)
    assert orjson.loads(out["choices"][0]["message"]["content"]) == {"city": "Oslo"}
    assert "tool_calls" not in out["choices"][0]["message"] and out["choices"][0]["finish_reason"] == "stop"
    # streamed: the input's fragments are content deltas
    transcript = [(b"messageStart", orjson.dumps({"role": "assistant"})),
                  (b"contentBlockStart", orjson.dumps({"contentBlockIndex": 0, "start": {
                      "toolUse": {"toolUseId": "t1", "name": JSON_TOOL}}})),
                  (b"contentBlockDelta", orjson.dumps({"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"ci'}}})),
                  (b"contentBlockDelta", orjson.dumps({"contentBlockIndex": 0, "delta": {"toolUse": {"input": 'ty":"Oslo"}'}}})),
                  (b"contentBlockStop", orjson.dumps({"contentBlockIndex": 0})),
                  (b"messageStop", orjson.dumps({"stopReason": "tool_use"})),
                  (b"metadata", orjson.dumps({"usage": {"inputTokens": 5, "outputTokens": 3}}))]
    whole = reassemble(run_decoder(adapter.StreamDecoder(DEP, True), transcript))
    assert orjson.loads(whole["choices"][0]["message"]["content"]) == {"city": "Oslo"}
    assert not whole["choices"][0]["message"].get("tool_calls") and whole["choices"][0]["finish_reason"] == "stop"
