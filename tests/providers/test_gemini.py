"""Gemini translator: request, response, stream and errors, against documented shapes."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.providers import adapter_for
from gateway.providers.gemini import adapter as gemini
from gateway.providers.gemini.schema import clean_schema
from gateway.providers import StreamError
from tests.providers.helpers import (debug_log, deployment, events, golden_bytes, golden_json, reassemble,
                                     run_decoder, stream_matches_body)

DEP = deployment("gemini", "gemini-2.5-flash", "https://generativelanguage.googleapis.com", api_key="AIza-test")
WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                   "properties": {"location": {"type": "string"},
                                  "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]}},
                   "required": ["location"], "additionalProperties": False}}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


def body_of(chat: dict, stream: bool = False, dep=DEP) -> dict:
    return orjson.loads(gemini.to_upstream(chat, dep, stream).body)


def test_registered() -> None:
    assert adapter_for("gemini") is gemini


# ------------------------------------------------------------------------------------- request

def test_urls_and_headers() -> None:
    chat = {"model": "x", "messages": [{"role": "user", "content": "Hi"}]}
    req = gemini.to_upstream(chat, DEP, False)
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers == {"content-type": "application/json", "x-goog-api-key": "AIza-test"}
    req = gemini.to_upstream(chat, DEP, True)
    assert req.url == ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
                       ":streamGenerateContent?alt=sse")
    assert orjson.loads(req.body) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    dep = deployment("gemini", "models/gemini-2.0-flash", "http://127.0.0.1:9100/v1beta", api_key=None)
    req = gemini.to_upstream(chat, dep, False)
    assert req.url == "http://127.0.0.1:9100/v1beta/models/gemini-2.0-flash:generateContent"
    assert "x-goog-api-key" not in req.headers


def test_system_instruction_and_multi_turn() -> None:
    body = body_of({"messages": [
        {"role": "system", "content": "You are a cat."},
        {"role": "developer", "content": "Your name is Neko."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Meow."},
        {"role": "user", "content": "What is your name?"},
        {"role": "user", "content": [{"type": "text", "text": "Answer briefly."}]},
    ]})
    assert body["systemInstruction"] == {"parts": [{"text": "You are a cat.\n\nYour name is Neko."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Meow."}]},
        {"role": "user", "parts": [{"text": "What is your name?"}, {"text": "Answer briefly."}]},
    ]


def test_images_inline_and_file_uri() -> None:
    body = body_of({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/cat.webp"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/render?id=3"}},
    ]}]})
    assert body["contents"][0]["parts"] == [
        {"text": "Describe."},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/photos/cat.webp"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render?id=3"}},
    ]
    with pytest.raises(GatewayError):
        body_of({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///x"}}]}]})


def test_tools_schema_cleaning_and_tool_config() -> None:
    body = body_of({"messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER,
                    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}],
                    "tool_choice": "auto"})
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "get_current_weather", "description": "Get the current weather in a given location",
         "parameters": {"type": "object",
                        "properties": {"location": {"type": "string"},
                                       "unit": {"type": "string", "nullable": True,
                                                "enum": ["celsius", "fahrenheit", None]}},
                        "required": ["location"]}},
        {"name": "now"},
    ]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ("none", {"mode": "NONE"}),
    ({"type": "function", "function": {"name": "get_current_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}),
])
def test_tool_choice(choice, expected) -> None:
    body = body_of({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "tool_choice": choice})
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_clean_schema_refs_const_and_property_names() -> None:
    schema = {"type": "object", "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
              "properties": {"additionalProperties": {"type": "string"},  # a property with that name stays
                             "unit": {"$ref": "#/$defs/Unit", "description": "unit"},
                             "kind": {"const": "weather"},
                             "tags": {"type": "array", "items": {"type": "string", "additionalProperties": False}},
                             "any": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
              "additionalProperties": False}
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {"additionalProperties": {"type": "string"},
                       "unit": {"type": "string", "enum": ["c", "f"], "description": "unit"},
                       "kind": {"enum": ["weather"]},
                       "tags": {"type": "array", "items": {"type": "string"}},
                       "any": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}}


def test_tool_calls_and_results_round_trip() -> None:
    body = body_of({"messages": [
        {"role": "user", "content": "Weather in Boston and Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_A_0", "type": "function", "extra_content": {"google": {"thought_signature": "sig=="}},
             "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Boston, MA\"}"}},
            {"id": "call_A_1", "type": "function",
             "function": {"name": "lookup_city", "arguments": "{\"city\": \"Paris\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_A_0", "content": "{\"temperature\": 20, \"unit\": \"C\"}"},
        {"role": "tool", "tool_call_id": "call_A_1", "content": "Paris, France"},
    ], "tools": [WEATHER]})
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_current_weather", "args": {"location": "Boston, MA"}}, "thoughtSignature": "sig=="},
        {"functionCall": {"name": "lookup_city", "args": {"city": "Paris"}}},
    ]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_current_weather", "response": {"temperature": 20, "unit": "C"}}},
        {"functionResponse": {"name": "lookup_city", "response": {"result": "Paris, France"}}},
    ]}


def test_tool_result_without_matching_call_is_400() -> None:
    with pytest.raises(GatewayError) as info:
        body_of({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_9", "content": "1"}]})
    assert info.value.status == 400


def test_generation_config() -> None:
    body = body_of({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100, "max_completion_tokens": 200,
                    "temperature": 0.2, "top_p": 0.8, "stop": "END", "n": 2, "seed": 5,
                    "response_format": {"type": "json_object"}, "logit_bias": {"1": 2}, "user": "u1"})
    assert body["generationConfig"] == {"maxOutputTokens": 200, "temperature": 0.2, "topP": 0.8, "seed": 5,
                                        "stopSequences": ["END"], "candidateCount": 2,
                                        "responseMimeType": "application/json"}
    assert "logit_bias" not in body and "user" not in body
    assert "generationConfig" not in body_of({"messages": [{"role": "user", "content": "x"}], "n": 1})
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    body = body_of({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"],
                    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}})
    assert body["generationConfig"] == {"stopSequences": ["a", "b"], "responseMimeType": "application/json",
                                        "responseSchema": {"type": "object", "properties": {"a": {"type": "integer"}}}}


@pytest.mark.parametrize(("effort", "flash", "pro"), [("none", 0, 128), ("minimal", 0, 128), ("low", 1024, 1024),
                                                     ("medium", 4096, 4096), ("high", 16384, 16384),
                                                     ("xhigh", 24576, 32768)])
def test_reasoning_effort_is_a_thinking_budget(effort, flash, pro) -> None:
    chat = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": effort, "temperature": 0.4}
    config = body_of(chat)["generationConfig"]
    assert config == {"temperature": 0.4, "thinkingConfig": {"thinkingBudget": flash}}
    pro_dep = deployment("gemini", "gemini-2.5-pro", "https://generativelanguage.googleapis.com", api_key="AIza-test")
    assert body_of(chat, dep=pro_dep)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": pro}


def test_thinking_budget_stays_below_max_output_tokens_and_bad_effort_is_400() -> None:
    config = body_of({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high",
                      "max_tokens": 2000})["generationConfig"]
    assert config == {"maxOutputTokens": 2000, "thinkingConfig": {"thinkingBudget": 1999}}
    assert "generationConfig" not in body_of({"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(GatewayError) as info:
        body_of({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": ["high"]})
    assert info.value.status == 400 and info.value.param == "reasoning_effort"


# ------------------------------------------------------------------------------------ response

def test_text_response_with_thinking_usage() -> None:
    body, usage = gemini.from_upstream(golden_bytes("gemini/response_text.json"), DEP)
    assert body["id"] == "chatcmpl-mpVRaKLWCouTxN8P2JrSyQE" and body["object"] == "chat.completion"
    assert body["model"] == "gemini-2.5-flash"
    assert body["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "stop", "message": {
        "role": "assistant",
        "content": "In a quiet workshop, a small robot named Bolt discovered an old paintbrush and began to paint."}}]
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 21 + 1205, "total_tokens": 1235,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 1205}}
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens, usage.reported) == (9, 1226, 1205, True)


def test_function_call_response() -> None:
    body, usage = gemini.from_upstream(golden_bytes("gemini/response_function_call.json"), DEP)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look that up."
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_Y8xPaOfTD5-fmecPr7-X0Q4_0", "call_Y8xPaOfTD5-fmecPr7-X0Q4_1"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"location": "Boston, MA"}, {"location": "Paris, France", "unit": "celsius"}]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": "CiQBVKhc7ZQ2sig1"}}
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (310, 256, 42)
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 256


def test_candidates_and_finish_reasons() -> None:
    body, _ = gemini.from_upstream(golden_bytes("gemini/response_candidates.json"), DEP)
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "Red.", "stop"), (1, "Blue, probably", "length")]


def test_safety_and_blocked_prompt() -> None:
    body, _ = gemini.from_upstream(golden_bytes("gemini/response_safety.json"), DEP)
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["content"] == ""
    body, usage = gemini.from_upstream(golden_bytes("gemini/response_prompt_blocked.json"), DEP)
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": None,
                                "finish_reason": "content_filter"}]
    assert usage.prompt_tokens == 14


@pytest.mark.parametrize("reason,expected", [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                             ("RECITATION", "content_filter"), ("BLOCKLIST", "content_filter"),
                                             ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")])
def test_finish_reason_mapping(reason, expected) -> None:
    doc = golden_json("gemini/response_text.json")
    doc["candidates"][0]["finishReason"] = reason
    assert gemini.from_upstream(orjson.dumps(doc), DEP)[0]["choices"][0]["finish_reason"] == expected


@pytest.mark.parametrize("data", [b"<html>", b"[1, 2]", b'{"foo": 1}'])
def test_malformed_body(data) -> None:
    with pytest.raises(ValueError):
        gemini.from_upstream(data, DEP)


# -------------------------------------------------------------------------------------- stream

@pytest.mark.parametrize("name", ["text", "function_call", "candidates"])
def test_stream_equals_non_streamed(name) -> None:
    stream_matches_body(gemini, DEP, f"gemini/stream_{name}.sse", f"gemini/response_{name}.json")


def test_stream_tool_call_deltas() -> None:
    chunks = run_decoder(gemini.StreamDecoder(DEP, False), events("gemini/stream_function_call.sse"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    tool_deltas = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
    assert tool_deltas[0] == {"index": 0, "id": "call_Y8xPaOfTD5-fmecPr7-X0Q4_0", "type": "function",
                              "function": {"name": "get_current_weather", "arguments": ""},
                              "extra_content": {"google": {"thought_signature": "CiQBVKhc7ZQ2sig1"}}}
    assert tool_deltas[1] == {"index": 0, "function": {"arguments": "{\"location\":\"Boston, MA\"}"}}
    assert tool_deltas[2]["index"] == 1 and tool_deltas[2]["id"] == "call_Y8xPaOfTD5-fmecPr7-X0Q4_1"
    assert not any(c.get("usage") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_done_waits_for_every_candidate() -> None:
    decoder = gemini.StreamDecoder(DEP, True)
    first, second = events("gemini/stream_candidates.sse")
    decoder.feed(*first)
    assert not decoder.done  # candidate 1 is still going
    frames = decoder.feed(*second)
    assert decoder.done
    assert orjson.loads(frames[-1][6:])["usage"]["completion_tokens"] == 6


def test_stream_thought_parts_are_skipped() -> None:
    decoder = gemini.StreamDecoder(DEP, False)
    data = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "Thinking about it", "thought": True},
                                                               {"text": "Answer"}], "role": "model"},
                                         "finishReason": "STOP"}], "responseId": "t1"})
    chunks = [orjson.loads(f[6:]) for f in decoder.feed(b"", data)]
    assert reassemble(chunks)["choices"][0]["message"]["content"] == "Answer"


def test_stream_blocked_prompt() -> None:
    decoder = gemini.StreamDecoder(DEP, True)
    frames = decoder.feed(b"", golden_bytes("gemini/response_prompt_blocked.json"))
    assert decoder.done
    streamed = reassemble([orjson.loads(f[6:]) for f in frames])
    assert streamed["choices"][0]["finish_reason"] == "content_filter"


def test_stream_error_chunk() -> None:
    decoder = gemini.StreamDecoder(DEP, True)
    first, error = events("gemini/stream_error.sse")
    assert decoder.feed(*first)
    with pytest.raises(StreamError) as info:
        decoder.feed(*error)
    assert info.value.code == "UNAVAILABLE" and "overloaded" in str(info.value)


def test_stream_cut_short_estimates_output() -> None:
    decoder = gemini.StreamDecoder(DEP, True)
    decoder.feed(b"", orjson.dumps({"candidates": [{"content": {"parts": [{"text": "x" * 40}]}}], "responseId": "c"}))
    decoder.finish()
    assert not decoder.done and not decoder.usage.reported
    assert decoder.usage.completion_tokens == 11


def test_stream_garbage_is_value_error() -> None:
    with pytest.raises(ValueError):
        gemini.StreamDecoder(DEP, True).feed(b"", b"candidates: nope")


# -------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("key,status,client,retryable,code,retry_after", [
    ("resource_exhausted_429", 429, 429, True, "RESOURCE_EXHAUSTED", 37.0),
    ("invalid_argument_400", 400, 400, False, "INVALID_ARGUMENT", None),
    ("api_key_invalid_400", 400, 400, False, "INVALID_ARGUMENT", None),
    ("permission_denied_403", 403, 502, False, "PERMISSION_DENIED", None),
    ("not_found_404", 404, 404, False, "NOT_FOUND", None),
    ("internal_500", 500, 502, True, "INTERNAL", None),
    ("unavailable_503", 503, 502, True, "UNAVAILABLE", None),
])
def test_errors(key, status, client, retryable, code, retry_after) -> None:
    doc = golden_json("gemini/errors.json")[key]
    err = gemini.error_from_upstream(status, orjson.dumps(doc), {})
    assert (err.status, err.retryable, err.code, err.retry_after_s, err.upstream_status) == \
        (client, retryable, code, retry_after, status)
    assert err.message == doc["error"]["message"]


def test_retry_after_header_wins() -> None:
    data = orjson.dumps(golden_json("gemini/errors.json")["resource_exhausted_429"])
    assert gemini.error_from_upstream(429, data, {"retry-after": "5"}).retry_after_s == 5.0


def test_dropped_fields_are_logged(monkeypatch) -> None:
    seen = debug_log(monkeypatch)
    body_of({"messages": [{"role": "user", "content": "x"}], "user": "u", "logprobs": True, "seed": 3})
    assert seen == [("request_fields_dropped", {"provider": "gemini", "fields": ["logprobs", "user"]})]
