"""The Anthropic Messages and Gemini paths of /openapi.json (gateway.edge.openapi adds the OpenAI ones).

Each API keeps its own key header and error shape, as its SDK expects: Messages takes `x-api-key`
(and reads `anthropic-version`, which the gateway does not require) and answers errors as
`{"type": "error", "error": {...}}` (gateway.inbound.anthropic.reply); Gemini takes
`x-goog-api-key` or `?key=` and answers `{"error": {"code", "message", "status"}}`
(gateway.inbound.gemini.reply). Every path also takes the Bearer key. As for the OpenAI bodies,
only what the inbound translators check is constrained; the rest passes through.
"""

from __future__ import annotations

from typing import Any

from gateway.pipeline.request import MAX_OUTPUT_TOKENS

SCHEMES = {
    "anthropicKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "googleKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
    "googleKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
}
ANTHROPIC_SECURITY = [{"anthropicKey": []}, {"bearer": []}]
GOOGLE_SECURITY = [{"googleKey": []}, {"googleKeyQuery": []}, {"bearer": []}]

ANTHROPIC_ERROR = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"],
                                                         "properties": {"type": {"type": "string"},
                                                                        "message": {"type": "string"}}}},
}
GOOGLE_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "status"], "properties": {
        "code": {"type": "integer"}, "message": {"type": "string"}, "status": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}},
}

# --------------------------------------------------------------------------- Anthropic Messages
BLOCK = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
BLOCKS = {"oneOf": [{"type": "string"}, {"type": "array", "items": BLOCK}]}
MESSAGES_FIELDS: dict[str, Any] = {
    "model": {"type": "string", "minLength": 1, "description": "'auto', a route alias, or a model"},
    "messages": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["role", "content"],
        "properties": {"role": {"enum": ["user", "assistant", "system"]}, "content": BLOCKS}}},
    "system": BLOCKS,
    "tools": {"type": "array", "items": {"type": "object", "properties": {
        "type": {"type": "string"}, "name": {"type": "string"}, "input_schema": {"type": "object"}}}},
    "tool_choice": {"type": "object", "required": ["type"], "properties": {
        "type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"},
        "disable_parallel_tool_use": {"type": "boolean"}}},
    "stop_sequences": {"type": "array", "items": {"type": "string"}},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}},
    "thinking": {"type": "object"},
}
MESSAGES_REQUEST = {
    "type": "object", "required": ["model", "max_tokens", "messages"],
    "properties": {**MESSAGES_FIELDS, "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
                   "stream": {"type": "boolean"}},
}
COUNT_REQUEST = {"type": "object", "required": ["model", "messages"], "properties": MESSAGES_FIELDS}

# --------------------------------------------------------------------------- Gemini
PART = {"type": "object", "properties": {
    "text": {"type": "string"},
    "inlineData": {"type": "object", "required": ["mimeType", "data"],
                   "properties": {"mimeType": {"type": "string"}, "data": {"type": "string"}}},
    "fileData": {"type": "object", "required": ["fileUri"],
                 "properties": {"mimeType": {"type": "string"}, "fileUri": {"type": "string"}}},
    "functionCall": {"type": "object", "properties": {"name": {"type": "string"}, "args": {"type": "object"}}},
    "functionResponse": {"type": "object", "properties": {"name": {"type": "string"},
                                                          "response": {"type": "object"}}}}}
CONTENT = {"type": "object", "properties": {"role": {"enum": ["user", "model"]},
                                            "parts": {"type": "array", "items": PART}}}
GENERATION_CONFIG = {"type": "object", "properties": {
    "maxOutputTokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "topP": {"type": "number", "minimum": 0, "maximum": 1},
    "presencePenalty": {"type": "number", "minimum": -2, "maximum": 2},
    "frequencyPenalty": {"type": "number", "minimum": -2, "maximum": 2},
    "seed": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    "stopSequences": {"type": "array", "items": {"type": "string"}},
    "candidateCount": {"type": "integer", "minimum": 1, "maximum": 8},
    "responseMimeType": {"enum": ["text/plain", "application/json"]},
    "responseModalities": {"type": "array", "items": {"const": "TEXT"}},
    "thinkingConfig": {"type": "object", "properties": {
        "thinkingBudget": {"type": "integer", "minimum": -1, "maximum": 1_000_000},
        "thinkingLevel": {"enum": ["MINIMAL", "LOW", "MEDIUM", "HIGH"]}, "includeThoughts": {"type": "boolean"}}}}}
GENERATE_REQUEST = {
    "type": "object", "required": ["contents"],
    "properties": {
        "contents": {"type": "array", "minItems": 1, "items": CONTENT},
        "systemInstruction": CONTENT,
        "tools": {"type": "array", "items": {"type": "object", "properties": {
            "functionDeclarations": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                                 "properties": {"name": {"type": "string"}}}}}}},
        "toolConfig": {"type": "object", "properties": {"functionCallingConfig": {"type": "object", "properties": {
            "mode": {"enum": ["AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"]},
            "allowedFunctionNames": {"type": "array", "items": {"type": "string"}}}}}},
        "generationConfig": GENERATION_CONFIG,
        "cachedContent": {"type": "string", "minLength": 1},
    },
}
COUNT_TOKENS_REQUEST = {"type": "object", "properties": {
    "contents": {"type": "array", "minItems": 1, "items": CONTENT}, "generateContentRequest": GENERATE_REQUEST}}
EMBED_REQUEST = {
    "type": "object", "required": ["content"],
    "properties": {"model": {"type": "string"},
                   "content": {"type": "object", "required": ["parts"], "properties": {"parts": {
                       "type": "array", "minItems": 1, "items": {"type": "object", "required": ["text"],
                                                                  "properties": {"text": {"type": "string"}}}}}},
                   "outputDimensionality": {"type": "integer", "minimum": 1, "maximum": 65536},
                   "taskType": {"type": "string"}, "title": {"type": "string"}},
}
BATCH_EMBED_REQUEST = {"type": "object", "required": ["requests"], "properties": {
    "requests": {"type": "array", "minItems": 1, "items": EMBED_REQUEST}}}

SCHEMAS = {"AnthropicError": ANTHROPIC_ERROR, "GoogleError": GOOGLE_ERROR, "MessagesRequest": MESSAGES_REQUEST,
           "CountTokensRequest": COUNT_REQUEST, "GenerateContentRequest": GENERATE_REQUEST,
           "GeminiCountTokensRequest": COUNT_TOKENS_REQUEST, "EmbedContentRequest": EMBED_REQUEST,
           "BatchEmbedContentsRequest": BATCH_EMBED_REQUEST}
CODES = (400, 401, 403, 404, 413, 429, 502, 503, 504)


def json_body(ref: str) -> dict[str, Any]:
    """A JSON content map naming one of the document's schemas."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def errors(schema: str, codes: tuple[int, ...] = CODES) -> dict[str, Any]:
    """Error responses, each with the body `schema` (Error, AnthropicError, GoogleError)."""
    return {str(c): {"description": f"an error: {schema}", "content": json_body(schema)} for c in codes}


def post(op: str, request: str, ok: str, error: str, security: list[dict[str, list[str]]],
         parameters: tuple[dict[str, Any], ...] = (), stream: bool = False) -> dict[str, Any]:
    """One POST operation: its key schemes, its JSON body, its answer and errors in `error`'s shape."""
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    operation = {"operationId": op, "security": security, "parameters": list(parameters),
                 "requestBody": {"required": True, "content": json_body(request)},
                 "responses": {"200": {"description": ok, "content": content}, **errors(error)}}
    return {"post": operation}


VERSION = {"name": "anthropic-version", "in": "header", "required": False, "schema": {"type": "string"},
           "description": "sent by Anthropic's SDKs (e.g. 2023-06-01); read, not required"}
MODEL = {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
         "description": "'auto', a route alias, or a model (a 'models/' prefix is allowed)"}
MODEL_ID = {**MODEL, "schema": {"type": "string", "minLength": 1, "pattern": "^[^:]+$"},
            "description": "'auto', a route alias, or a model"}
ALT = {"name": "alt", "in": "query", "required": False, "schema": {"enum": ["sse", "json"]},
       "description": "'sse': server-sent events; otherwise one JSON array of responses"}


def paths() -> dict[str, Any]:
    g, a, k = "/v1beta/models/{model}", "AnthropicError", "GoogleError"
    bound = "the bound the gateway reserves for the prompt"
    return {
        "/v1/messages": post("createMessage", "MessagesRequest", "A message, or an SSE stream of events", a,
                             ANTHROPIC_SECURITY, (VERSION,), stream=True),
        "/v1/messages/count_tokens": post("countMessageTokens", "CountTokensRequest", f"{{input_tokens}}: {bound}",
                                          a, ANTHROPIC_SECURITY, (VERSION,)),
        g + ":generateContent": post("generateContent", "GenerateContentRequest", "A GenerateContentResponse", k,
                                     GOOGLE_SECURITY, (MODEL,)),
        g + ":streamGenerateContent": post("streamGenerateContent", "GenerateContentRequest",
                                           "GenerateContentResponses, as SSE (alt=sse) or one JSON array", k,
                                           GOOGLE_SECURITY, (MODEL, ALT), stream=True),
        g + ":countTokens": post("countTokens", "GeminiCountTokensRequest", f"{{totalTokens}}: {bound}", k,
                                 GOOGLE_SECURITY, (MODEL,)),
        g + ":embedContent": post("embedContent", "EmbedContentRequest", "{embedding: {values}}", k,
                                  GOOGLE_SECURITY, (MODEL,)),
        g + ":batchEmbedContents": post("batchEmbedContents", "BatchEmbedContentsRequest",
                                        "{embeddings: [{values}]}", k, GOOGLE_SECURITY, (MODEL,)),
        "/v1beta/models": {"get": {"operationId": "listGeminiModels", "security": GOOGLE_SECURITY, "responses": {
            "200": {"description": "Routes and models, as Gemini Model objects",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            **errors(k, (401,))}}},
        g: {"get": {"operationId": "getGeminiModel", "security": GOOGLE_SECURITY, "parameters": [MODEL],
                    "responses": {"200": {"description": "One route or model, as a Gemini Model object",
                                          "content": {"application/json": {"schema": {"type": "object"}}}},
                                  **errors(k, (401, 404))}}},
    }
