"""Gemini `GenerateContentResponse` → the OpenAI chat-completion body, plus the pieces the stream
decoder shares with it (usage, completion and tool call ids, finish reasons).

Split out of :mod:`gateway.providers.gemini.request`, which re-exports `from_upstream` as the adapter's.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def usage_from(meta: Mapping[str, Any] | None) -> Usage:
    meta = meta or {}
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        prompt_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        completion_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
        reported=True,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def completion_id(response_id: Any) -> str:
    return "chatcmpl-" + (str(response_id) if response_id else str(time.time_ns()))


def call_id(response_id: Any, choice: int, n: int) -> str:
    prefix = f"call_{response_id}_" if response_id else "call_"
    return f"{prefix}{n}" if choice == 0 else f"{prefix}{choice}_{n}"


def _tool_call(part: dict[str, Any], response_id: Any, choice: int, n: int) -> dict[str, Any]:
    fn = part["functionCall"]
    call: dict[str, Any] = {
        "id": fn.get("id") or call_id(response_id, choice, n),
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": orjson.dumps(fn.get("args") or {}).decode()},
    }
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def _finish(reason: Any, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(str(reason), "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if isinstance(doc, list) and len(doc) == 1:  # a streamGenerateContent JSON array of one
        doc = doc[0]
    if not isinstance(doc, dict) or ("candidates" not in doc and "promptFeedback" not in doc):
        raise ValueError("upstream body is not a Gemini GenerateContentResponse")
    rid = doc.get("responseId")
    choices = []
    for pos, cand in enumerate(doc.get("candidates") or ()):
        index = int(cand.get("index") or pos)
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue
            if "text" in part:
                texts.append(part["text"] or "")
            elif "functionCall" in part:
                calls.append(_tool_call(part, rid, index, len(calls)))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
        if calls:
            message["tool_calls"] = calls
        choices.append({"index": index, "message": message, "logprobs": None,
                        "finish_reason": _finish(cand.get("finishReason"), bool(calls))})
    if not choices:  # the prompt itself was blocked
        choices.append({"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": None,
                        "finish_reason": "content_filter"})
    usage = usage_from(doc.get("usageMetadata"))
    body = {"id": completion_id(rid), "object": "chat.completion", "created": int(time.time()),
            "model": dep.upstream, "choices": choices, "usage": usage_body(usage)}
    return body, usage
