"""Converse answer → the OpenAI chat-completion body, plus what the stream decoder shares with it
(usage, stop reasons, completion ids).

`output.message.content` blocks: text → `content`, `toolUse` → `tool_calls` (the toolUseId is the
call id, the input object the JSON arguments), except JSON mode's forced tool, whose input is the
`content` (finish_reason "stop"); `reasoningContent` → `reasoning_content` (its text) and
`thinking_blocks` (`thinking` with its signature, `redacted_thinking` with the redacted bytes'
base64 as `data`), the shape the Anthropic adapter answers with, so a Messages client gets its
signed blocks back; other blocks are left out. Reasoning tokens are in `outputTokens`, with no
count of their own (reasoning_tokens stays 0). Converse answers carry no id, so the completion id is made up. Usage: Bedrock's `inputTokens` leaves out
the tokens read from or written to the prompt cache, so the prompt is all three, and
`cacheReadInputTokens` are the cached tokens the price's `cached_input` applies to.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage
from gateway.providers.json_mode import JSON_TOOL
from gateway.providers.openai_side import assistant_message, choice, completion, tool_call

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return STOP_REASONS.get(str(stop_reason or "end_turn"), "stop")


def usage_from(doc: Mapping[str, Any] | None) -> Usage:
    doc = doc or {}
    cache_read = int(doc.get("cacheReadInputTokens") or 0)
    written = int(doc.get("cacheWriteInputTokens") or 0)
    details = doc.get("cacheDetails")
    hour = sum(int(d.get("inputTokens") or 0) for d in details if isinstance(d, dict) and d.get("ttl") == "1h") \
        if isinstance(details, list) else 0
    prompt = int(doc.get("inputTokens") or 0) + cache_read + written
    return Usage(prompt_tokens=prompt, completion_tokens=int(doc.get("outputTokens") or 0),
                 cached_tokens=cache_read, reasoning_tokens=0, reported=True,
                 cache_write_tokens=written, cache_write_1h_tokens=min(hour, written))


def thinking_block(content: Mapping[str, Any]) -> dict[str, Any] | None:
    """A `reasoningContent` block as the Anthropic thinking block it carries, or None."""
    text = content.get("reasoningText")
    if isinstance(text, dict):
        return {"type": "thinking", "thinking": str(text.get("text") or ""), "signature": str(text.get("signature") or "")}
    if content.get("redactedContent"):
        return {"type": "redacted_thinking", "data": str(content["redactedContent"])}
    return None


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    message = ((doc.get("output") or {}).get("message") if isinstance(doc, dict) else None)
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise ValueError("upstream body is not a Bedrock Converse answer")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("reasoningContent"), dict):
            found = thinking_block(block["reasoningContent"])
            if found is not None:
                thinking.append(found)
        elif "text" in block:
            texts.append(str(block["text"] or ""))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            if use.get("name") == JSON_TOOL:  # JSON mode's forced tool: its input is the answer
                texts.append(orjson.dumps(use.get("input")).decode())
            else:
                calls.append(tool_call(use.get("toolUseId"), use.get("name"), use.get("input")))
    usage = usage_from(doc.get("usage"))
    finish = finish_reason(doc.get("stopReason"))
    if finish == "tool_calls" and not calls:
        finish = "stop"
    answer = assistant_message(texts, calls)
    if thinking:
        answer["reasoning_content"] = "".join(b.get("thinking") or "" for b in thinking)
        answer["thinking_blocks"] = thinking
    body = completion(completion_id(), dep.upstream, [choice(0, answer, finish)], usage)
    return body, usage
