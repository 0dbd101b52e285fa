"""The Gemini API translator alone: request bodies as google-genai itself serializes them →
canonical bodies; canonical answers, frames and errors → bodies read back by google-genai's own
response parsing."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from google import genai
from google.genai import _common, errors, types
from google.genai import models as sdk_models

from gateway.edge.asgi import HotPaths
from gateway.errors import GatewayError, rate_limited, unauthorized, upstream_failed
from gateway.inbound.gemini import GeminiGenerate
from gateway.inbound.gemini.embed import to_canonical as embed_canonical
from gateway.inbound.gemini.reply import error_body, response_body
from gateway.inbound.gemini.request import to_canonical
from gateway.inbound.gemini.stream import GeminiStream
from gateway.providers import adapter_for
from gateway.providers.base import NATIVE, for_format
from tests.providers.helpers import deployment

PNG = b"\x89PNG\r\n\x1a\n"
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather",
    parameters=types.Schema(type=types.Type.OBJECT, properties={
        "city": types.Schema(type=types.Type.STRING), "days": types.Schema(type=types.Type.INTEGER, nullable=True)},
        required=["city"]))
CLOCK = types.FunctionDeclaration(name="get_time", parameters_json_schema={"type": "object", "properties": {}})


def sdk_body(contents: Any, config: types.GenerateContentConfig | None = None, model: str = "auto") -> dict[str, Any]:
    """The request body google-genai sends for `generate_content(model, contents, config)`."""
    client = genai.Client(api_key="k")
    params = types._GenerateContentParameters(model=model, contents=contents, config=config)
    body = sdk_models._GenerateContentParameters_to_mldev(client._api_client, params, None, params)
    body.pop("_url", None)
    body.pop("config", None)
    return json.loads(json.dumps(_common.encode_unserializable_types(_common.convert_to_dict(body))))


def sdk_response(doc: dict[str, Any]) -> types.GenerateContentResponse:
    """A response body as google-genai parses it."""
    return types.GenerateContentResponse._from_response(
        response=sdk_models._GenerateContentResponse_from_mldev(doc, None, None), kwargs={})


def test_sdk_request_becomes_the_canonical_body() -> None:
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?"),
                                          types.Part.from_bytes(data=PNG, mime_type="image/png")]),
        types.Content(role="model", parts=[
            types.Part(text="Checking.", thought=True),
            types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}),
                       thought_signature=b"sig"),
            types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Lyon"}))]),
        types.Content(role="user", parts=[
            types.Part.from_function_response(name="get_weather", response={"temp": 18}),
            types.Part.from_function_response(name="get_weather", response={"temp": 21}),
            types.Part(text="And tomorrow?")]),
    ]
    config = types.GenerateContentConfig(
        system_instruction="Be brief.", temperature=0.5, top_p=0.9, top_k=20, max_output_tokens=300,
        stop_sequences=["END"], candidate_count=2, seed=7, safety_settings=[types.SafetySetting(
            category=types.HarmCategory.HARM_CATEGORY_HARASSMENT, threshold=types.HarmBlockThreshold.BLOCK_NONE)],
        tools=[types.Tool(function_declarations=[WEATHER, CLOCK])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_weather"])),
        thinking_config=types.ThinkingConfig(thinking_budget=0, include_thoughts=True))
    canonical, thoughts = to_canonical(sdk_body(history, config), "auto")
    assert thoughts is True
    messages = canonical.pop("messages")
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1]["content"][0] == {"type": "text", "text": "Weather in Paris?"}
    assert messages[1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assistant = messages[2]
    assert assistant["content"] is None  # the thought part is dropped
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"city": "Lyon"}
    assert assistant["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    assert messages[3:5] == [{"role": "tool", "tool_call_id": "call_1_0", "content": '{"temp":18}'},
                             {"role": "tool", "tool_call_id": "call_1_1", "content": '{"temp":21}'}]
    assert messages[5] == {"role": "user", "content": "And tomorrow?"}
    assert canonical["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "days": {"type": ["integer", "null"]}},
                       "required": ["city"]}}}]
    assert canonical["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert {k: canonical[k] for k in ("temperature", "top_p", "max_completion_tokens", "stop", "n", "seed",
                                      "reasoning_effort")} == {
        "temperature": 0.5, "top_p": 0.9, "max_completion_tokens": 300, "stop": ["END"], "n": 2, "seed": 7,
        "reasoning_effort": "minimal"}
    assert "top_k" not in canonical and "safety_settings" not in canonical


def test_function_ids_given_by_the_client_are_kept_and_checked() -> None:
    body = {"contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "abc", "name": "f", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "abc", "name": "f", "response": {"ok": True}}}]}]}
    messages = to_canonical(body, "m")[0]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == messages[2]["tool_call_id"] == "abc"
    body["contents"][2]["parts"][0]["functionResponse"]["id"] = "other"
    with pytest.raises(GatewayError) as exc:
        to_canonical(body, "m")
    assert exc.value.status == 400 and "contents[2].parts[0].functionResponse" in exc.value.message


@pytest.mark.parametrize("config, param", [
    (types.GenerateContentConfig(response_mime_type="application/json", response_schema=types.Schema(
        type=types.Type.OBJECT, properties={"n": types.Schema(type=types.Type.INTEGER)})), None),
    (types.GenerateContentConfig(response_mime_type="application/json"), None),
    (types.GenerateContentConfig(response_mime_type="text/x.enum"), "generationConfig.responseMimeType"),
    (types.GenerateContentConfig(response_modalities=["IMAGE"]), "generationConfig.responseModalities"),
    (types.GenerateContentConfig(temperature=3), "generationConfig.temperature"),
    (types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.HIGH)), None),
])
def test_generation_config_translated_or_refused(config: types.GenerateContentConfig, param: str | None) -> None:
    body = sdk_body("hello", config)
    if param is not None:
        with pytest.raises(GatewayError) as exc:
            to_canonical(body, "auto")
        assert exc.value.status == 400 and exc.value.param == param
        return
    canonical = to_canonical(body, "auto")[0]
    if config.response_schema is not None:
        assert canonical["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": {
            "type": "object", "properties": {"n": {"type": "integer"}}}}}
    elif config.response_mime_type:
        assert canonical["response_format"] == {"type": "json_object"}
    else:
        assert canonical["reasoning_effort"] == "high"


@pytest.mark.parametrize("body, where", [
    ({"contents": []}, "contents"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/x.pdf"}}]}]},
     "contents[0].parts[0].fileData"),
    ({"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
     "contents[0].parts[0].functionResponse"),
    ({"contents": [{"parts": [{"functionCall": {"name": "f", "args": {}}}]}]}, "contents[0].parts[0]"),
])
def test_what_would_change_the_meaning_is_a_400(body: dict[str, Any], where: str) -> None:
    with pytest.raises(GatewayError) as exc:
        to_canonical(body, "auto")
    assert exc.value.status == 400 and exc.value.param == where


def test_server_tools_and_other_parts_are_dropped_not_refused() -> None:
    body = {"contents": [{"parts": [{"text": "find it"}, {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}],
            "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}], "safetySettings": []}
    canonical = to_canonical(body, "auto")[0]
    assert [t["function"]["name"] for t in canonical["tools"]] == ["f"]
    assert canonical["messages"][0]["content"][1] == {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}


def test_a_gemini_deployment_gets_the_client_body_as_it_came() -> None:
    """What the canonical form drops (safety settings, server tools, thought parts, topK) still
    reaches Gemini and Vertex Gemini; only the output cap is the gateway's. Other formats never
    see the client's body."""
    history = [types.Content(role="user", parts=[types.Part(text="Search the news")]),
               types.Content(role="model", parts=[types.Part(text="thinking...", thought=True,
                                                             thought_signature=b"sig")]),
               types.Content(role="user", parts=[types.Part(text="and sum it up")])]
    config = types.GenerateContentConfig(
        top_k=20, max_output_tokens=5000, tools=[types.Tool(google_search=types.GoogleSearch())],
        safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                                             threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])
    body = sdk_body(history, config)
    chat = GeminiGenerate("gemini-2.5-flash").parse(orjson.dumps(body))
    for fmt in ("gemini", "vertex_gemini"):
        adapter = adapter_for(fmt)
        dep = deployment(fmt, "gemini-2.5-flash", "https://generativelanguage.googleapis.com", max_output_tokens=4096)
        sent = orjson.loads(adapter.to_upstream({**for_format(chat.body, adapter.native_format),
                                                 "max_completion_tokens": 4096}, dep, False).body)
        expected = {k: v for k, v in body.items() if k != "model"}
        assert {k: v for k, v in sent.items() if k != "generationConfig"} == \
            {k: v for k, v in expected.items() if k != "generationConfig"}
        config_sent = sent["generationConfig"]
        assert config_sent["topK"] == 20 and config_sent["maxOutputTokens"] == 4096  # the gateway's cap
        assert "max_output_tokens" not in config_sent and NATIVE.encode() not in orjson.dumps(sent)
    openai = adapter_for("openai")
    assert NATIVE not in for_format(chat.body, openai.native_format)
    assert NATIVE not in for_format(chat.body, adapter_for("anthropic").native_format)


CANONICAL = {
    "id": "chatcmpl-r1", "object": "chat.completion", "model": "gpt-5.4-mini",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check.", "reasoning_content": "They want weather.",
        "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "c2ln"}}}]}},
                {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Cut"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42,
              "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 10}},
}


@pytest.mark.parametrize("thoughts", [False, True])
def test_answer_is_read_by_the_sdk(thoughts: bool) -> None:
    response = sdk_response(response_body(CANONICAL, thoughts))
    assert response.response_id == "r1" and response.model_version == "gpt-5.4-mini"
    assert response.text == "Let me check."
    call = response.function_calls[0]
    assert (call.id, call.name, call.args) == ("call_9", "get_weather", {"city": "Paris"})
    parts = response.candidates[0].content.parts
    assert parts[-1].thought_signature == b"sig"
    assert [p.thought for p in parts if p.thought] == ([True] if thoughts else [])
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.candidates[1].finish_reason == types.FinishReason.MAX_TOKENS
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count,
            usage.cached_content_token_count, usage.total_token_count) == (12, 20, 10, 4, 42)


def frames(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps({"id": "chatcmpl-s1", "model": "m", **c}) + b"\n\n" for c in chunks)


STREAM = frames(
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                        "function": {"name": "f", "arguments": '{"a":'}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}},
)


def events(data: bytes) -> list[dict[str, Any]]:
    assert data.endswith(b"\r\n\r\n")
    return [json.loads(e[6:]) for e in data.split(b"\r\n\r\n") if e]


def test_stream_events_are_read_by_the_sdk() -> None:
    encoder = GeminiStream("m", sse=True, thoughts=False)
    out = b"".join(encoder.feed(frame + b"\n\n") for frame in STREAM.split(b"\n\n") if frame) + encoder.finish()
    responses = [sdk_response(doc) for doc in events(out)]
    assert "".join(r.text or "" for r in responses) == "Hello"
    last = responses[-1]
    assert last.function_calls[0].args == {"a": 1} and last.function_calls[0].id == "call_1"
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.total_token_count == 12 and last.usage_metadata.candidates_token_count == 7
    assert all(r.response_id == "s1" for r in responses)


def test_stream_without_alt_sse_is_one_json_array_and_errors_end_it() -> None:
    encoder = GeminiStream("m", sse=False, thoughts=False)
    doc = json.loads(encoder.feed(STREAM) + encoder.finish())
    assert isinstance(doc, list) and doc[-1]["candidates"][0]["finishReason"] == "STOP"
    cut = GeminiStream("m", sse=False, thoughts=False)
    doc = json.loads(cut.feed(STREAM.split(b"\n\n")[1] + b"\n\n") + cut.error(upstream_failed(502, "gone", "upstream_stream_cut")))
    assert doc[-1]["error"]["code"] == 502 and doc[-1]["error"]["status"] == "UNAVAILABLE"
    empty = GeminiStream("m", sse=False, thoughts=False)
    assert json.loads(empty.error(upstream_failed(504, "late")))[0]["error"]["status"] == "DEADLINE_EXCEEDED"


def test_stream_error_event_is_raised_by_the_sdk() -> None:
    event = events(GeminiStream("m", True, False).error(upstream_failed(502, "The upstream stream failed")))[0]
    assert json.dumps(event).startswith('{"error":')  # what google-genai looks for in each chunk
    with pytest.raises(errors.ServerError) as exc:
        errors.APIError.raise_error(event["error"]["code"], event, None)
    assert exc.value.code == 502 and exc.value.message == "The upstream stream failed"


@pytest.mark.parametrize("err, status", [
    (unauthorized(), "UNAUTHENTICATED"), (rate_limited("slow down", 2500), "RESOURCE_EXHAUSTED"),
    (GatewayError(404, "no model", "invalid_request_error", "model_not_found"), "NOT_FOUND"),
    (upstream_failed(503, "none left"), "UNAVAILABLE")])
def test_errors_in_googles_shape(err: GatewayError, status: str) -> None:
    doc = json.loads(error_body(err))
    assert doc["error"]["code"] == err.status and doc["error"]["status"] == status
    assert doc["error"]["message"] == err.message
    assert doc["error"]["details"][0]["reason"] == (err.code or err.type)
    if err.status == 429:
        assert doc["error"]["details"][1]["retryDelay"] == "3s"


def test_parse_sets_stream_and_usage_from_the_path() -> None:
    body = orjson.dumps({"contents": [{"parts": [{"text": "hi"}]}],
                         "generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
    chat = GeminiGenerate("claude-opus-4.7", streaming=True).parse(body)
    assert chat.model == "claude-opus-4.7" and chat.stream and chat.include_usage
    assert not GeminiGenerate("auto").parse(body).stream


def test_embed_requests_become_the_embeddings_body() -> None:
    one = {"content": {"parts": [{"text": "a"}, {"text": "b"}]}, "taskType": "RETRIEVAL_QUERY"}
    assert embed_canonical(orjson.dumps(one), "emb", batch=False) == {"model": "emb", "input": "a\nb"}
    batch = {"requests": [{"model": "models/emb", "content": {"parts": [{"text": "x"}]}, "outputDimensionality": 8},
                          {"model": "models/emb", "content": {"parts": [{"text": "y"}]}, "outputDimensionality": 8}]}
    assert embed_canonical(orjson.dumps(batch), "emb", batch=True) == {"model": "emb", "input": ["x", "y"],
                                                                        "dimensions": 8}
    batch["requests"][1]["model"] = "models/other"
    with pytest.raises(GatewayError, match="not the model of the path"):
        embed_canonical(orjson.dumps(batch), "emb", batch=True)


async def test_hot_paths_try_prefixes_only_after_the_exact_paths() -> None:
    seen: list[str] = []

    def handler(name: str) -> Any:
        async def handle(request: Any) -> Any:
            seen.append(name)
            raise unauthorized()
        return handle

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append("app")

    hot = HotPaths(app, {"/v1/models/exact": handler("exact")}, {"/v1/models/": handler("prefix")})
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    for path, method in (("/v1/models/exact", "POST"), ("/v1/models/auto:generateContent", "POST"),
                         ("/v1/models/auto:generateContent", "GET"), ("/v1/models", "POST")):
        await hot({"type": "http", "path": path, "method": method, "headers": [], "query_string": b""}, receive, send)
    assert seen == ["exact", "prefix", "app", "app"]
