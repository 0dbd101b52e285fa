"""The OpenAPI document served at /openapi.json: what the gateway accepts, for clients and fuzzers.

Only the fields the gateway itself checks are constrained; others pass through to
OpenAI-compatible providers, so `additionalProperties` stays open on request bodies. This module
holds the OpenAI paths (Bearer key, OpenAI error bodies); gateway.edge.openapi_native the
Anthropic Messages and Gemini ones, each in its own API's key header and error shape.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.edge import openapi_native as native
from gateway.pipeline.request import MAX_OUTPUT_TOKENS

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
}
CONTENT = {"oneOf": [
    {"type": "string"}, {"type": "null"},
    {"type": "array", "items": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}},
]}
MESSAGE = {
    "type": "object", "required": ["role"],
    "properties": {"role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
                   "content": {**CONTENT, "description": "required, not null, except in an assistant turn with "
                                                         "tool_calls (or a deprecated function message)"},
                   "name": {"type": "string"}, "tool_call_id": {"type": "string"},
                   "tool_calls": {"type": "array", "items": {"type": "object"}}},
}
CHAT_REQUEST = {
    "type": "object", "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "description": "'auto', a route alias, or a model"},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
        "n": {"type": "integer", "minimum": 1, "maximum": 128},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
        "user": {"type": "string"},
    },
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
}
INPUT_ITEM = {"type": "object", "properties": {
    "type": {"enum": ["message", "function_call", "function_call_output", "custom_tool_call",
                      "custom_tool_call_output", "reasoning"]},
    "role": {"enum": ["user", "assistant", "system", "developer"]}, "content": CONTENT,
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
                 "description": "OpenAI-compatible chat completions, Responses, completions and embeddings, "
                                "the Anthropic Messages API and the Gemini API, routed by task."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, **native.SCHEMES},
            "schemas": {"Error": ERROR, "ChatRequest": CHAT_REQUEST, "EmbeddingsRequest": EMBEDDINGS_REQUEST,
                        "CompletionsRequest": COMPLETIONS_REQUEST, "ResponsesRequest": RESPONSES_REQUEST,
                        **native.SCHEMAS},
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
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"operationId": "readyz", "responses": {"200": {"description": "ready or degraded"},
                                                                       "503": {"description": "not ready"}}}},
        },
    }
