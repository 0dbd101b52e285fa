"""The OpenAPI document served at /openapi.json: what the gateway accepts, for clients and fuzzers.

Only the fields the gateway itself checks are constrained; others pass through to
OpenAI-compatible providers, so `additionalProperties` stays open on request bodies. The checks are
stated in the schema itself, not in descriptions (a message's content by its role, content parts,
tool calls, tools, `stream_options` only with `stream`), so a body a fuzzer builds from the document
is one the gateway serves (tests/test_schemathesis.py); in a few places the schema keeps to OpenAI's
stricter shape (a tool's `type`, a response format's). This module
holds the OpenAI paths (Bearer key, OpenAI error bodies); gateway.edge.openapi_native the
Anthropic Messages and Gemini ones, each in its own API's key header and error shape.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.edge import openapi_media as media
from gateway.edge import openapi_native as native
from gateway.pipeline.request import MAX_OUTPUT_TOKENS

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
}
TEXT = {"type": "string"}


def _part(kind: str, field: dict[str, Any] | None = None) -> dict[str, Any]:
    """A content part of one `type`, with its own field (required) when it has one."""
    if field is None:
        return {"type": "object", "required": ["type"], "properties": {"type": {"const": kind}}}
    return {"type": "object", "required": ["type", kind], "properties": {"type": {"const": kind}, kind: field}}


# The content parts the gateway checks (gateway.pipeline.schema.check_part); a part of any other
# type passes to the provider, which decides.
PART = {"oneOf": [
    {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": TEXT}},
    _part("image_url", {"oneOf": [TEXT, {"type": "object", "required": ["url"], "properties": {"url": TEXT}}]}),
    _part("input_audio", {"type": "object", "required": ["data"], "properties": {"data": TEXT, "format": TEXT}}),
    _part("file", {"type": "object", "properties": {"file_data": TEXT, "file_id": TEXT, "filename": TEXT}}),
    {"type": "object", "required": ["type"],
     "properties": {"type": {"type": "string", "not": {"enum": ["text", "image_url", "input_audio", "file"]}}}},
]}
CONTENT = {"oneOf": [TEXT, {"type": "array", "items": PART}]}
TOOL_CALL = {"oneOf": [
    {"type": "object", "required": ["function"], "properties": {
        "id": TEXT, "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"], "properties": {"name": TEXT, "arguments": TEXT}},
        "extra_content": {"type": "object", "properties": {"google": {
            "type": "object", "properties": {"thought_signature": TEXT}}}}}},
    {"type": "object", "required": ["type", "custom"], "properties": {
        "id": TEXT, "type": {"const": "custom"},
        "custom": {"type": "object", "required": ["name", "input"], "properties": {"name": TEXT, "input": TEXT}}}},
]}
_MESSAGE_FIELDS = {"name": TEXT, "tool_call_id": TEXT, "tool_calls": {"type": "array", "items": TOOL_CALL}}
# The content rule (gateway.pipeline.schema.check_contents), one branch per role: content is
# required, and not null, except in an assistant turn that calls tools (or carries a
# `function_call` or an `audio` reference instead) and in a deprecated `function` message.
MESSAGE = {"oneOf": [
    {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"enum": ["system", "developer", "user", "tool"]}, "content": CONTENT, **_MESSAGE_FIELDS}},
    {"type": "object", "required": ["role"], "properties": {
        "role": {"const": "assistant"}, "content": {"oneOf": [*CONTENT["oneOf"], {"type": "null"}]},
        **_MESSAGE_FIELDS},
     "anyOf": [{"required": ["content"], "properties": {"content": CONTENT}},
               {"required": ["tool_calls"], "properties": {"tool_calls": {"minItems": 1}}},
               *({"required": [name], "properties": {name: {"type": "object", "minProperties": 1}}}
                 for name in ("function_call", "audio"))]},
    {"type": "object", "required": ["role"], "properties": {
        "role": {"const": "function"}, "content": {"oneOf": [TEXT, {"type": "null"}]}, **_MESSAGE_FIELDS}},
]}
_FUNCTION = {"type": "object", "required": ["name"], "properties": {
    "name": TEXT, "description": TEXT, "parameters": {"type": "object"}, "strict": {"type": "boolean"}}}
TOOL = {"oneOf": [
    {"type": "object", "required": ["function"], "properties": {"type": {"const": "function"}, "function": _FUNCTION}},
    {"type": "object", "required": ["type", "custom"], "properties": {"type": {"const": "custom"}, "custom": {
        "type": "object", "required": ["name"],
        "properties": {"name": TEXT, "description": TEXT, "format": {"type": "object"}}}}},
]}
RESPONSE_FORMAT = {"oneOf": [
    {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
    {"type": "object", "required": ["type", "json_schema"], "properties": {
        "type": {"const": "json_schema"},
        "json_schema": {"type": "object", "properties": {"name": TEXT, "schema": {"type": "object"}}}}},
]}
CHAT_REQUEST = {
    "type": "object", "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "description": "'auto', a route alias, or a model"},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}},
                           "description": "only with stream: true"},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
        "n": {"type": "integer", "minimum": 1, "maximum": 128},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": TOOL},
        "tool_choice": {"oneOf": [TEXT, {"type": "object", "properties": {"type": TEXT, "function": {
            "type": "object", "required": ["name"], "properties": {"name": TEXT}}}}]},
        "response_format": RESPONSE_FORMAT,
        "user": {"type": "string"},
    },
    "dependentSchemas": {"stream_options": {"required": ["stream"], "properties": {"stream": {"const": True}}}},
}
EMBEDDINGS_REQUEST = {
    "type": "object", "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"oneOf": [{"type": "string", "minLength": 1},
                            {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string"}},
                            {"type": "array", "minItems": 1, "items": {"type": "integer"}},
                            {"type": "array", "minItems": 1, "items": {"type": "array", "items": {"type": "integer"}}}]},
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1, "maximum": 65536},
        "user": {"type": "string"},
    },
}
COMPLETIONS_REQUEST = {
    "type": "object", "required": ["model", "prompt"],
    "properties": {
        "model": CHAT_REQUEST["properties"]["model"],
        "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "maxItems": 1,
                                                  "items": {"type": "string"}}],
                   "description": "one prompt (token ids and several prompts are refused)"},
        **{name: CHAT_REQUEST["properties"][name] for name in (
            "stream", "stream_options", "max_tokens", "n", "temperature", "top_p", "stop", "user")},
        "echo": {"const": False}, "suffix": {"type": "null"}, "logprobs": {"type": "null"},
    },
    "dependentSchemas": CHAT_REQUEST["dependentSchemas"],
}
INPUT_ITEM = {"type": "object", "properties": {
    "type": {"enum": ["message", "function_call", "function_call_output", "custom_tool_call",
                      "custom_tool_call_output", "reasoning"]},
    "role": {"enum": ["user", "assistant", "system", "developer"]}, "content": {"oneOf": [
        TEXT, {"type": "null"},
        {"type": "array", "items": {"type": "object", "required": ["type"], "properties": {"type": TEXT}}}]},
    "call_id": {"type": "string"}, "name": {"type": "string"}, "arguments": {"type": "string"}}}
RESPONSES_REQUEST = {
    "type": "object", "required": ["model", "input"],
    "properties": {
        "model": CHAT_REQUEST["properties"]["model"],
        "input": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": INPUT_ITEM}]},
        "instructions": {"type": "string"},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
        **{name: CHAT_REQUEST["properties"][name] for name in ("stream", "temperature", "top_p", "user")},
        "store": {"type": "boolean"}, "previous_response_id": {"type": "string"},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"enum": ["auto", "none", "required"]}, {"type": "object"}]},
        "reasoning": {"type": "object", "properties": {"effort": {"type": "string"}}},
        "text": {"type": "object", "properties": {"format": {"type": "object", "properties": {
            "type": {"enum": ["text", "json_object", "json_schema"]}}}}},
        "background": {"const": False}, "conversation": {"type": "null"}, "prompt": {"type": "null"},
    },
}
BEARER = [{"bearer": []}]


def _post(op: str, request: str, ok: str, stream: bool = True) -> dict[str, Any]:
    """An OpenAI-format POST: Bearer key, OpenAI error bodies."""
    return native.post(op, request, ok, "Error", BEARER, stream=stream)


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM gateway", "version": __version__,
                 "description": "OpenAI-compatible chat completions, Responses, completions, embeddings, audio, "
                                "images and moderations, "
                                "the Anthropic Messages API and the Gemini API, routed by task."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, **native.SCHEMES},
            "schemas": {"Error": ERROR, "ChatRequest": CHAT_REQUEST, "EmbeddingsRequest": EMBEDDINGS_REQUEST,
                        "CompletionsRequest": COMPLETIONS_REQUEST, "ResponsesRequest": RESPONSES_REQUEST,
                        **native.SCHEMAS, **media.SCHEMAS},
        },
        "paths": {
            "/v1/chat/completions": _post("createChatCompletion", "ChatRequest",
                                          "A chat.completion, or an SSE stream of chunks"),
            "/v1/responses": _post("createResponse", "ResponsesRequest", "A response, or an SSE stream of events"),
            "/v1/completions": _post("createCompletion", "CompletionsRequest",
                                     "A text_completion, or an SSE stream of chunks"),
            "/v1/embeddings": _post("createEmbedding", "EmbeddingsRequest", "An embeddings list", stream=False),
            "/v1/models": {"get": {"operationId": "listModels", "security": BEARER, "responses": {
                "200": {"description": "Routes and models",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                **native.errors("Error", (401,))}}},
            "/v1/models/{model}": {"get": {
                "operationId": "retrieveModel", "security": BEARER, "parameters": [native.MODEL_ID],
                "description": "the openai SDK's models.retrieve; the anthropic SDK (anthropic-version) gets "
                               "Anthropic's shapes, an x-goog-api-key or ?key= Google's",
                "responses": {"200": {"description": "One route or model, as an OpenAI model object",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **native.errors("Error", (401, 403, 404))}}},
            **native.paths(),
            **media.paths(),
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"operationId": "readyz", "responses": {"200": {"description": "ready or degraded"},
                                                                       "503": {"description": "not ready"}}}},
        },
    }
