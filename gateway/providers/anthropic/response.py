"""Anthropic message → the OpenAI chat-completion body, plus the pieces the stream decoder shares
with it (usage, completion id, stop reasons); the OpenAI shapes come from `openai_side`.

Thinking blocks become `reasoning_content` (their text, the field OpenAI-compatible reasoners
use) and `thinking_blocks` (the blocks whole, signatures included, so a Messages client can send
them back). The forced JSON-mode tool's call (`structured.JSON_TOOL`) is the answer's `content`,
its input as a JSON string, with finish_reason "stop" (Anthropic says `tool_use`). A web search's
cited text blocks give the message's `annotations` (`search.py`); the search's own blocks
(`server_tool_use`, `web_search_tool_result`) have no chat form: each search is one
`web_search_call` item in the message's `reasoning_items` (`search.py`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage
from gateway.providers.anthropic.search import RESULT, annotations, is_search_call, query_of, search_item
from gateway.providers.anthropic.structured import JSON_TOOL
from gateway.providers.base import encode
from gateway.providers.openai_side import assistant_message, choice, completion, tool_call
from gateway.providers.search_options import ITEMS

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def usage_from(doc: Mapping[str, Any] | None) -> Usage:
    doc = doc or {}
    cache_read = int(doc.get("cache_read_input_tokens") or 0)
    written = int(doc.get("cache_creation_input_tokens") or 0)
    ttl = doc.get("cache_creation")
    hour = int(ttl.get("ephemeral_1h_input_tokens") or 0) if isinstance(ttl, dict) else 0
    prompt = int(doc.get("input_tokens") or 0) + cache_read + written
    return Usage(prompt_tokens=prompt, completion_tokens=int(doc.get("output_tokens") or 0),
                 cached_tokens=cache_read, reasoning_tokens=0, reported=True,
                 cache_write_tokens=written, cache_write_1h_tokens=min(hour, written),
                 web_searches=web_searches(doc))


def web_searches(usage: Mapping[str, Any]) -> int:
    """The web search tool's calls, billed per search (`server_tool_use.web_search_requests`);
    web fetches are free beyond their tokens."""
    tools = usage.get("server_tool_use")
    return int(tools.get("web_search_requests") or 0) if isinstance(tools, dict) else 0


def completion_id(message_id: Any) -> str:
    text = str(message_id or "")
    return "chatcmpl-" + (text[4:] if text.startswith("msg_") else text or str(time.time_ns()))


def from_upstream(data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("content"), list):
        raise ValueError("upstream body is not an Anthropic message")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    cited: list[dict[str, Any]] = []
    queries: dict[Any, Any] = {}  # a search call's id → its query, until its result
    searches: list[dict[str, Any]] = []
    at = 0  # where the next text block starts in the joined content
    answered_json = False
    for block in doc["content"]:
        kind = block.get("type")
        if kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
        elif kind == "text":
            texts.append(str(block.get("text") or ""))
            cited.extend(annotations(block.get("citations"), at, at + len(texts[-1])))
            at += len(texts[-1])
        elif kind == "tool_use" and block.get("name") == JSON_TOOL:
            texts.append(encode(block.get("input") or {}).decode())
            at += len(texts[-1])
            answered_json = True
        elif kind == "tool_use":
            calls.append(tool_call(block.get("id"), block.get("name"), block.get("input")))
        elif is_search_call(block):
            queries[block.get("id")] = query_of(block)
        elif kind == RESULT and block.get("tool_use_id") in queries:
            searches.append(search_item(queries.pop(block.get("tool_use_id")), block))
    message = assistant_message(texts, calls)
    if cited:
        message["annotations"] = cited
    if searches:
        message[ITEMS] = searches
    if thinking:  # as OpenAI-compatible reasoners say it, with the blocks (signatures) kept whole
        message["reasoning_content"] = "".join(b.get("thinking") or "" for b in thinking)
        message["thinking_blocks"] = thinking
    usage = usage_from(doc.get("usage"))
    finish = STOP_REASONS.get(doc.get("stop_reason") or "end_turn", "stop")
    if finish == "tool_calls" and not calls and answered_json:  # only the JSON-mode tool was called
        finish = "stop"
    body = completion(completion_id(doc.get("id")), dep.upstream, [choice(0, message, finish)],
                      usage)
    return body, usage
