"""Anthropic Messages translator: request, response, stream and errors, against documented shapes."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.providers import adapter_for
from gateway.providers.anthropic import adapter as anthropic
from gateway.providers.anthropic.structured import JSON_TOOL
from gateway.providers import StreamError
from tests.providers.helpers import (debug_log, deployment, events, golden_bytes, golden_json, run_decoder,
                                     stream_matches_body)

DEP = deployment("anthropic", "claude-sonnet-4-20250514", "https://api.anthropic.com", max_output_tokens=64000,
                 headers=(("anthropic-beta", "prompt-caching-2024-07-31"),))
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["location"]}}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


def body_of(chat: dict, stream: bool = False, dep=DEP) -> dict:
    req = anthropic.to_upstream(chat, dep, stream)
    return orjson.loads(req.body)


def test_registered() -> None:
    assert adapter_for("anthropic") is anthropic


# ------------------------------------------------------------------------------------- request

def test_url_headers_and_defaults() -> None:
    req = anthropic.to_upstream({"model": "x", "messages": [{"role": "user", "content": "Hi"}]}, DEP, False)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "sk-test-key"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "authorization" not in req.headers
    body = orjson.loads(req.body)
    assert body == {"model": "claude-sonnet-4-20250514", "max_tokens": 4096,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}


def test_base_url_with_v1_and_no_key() -> None:
    dep = deployment("anthropic", "claude", "http://127.0.0.1:9100/v1", api_key=None)
    req = anthropic.to_upstream({"model": "x", "messages": [{"role": "user", "content": "Hi"}]}, dep, True)
    assert req.url == "http://127.0.0.1:9100/v1/messages"
    assert "x-api-key" not in req.headers
    assert orjson.loads(req.body)["stream"] is True


def test_max_tokens_default_and_override() -> None:
    small = deployment("anthropic", "claude-3-haiku", "https://api.anthropic.com", max_output_tokens=1024)
    msgs = [{"role": "user", "content": "Hi"}]
    assert body_of({"messages": msgs}, dep=small)["max_tokens"] == 1024
    assert body_of({"messages": msgs})["max_tokens"] == 4096
    assert body_of({"messages": msgs, "max_tokens": 50})["max_tokens"] == 50
    assert body_of({"messages": msgs, "max_tokens": 50, "max_completion_tokens": 70})["max_tokens"] == 70


def test_system_and_developer_go_top_level() -> None:
    body = body_of({"messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
    ]})
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_multi_turn_merges_consecutive_roles() -> None:
    body = body_of({"messages": [
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": "Are you there?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Good."},
    ]})
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "Are you there?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Yes."}]},
        {"role": "user", "content": [{"type": "text", "text": "Good."}]},
    ]


def test_images_url_and_base64() -> None:
    body = body_of({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/a.jpg", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]


def test_bad_image_and_unknown_part_are_400() -> None:
    for part in ({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
                 {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
                 {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}):
        with pytest.raises(GatewayError) as info:
            body_of({"messages": [{"role": "user", "content": [part]}]})
        assert info.value.status == 400


def test_tools_tool_choice_and_tool_round_trip() -> None:
    chat = {
        "messages": [
            {"role": "user", "content": "Weather in SF and NYC?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\"}"}},
                {"id": "toolu_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\": \"New York, NY\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "15 degrees"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "22 degrees"}]},
            {"role": "user", "content": "Which is warmer?"},
        ],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    body = body_of(chat)
    assert body["tools"] == [{"name": "get_weather", "description": "Get the current weather in a given location",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"location": "New York, NY"}},
    ]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 degrees"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "22 degrees"}]},
        {"type": "text", "text": "Which is warmer?"},
    ]}
    assert len(body["messages"]) == 3


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"type": "auto"}),
    ("required", {"type": "any"}),
    ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_mapping(choice, expected) -> None:
    body = body_of({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "tool_choice": choice})
    assert body["tool_choice"] == expected


def test_parallel_tool_calls_false() -> None:
    body = body_of({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "parallel_tool_calls": False})
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_sampling_stop_user_and_unknown_fields_dropped() -> None:
    body = body_of({"messages": [{"role": "user", "content": "x"}], "stop": "END", "temperature": 0.3,
                    "top_p": 0.9, "user": "u-42", "frequency_penalty": 0.5, "seed": 7, "logprobs": True,
                    "stream_options": {"include_usage": True}})
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["metadata"] == {"user_id": "u-42"}
    for dropped in ("frequency_penalty", "seed", "logprobs", "stream_options", "user", "stop"):
        assert dropped not in body
    assert body_of({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"], "temperature": 1.7}) \
        ["stop_sequences"] == ["a", "b"]
    assert body_of({"messages": [{"role": "user", "content": "x"}], "temperature": 1.7})["temperature"] == 1.0


def test_n_greater_than_one_is_400() -> None:
    with pytest.raises(GatewayError) as info:
        body_of({"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert info.value.status == 400 and info.value.param == "n"
    assert body_of({"messages": [{"role": "user", "content": "x"}], "n": 1})["messages"]


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}}}
USER = [{"role": "user", "content": "x"}]


def test_json_mode_is_a_forced_tool() -> None:
    body = body_of({"messages": [{"role": "system", "content": "Be brief."}, *USER],
                    "response_format": {"type": "json_object"}})
    assert body["system"] == "Be brief."  # no instruction: the tool's schema says it
    assert body["tools"] == [{"name": JSON_TOOL, "description": body["tools"][0]["description"],
                              "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    body = body_of({"messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA, "strict": True}}})
    assert body["tools"][0]["input_schema"] == SCHEMA and body["tool_choice"]["name"] == JSON_TOOL
    assert "system" not in body
    plain = body_of({"messages": USER, "response_format": {"type": "text"}})
    assert "system" not in plain and "tools" not in plain


def test_json_mode_with_client_tools_or_a_non_object_schema_is_a_system_instruction() -> None:
    body = body_of({"messages": USER, "tools": [WEATHER], "response_format": {
        "type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}}})
    assert [t["name"] for t in body["tools"]] == ["get_weather"] and "tool_choice" not in body
    assert "JSON" in body["system"] and orjson.dumps(SCHEMA).decode() in body["system"]
    listed = {"type": "array", "items": {"type": "string"}}
    body = body_of({"messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "s", "schema": listed}}})
    assert "tools" not in body and orjson.dumps(listed).decode() in body["system"]


def test_json_tool_answer_is_content() -> None:
    answer, usage = anthropic.from_upstream(golden_bytes("anthropic/message_json_tool.json"), DEP)
    message = answer["choices"][0]["message"]
    assert orjson.loads(message["content"]) == {"city": "Paris", "temp": 21}
    assert "tool_calls" not in message and answer["choices"][0]["finish_reason"] == "stop"
    assert usage.completion_tokens == 40


def test_json_tool_stream_is_content() -> None:
    decoder = anthropic.StreamDecoder(DEP, True)
    chunks = run_decoder(decoder, events("anthropic/stream_json_tool.sse"))
    assert decoder.done
    assert not any(c["choices"] and c["choices"][0]["delta"].get("tool_calls") for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert orjson.loads(text) == {"city": "Paris", "temp": 21}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"] and chunks[-1]["usage"]["completion_tokens"] == 40


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_is_a_thinking_budget(effort, budget) -> None:
    body = body_of({"messages": USER, "reasoning_effort": effort, "temperature": 0.2, "top_k": 5, "top_p": 0.5})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 4096 + budget  # no client max_tokens: room for the answer too
    assert not {"temperature", "top_k", "top_p"} & set(body)


def test_thinking_budget_stays_below_max_tokens() -> None:
    body = body_of({"messages": USER, "reasoning_effort": "high", "max_tokens": 2000, "top_p": 0.97})
    assert body["max_tokens"] == 2000 and body["thinking"]["budget_tokens"] == 1999 and body["top_p"] == 0.97
    small = deployment("anthropic", "claude-3-haiku", "https://api.anthropic.com", max_output_tokens=4096)
    assert body_of({"messages": USER, "reasoning_effort": "high"}, dep=small)["thinking"]["budget_tokens"] == 4095
    for chat in ({"reasoning_effort": "high", "max_tokens": 1000}, {"reasoning_effort": "minimal"},
                 {"reasoning_effort": "none"}, {"reasoning_effort": "high", "response_format": {"type": "json_object"}},
                 {"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": "required"}):
        body = body_of({"messages": USER, "temperature": 0.3, **chat})
        assert "thinking" not in body and body["temperature"] == 0.3, chat


def test_unknown_reasoning_effort_is_400() -> None:
    with pytest.raises(GatewayError) as info:
        body_of({"messages": USER, "reasoning_effort": "max"})
    assert info.value.status == 400 and info.value.param == "reasoning_effort"


def test_bad_tool_arguments_are_400() -> None:
    with pytest.raises(GatewayError):
        body_of({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]})


# ------------------------------------------------------------------------------------ response

def test_text_response() -> None:
    body, usage = anthropic.from_upstream(golden_bytes("anthropic/message_text.json"), DEP)
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-01XFDUDYJgAACzvnptvVoYEL"
    assert body["model"] == "claude-sonnet-4-20250514"
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                                "finish_reason": "stop", "logprobs": None}]
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 0}}
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reported) == (12, 6, True)


def test_tool_use_response() -> None:
    body, _ = anthropic.from_upstream(golden_bytes("anthropic/message_tool_use.json"), DEP)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Okay, let's check the weather for San Francisco, CA:"
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}


def test_tool_only_response_has_null_content() -> None:
    doc = golden_json("anthropic/message_tool_use.json")
    doc["content"] = doc["content"][1:]
    body, _ = anthropic.from_upstream(orjson.dumps(doc), DEP)
    assert body["choices"][0]["message"]["content"] is None


def test_cached_usage_and_length() -> None:
    body, usage = anthropic.from_upstream(golden_bytes("anthropic/message_cached.json"), DEP)
    assert body["choices"][0]["finish_reason"] == "length"
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (21 + 188 + 1800, 1800, 10)
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 1800
    assert body["usage"]["total_tokens"] == 2019


@pytest.mark.parametrize("reason,expected", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                             ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                             ("refusal", "content_filter")])
def test_stop_reasons(reason, expected) -> None:
    doc = golden_json("anthropic/message_text.json")
    doc["stop_reason"] = reason
    assert anthropic.from_upstream(orjson.dumps(doc), DEP)[0]["choices"][0]["finish_reason"] == expected


@pytest.mark.parametrize("data", [b"not json", b"[]", b'{"type": "message"}'])
def test_malformed_body(data) -> None:
    with pytest.raises(ValueError):
        anthropic.from_upstream(data, DEP)


# -------------------------------------------------------------------------------------- stream

@pytest.mark.parametrize("name", ["text", "tool_use", "cached"])
def test_stream_equals_non_streamed(name) -> None:
    chunks = stream_matches_body(anthropic, DEP, f"anthropic/stream_{name}.sse", f"anthropic/message_{name}.json")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_stream_tool_deltas_shape() -> None:
    chunks = run_decoder(anthropic.StreamDecoder(DEP, False), events("anthropic/stream_tool_use.sse"))
    tool_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    first = tool_chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                     "function": {"name": "get_weather", "arguments": ""}}
    assert all(set(c["choices"][0]["delta"]["tool_calls"][0]) == {"index", "function"} for c in tool_chunks[1:])
    assert not any(c.get("usage") for c in chunks)  # include_usage false: no usage chunk
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_error_event() -> None:
    decoder = anthropic.StreamDecoder(DEP, True)
    transcript = events("anthropic/stream_error.sse")
    frames = []
    with pytest.raises(StreamError) as info:
        for event, data in transcript:
            frames.extend(decoder.feed(event, data))
    assert info.value.code == "overloaded_error" and str(info.value) == "Overloaded"
    assert not decoder.done
    assert len(frames) == 2  # role chunk + "Hel"


def test_stream_cut_short_estimates_output() -> None:
    decoder = anthropic.StreamDecoder(DEP, True)
    transcript = events("anthropic/stream_tool_use.sse")
    cut = [e for e in transcript if b"message_delta" not in e[1] and b"message_stop" not in e[1]]
    chunks = run_decoder(decoder, cut)
    assert not decoder.done
    assert not any(c["choices"] and c["choices"][0].get("finish_reason") for c in chunks)
    assert decoder.usage.prompt_tokens == 472 and decoder.usage.reported
    assert decoder.usage.completion_tokens > 2  # estimated from the characters streamed


def test_stream_garbage_is_value_error() -> None:
    with pytest.raises(ValueError):
        anthropic.StreamDecoder(DEP, True).feed(b"content_block_delta", b"{nope")


# -------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("key,status,client,retryable,code", [
    ("overloaded_529", 529, 502, True, "overloaded_error"),
    ("rate_limit_429", 429, 429, True, "rate_limit_error"),
    ("invalid_request_400", 400, 400, False, "invalid_request_error"),
    ("authentication_401", 401, 502, False, "authentication_error"),
    ("not_found_404", 404, 404, False, "not_found_error"),
    ("api_error_500", 500, 502, True, "api_error"),
])
def test_errors(key, status, client, retryable, code) -> None:
    data = orjson.dumps(golden_json("anthropic/errors.json")[key])
    headers = {"retry-after": "17"} if status == 429 else {}
    err = anthropic.error_from_upstream(status, data, headers)
    assert (err.status, err.retryable, err.code, err.upstream_status) == (client, retryable, code, status)
    assert err.message == golden_json("anthropic/errors.json")[key]["error"]["message"]
    assert err.retry_after_s == (17.0 if status == 429 else None)


def test_error_with_non_json_body() -> None:
    err = anthropic.error_from_upstream(502, b"<html>Bad Gateway</html>", {})
    assert err.retryable and err.status == 502 and "Bad Gateway" in err.message


def test_dropped_fields_are_logged(monkeypatch) -> None:
    seen = debug_log(monkeypatch)
    body_of({"messages": [{"role": "user", "content": "x"}], "seed": 1, "logit_bias": {}, "temperature": 0})
    assert seen == [("request_fields_dropped", {"provider": "anthropic", "fields": ["logit_bias", "seed"]})]
    seen.clear()
    body_of({"messages": [{"role": "user", "content": "x"}], "temperature": 0})
    assert seen == []
