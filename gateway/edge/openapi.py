"""The OpenAPI document served at /openapi.json: what the gateway accepts, for clients and fuzzers.

Only the fields the gateway itself checks are constrained; others pass through to
OpenAI-compatible providers, so `additionalProperties` stays open on request bodies.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__

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
                   "content": CONTENT, "name": {"type": "string"}, "tool_call_id": {"type": "string"},
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


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "OpenAI-format error",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for c in codes}


def document() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM gateway", "version": __version__,
                 "description": "OpenAI-compatible chat completions and embeddings, routed by task."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "ChatRequest": CHAT_REQUEST, "EmbeddingsRequest": EMBEDDINGS_REQUEST},
        },
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion", "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
                "responses": {"200": {"description": "A chat.completion, or an SSE stream of chunks",
                                      "content": {"application/json": {"schema": {"type": "object"}},
                                                  "text/event-stream": {"schema": {"type": "string"}}}},
                              **_errors(400, 401, 403, 404, 413, 429, 502, 503, 504)}}},
            "/v1/embeddings": {"post": {
                "operationId": "createEmbedding", "security": bearer,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/EmbeddingsRequest"}}}},
                "responses": {"200": {"description": "An embeddings list",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **_errors(400, 401, 403, 404, 413, 429, 502, 503, 504)}}},
            "/v1/models": {"get": {"operationId": "listModels", "security": bearer, "responses": {
                "200": {"description": "Routes and models",
                        "content": {"application/json": {"schema": {"type": "object"}}}}, **_errors(401)}}},
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"operationId": "readyz", "responses": {"200": {"description": "ready or degraded"},
                                                                       "503": {"description": "not ready"}}}},
        },
    }
