"""The `bedrock_anthropic` adapter alone (Claude through InvokeModel): the Messages body on
Bedrock's paths, auth as the `bedrock` format's, the event stream's base64 `chunk` events into the
Anthropic stream decoder, exceptions, and Bedrock's error answers."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
import pytest

from gateway.config import AwsAuth
from gateway.providers import StreamError, adapter_for
from gateway.providers.base import NATIVE, for_format
from gateway.providers.bedrock.eventstream import EventStreamParser
from tests.providers.helpers import deployment, reassemble, run_decoder
from tests.providers.test_bedrock import message

BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
DEP = deployment("bedrock_anthropic", MODEL, BASE, api_key="brk-key")
ADAPTER = adapter_for("bedrock_anthropic")
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
ANSWER = {"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
          "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig-1"},
                      {"type": "text", "text": "Let me look."},
                      {"type": "tool_use", "id": "toolu_bdrk_1", "name": "get_weather", "input": {"city": "Oslo"}}],
          "stop_reason": "tool_use", "stop_sequence": None,
          "usage": {"input_tokens": 100, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0,
                    "output_tokens": 20}}


def chunk(doc: dict[str, Any]) -> bytes:
    """One `chunk` event of InvokeModelWithResponseStream: the event's JSON, base64, in `bytes`."""
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(doc)).decode()})
    return message({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload)


STREAM = [
    chunk({"type": "message_start", "message": {**ANSWER, "content": [], "stop_reason": None,
                                                "usage": {**ANSWER["usage"], "output_tokens": 1}}}),
    chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
    chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "look."}}),
    chunk({"type": "content_block_stop", "index": 0}),
    chunk({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_bdrk_1",
                                                                        "name": "get_weather", "input": {}}}),
    chunk({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city":'}}),
    chunk({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}}),
    chunk({"type": "content_block_stop", "index": 1}),
    chunk({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}}),
    chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 1100, "outputTokenCount": 20, "invocationLatency": 900, "firstByteLatency": 300}}),
]


def test_request_is_the_messages_body_on_the_invoke_paths() -> None:
    chat = {"model": "m", "max_tokens": 300, "stop": ["END"], "tools": [WEATHER], "tool_choice": "auto",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Oslo?"}]}
    plain = ADAPTER.to_upstream(dict(chat), DEP, False)
    streamed = ADAPTER.to_upstream(dict(chat), DEP, True)
    quoted = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
    assert plain.url == f"{BASE}/model/{quoted}/invoke"
    assert streamed.url == f"{BASE}/model/{quoted}/invoke-with-response-stream"
    body = orjson.loads(plain.body)
    assert body == orjson.loads(streamed.body)  # the path says stream, not the body
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "model" not in body and "stream" not in body
    assert body["system"] == "Be brief." and body["max_tokens"] == 300 and body["stop_sequences"] == ["END"]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Oslo?"}]}]
    assert body["tools"][0]["name"] == "get_weather" and body["tool_choice"] == {"type": "auto"}
    assert "anthropic_beta" not in body
    assert plain.headers["authorization"] == "Bearer brk-key" and "x-api-key" not in plain.headers
    assert streamed.headers["accept"] == "application/json"  # as AnthropicBedrock sends it


def test_sigv4_signs_the_invoke_call_for_service_bedrock() -> None:
    provider = dataclasses.replace(DEP.provider, api_key=None, aws=AwsAuth("eu-west-1", "AKIDTEST", "secret-x"))
    dep = dataclasses.replace(DEP, provider=provider)
    req = ADAPTER.to_upstream({"messages": [{"role": "user", "content": "hi"}]}, dep, True)
    auth = req.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/") and "/eu-west-1/bedrock/aws4_request" in auth
    assert "secret-x" not in orjson.dumps(req.headers).decode()


def test_an_anthropic_clients_own_fields_and_betas_reach_bedrock() -> None:
    """Claude Code on a bedrock_anthropic model: its body as it came, betas as the body's list."""
    client = {"system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
              "thinking": {"type": "enabled", "budget_tokens": 2048},
              "tools": [{"type": "web_search_20250305", "name": "web_search"}],
              "messages": [{"role": "user", "content": "hi"},
                           {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                                             {"type": "text", "text": "yo"}]},
                           {"role": "user", "content": "again"}]}
    chat = {"model": "auto", "max_completion_tokens": 4096, "messages": [{"role": "user", "content": "hi"}],
            NATIVE: {"format": "anthropic", "body": client,
                     "headers": {"anthropic-beta": "interleaved-thinking-2025-05-14, context-1m-2025-08-07"}}}
    assert for_format(chat, ADAPTER.native_format) is chat
    req = ADAPTER.to_upstream(chat, DEP, True)
    body = orjson.loads(req.body)
    assert {k: body[k] for k in client} == client
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
    assert body["anthropic_version"] == "bedrock-2023-05-31" and NATIVE.encode() not in req.body
    assert "anthropic-beta" not in req.headers


def test_answer_is_anthropics_message() -> None:
    out, usage = ADAPTER.from_upstream(orjson.dumps(ANSWER), DEP)
    msg = out["choices"][0]["message"]
    assert msg["content"] == "Let me look." and msg["reasoning_content"] == "Hmm."
    assert msg["thinking_blocks"] == [ANSWER["content"][0]]
    assert msg["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (1100, 1000, 20)


@pytest.mark.parametrize("split", [1, 7, 100_000])
def test_stream_chunks_are_anthropic_events(split: int) -> None:
    raw = b"".join(STREAM)
    parser = EventStreamParser()
    transcript = [e for i in range(0, len(raw), split) for e in parser.feed(raw[i:i + split])]
    decoder = ADAPTER.StreamDecoder(DEP, True)
    whole = reassemble(run_decoder(decoder, transcript))
    assert decoder.done
    msg = whole["choices"][0]["message"]
    assert msg["content"] == "Let me look." and whole["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    # Anthropic's own usage is billed (Bedrock's invocation metrics ride along, unread)
    assert whole["usage"]["prompt_tokens"] == 1100 and whole["usage"]["completion_tokens"] == 20
    assert decoder.usage.cached_tokens == 1000 and decoder.usage.reported


def test_stream_cut_before_message_stop_is_not_done() -> None:
    decoder = ADAPTER.StreamDecoder(DEP, True)
    run_decoder(decoder, EventStreamParser().feed(b"".join(STREAM[:6])))
    assert not decoder.done


@pytest.mark.parametrize("kind", ["throttlingException", "modelStreamErrorException", "internalServerException",
                                  "validationException"])
def test_an_exception_message_ends_the_stream_with_an_error(kind: str) -> None:
    boom = message({":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"},
                   b'{"message":"Something broke"}')
    decoder = ADAPTER.StreamDecoder(DEP, False)
    events = EventStreamParser().feed(STREAM[0] + boom)
    assert decoder.feed(*events[0])
    with pytest.raises(StreamError) as err:
        decoder.feed(*events[1])
    assert err.value.code == kind and "Something broke" in str(err.value)


@pytest.mark.parametrize("payload", [b'{"nobytes": 1}', b'{"bytes": "%%%"}', b'{"bytes": "bm90IGpzb24="}', b"[1]"])
def test_a_malformed_chunk_is_a_malformed_stream(payload: bytes) -> None:
    with pytest.raises(ValueError):
        ADAPTER.StreamDecoder(DEP, False).feed(b"chunk", payload)


def test_errors_are_bedrocks() -> None:
    err = ADAPTER.error_from_upstream(429, b'{"message":"Too many requests"}',
                                      {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/"})
    assert (err.status, err.code, err.retryable, err.message) == (429, "ThrottlingException", True, "Too many requests")
    err = ADAPTER.error_from_upstream(400, b'{"message":"messages: roles must alternate"}',
                                      {"x-amzn-errortype": "ValidationException"})
    assert (err.status, err.type, err.retryable) == (400, "invalid_request_error", False)
