"""Canonical answers and gateway errors → the Anthropic Messages formats.

A chat completion becomes a `message`: thinking first (`thinking_blocks` with their signatures,
else `reasoning_content`, as the Anthropic adapter and OpenAI-compatible reasoners put them),
then the text, then one `tool_use` block per tool call (a call Gemini signed after a thinking
block carrying its signature, signatures.py). `finish_reason` maps to `stop_reason`;
usage to Anthropic's accounting, where `input_tokens` excludes cache reads.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.inbound.anthropic import signatures

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}

# Anthropic's error type for each status: the `anthropic` SDK picks its exception class by status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"}


def error_doc(err: GatewayError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(err.status) or ("api_error" if err.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def error_body(err: GatewayError) -> bytes:
    return orjson.dumps(error_doc(err))


def message_id(completion_id: Any) -> str:
    text = str(completion_id or "")
    return "msg_" + (text[9:] if text.startswith("chatcmpl-") else text)


def usage_doc(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return {"input_tokens": max(0, prompt - cached - written), "cache_creation_input_tokens": written,
            "cache_read_input_tokens": cached, "output_tokens": int(usage.get("completion_tokens") or 0)}


def thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        return [b for b in blocks if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]
    text = message.get("reasoning_content")
    return [{"type": "thinking", "thinking": text, "signature": ""}] if isinstance(text, str) and text else []


def tool_input(arguments: Any) -> dict[str, Any]:
    """A call's JSON-string arguments as the `input` object (an unreadable one, cut by the
    token limit, becomes an empty object, as Anthropic returns for a cut tool call)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message_body(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content = thinking_blocks(message)
    text = message.get("content")
    if isinstance(text, list):  # content parts, as some OpenAI-compatible servers answer
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        signature = signatures.signature_of(call)
        if signature:  # Gemini's, in a thinking block just before its call (signatures.py)
            content.append(signatures.block(call.get("id") or "", signature))
        content.append({"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name") or "",
                        "input": tool_input(fn.get("arguments"))})
    return {"id": message_id(body.get("id")), "type": "message", "role": "assistant",
            "model": body.get("model") or "", "content": content,
            "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
            "stop_sequence": None, "usage": usage_doc(body.get("usage"))}
