"""Canonical answers and gateway errors → Gemini's `GenerateContentResponse` and error shapes.

A choice becomes a candidate: its thinking (`reasoning_content`) as `thought: true` text when
the client asked for thoughts, its text, then one `functionCall` part per tool call (arguments
parsed back into the `args` object; the call id as `id`, and a Gemini deployment's thought
signature as the part's `thoughtSignature`). `finish_reason` → `finishReason` (stop and
tool_calls → STOP, length → MAX_TOKENS, content_filter → SAFETY); usage → `usageMetadata`, where
`candidatesTokenCount` excludes thinking, as Gemini counts it.

Errors are Google's `{"error": {"code", "message", "status"}}` (google-genai raises `ClientError`
or `ServerError` with that code and message); the gateway's own error code rides in an
`ErrorInfo` detail, and a 429's wait in a `RetryInfo` one.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.anthropic.reply import tool_input  # arguments → object: the same rule

FINISH_REASONS = {"stop": "STOP", "tool_calls": "STOP", "function_call": "STOP", "length": "MAX_TOKENS",
                  "content_filter": "SAFETY"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          405: "INVALID_ARGUMENT", 408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "INVALID_ARGUMENT",
          429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
          502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_doc(err: GatewayError) -> dict[str, Any]:
    status = STATUS.get(err.status) or ("INTERNAL" if err.status >= 500 else "FAILED_PRECONDITION")
    details: list[dict[str, Any]] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                      "reason": err.code or err.type, "domain": "gateway"}]
    if "retry-after" in err.headers:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{err.headers['retry-after']}s"})
    return {"error": {"code": err.status, "message": err.message, "status": status, "details": details}}


def error_body(err: GatewayError) -> bytes:
    return orjson.dumps(error_doc(err))


def usage_doc(usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage → `usageMetadata`; zero counts left out, as the API's proto3 JSON does."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    thoughts = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    doc: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": max(0, completion - thoughts),
                           "totalTokenCount": prompt + completion}
    if cached:
        doc["cachedContentTokenCount"] = cached
    if thoughts:
        doc["thoughtsTokenCount"] = thoughts
    return doc


def response_id(completion_id: Any) -> str:
    text = str(completion_id or "")
    return text[9:] if text.startswith("chatcmpl-") else text


def call_part(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    function_call: dict[str, Any] = {"name": fn.get("name") or "", "args": tool_input(fn.get("arguments"))}
    if call.get("id"):
        function_call["id"] = call["id"]
    part: dict[str, Any] = {"functionCall": function_call}
    signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if signature:
        part["thoughtSignature"] = signature
    return part


def text_of(content: Any) -> str:
    if isinstance(content, list):  # content parts, as some OpenAI-compatible servers answer
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def candidate(choice: dict[str, Any], thoughts: bool) -> dict[str, Any]:
    message = choice.get("message") or {}
    parts: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if thoughts and isinstance(reasoning, str) and reasoning:
        parts.append({"text": reasoning, "thought": True})
    text = text_of(message.get("content"))
    if text:
        parts.append({"text": text})
    parts.extend(call_part(call) for call in message.get("tool_calls") or ())
    return {"content": {"parts": parts or [{"text": ""}], "role": "model"},
            "finishReason": FINISH_REASONS.get(choice.get("finish_reason") or "stop", "OTHER"),
            "index": int(choice.get("index") or 0)}


def response_body(body: dict[str, Any], thoughts: bool) -> dict[str, Any]:
    choices = body.get("choices") or [{}]
    return {"candidates": [candidate(c, thoughts) for c in choices], "usageMetadata": usage_doc(body.get("usage")),
            "modelVersion": body.get("model") or "", "responseId": response_id(body.get("id"))}
