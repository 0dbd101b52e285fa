"""Gemini `GenerateContentResponse` → the OpenAI chat-completion body, plus the pieces the stream
decoder shares with it (usage, completion and tool call ids, finish reasons); the OpenAI shapes
come from `openai_side`. A candidate grounded with Google Search gets its message's `annotations`
from its `groundingMetadata` (`grounding.py`), and one `web_search_call` item per search query
in its `reasoning_items`.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import orjson

from gateway.config import Deployment
from gateway.pricing import Usage
from gateway.providers.gemini.grounding import annotations, search_items
from gateway.providers.openai_side import assistant_message, choice, completion, tool_call
from gateway.providers.search_options import ITEMS

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"} | dict.fromkeys(
    ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"), "content_filter")


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


def search_queries(cand: Mapping[str, Any]) -> int:
    """The Google Search queries a candidate was grounded with (`groundingMetadata.webSearchQueries`):
    Gemini 3 bills each, Gemini 2.x the prompt once (`Price.web_search_per_request`)."""
    meta = cand.get("groundingMetadata")
    queries = meta.get("webSearchQueries") if isinstance(meta, dict) else None
    return len(queries) if isinstance(queries, list) else 0


def completion_id(response_id: Any) -> str:
    return "chatcmpl-" + (str(response_id) if response_id else str(time.time_ns()))


def call_id(response_id: Any, choice: int, n: int) -> str:
    prefix = f"call_{response_id}_" if response_id else "call_"
    return f"{prefix}{n}" if choice == 0 else f"{prefix}{choice}_{n}"


def call_of(part: dict[str, Any], response_id: Any, index: int, n: int) -> dict[str, Any]:
    fn = part["functionCall"]
    call = tool_call(fn.get("id") or call_id(response_id, index, n), fn.get("name") or "", fn.get("args"))
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def finish_reason(reason: Any, has_calls: bool) -> str:
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
        spans: list[str | None] = []  # each part's text in the content (None: not in it), for the grounding
        for part in (cand.get("content") or {}).get("parts") or ():
            spans.append(None)
            if part.get("thought"):
                continue
            if "text" in part:
                texts.append(str(part["text"] or ""))
                spans[-1] = texts[-1]
            elif "functionCall" in part:
                calls.append(call_of(part, rid, index, len(calls)))
        finish = finish_reason(cand.get("finishReason"), bool(calls))
        message = assistant_message(texts, calls)
        cited = annotations(cand.get("groundingMetadata"), spans)
        if cited:
            message["annotations"] = cited
        searched = search_items(cand.get("groundingMetadata"))
        if searched:
            message[ITEMS] = searched
        choices.append(choice(index, message, finish))
    if not choices:  # the prompt itself was blocked
        choices.append(choice(0, assistant_message([], []), "content_filter"))
    usage = usage_from(doc.get("usageMetadata"))
    usage.web_searches = sum(search_queries(c) for c in doc.get("candidates") or () if isinstance(c, dict))
    return completion(completion_id(rid), dep.upstream, choices, usage), usage
