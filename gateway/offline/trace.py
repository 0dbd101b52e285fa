"""Trace reading for the what-if simulator: one JSON Lines request a line → :class:`TraceRequest`
(task from the line or the real classifier, token counts given or estimated), and the span of time
a trace stands for. The trace format is described in :mod:`gateway.offline.whatif`'s docstring.

Split out of :mod:`gateway.offline.whatif`, which re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.pricing import estimate_tokens
from gateway.routing.needs import request_needs

# Completion tokens assumed when a trace line has messages but no completion_tokens (typical
# answer lengths per task; override a line by giving completion_tokens).
DEFAULT_OUTPUT_TOKENS: dict[str, int] = {
    "simple_chat": 150,
    "summarization": 250,
    "code_generation": 600,
    "complex_reasoning": 800,
}
FALLBACK_OUTPUT_TOKENS = 300  # a task not in the table above


# --------------------------------------------------------------------------- trace

@dataclass(frozen=True, slots=True)
class TraceRequest:
    ts: float
    task: str
    confidence: float
    prompt_tokens: int
    completion_tokens: int
    prompt_chars: int
    user: str | None = None
    outcome: str | None = None
    classified: bool = False  # the task came from the classifier
    # billed beyond plain input and output, repriced at each target's own prices (0 when absent)
    cached_tokens: int = 0       # of prompt_tokens, read from the provider's cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it (Claude bills them above input)
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, for an hour
    web_searches: int = 0        # server-side web searches the request ran
    # what a model needs to serve it (models.<name>.supports): read from the line as from a live
    # request's body (image, audio and file parts, tools and tool turns, a json_schema
    # response_format), and `web_search` when it ran searches
    needs: frozenset[str] = frozenset()


def _chars(messages: list[Any]) -> int:
    n = 0
    for m in messages:
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            n += len(c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    n += len(part["text"])
                elif isinstance(part, str):
                    n += len(part)
        if m.get("tool_calls") is not None:
            n += len(orjson.dumps(m["tool_calls"]))
    return n


def _int_field(doc: dict, name: str, where: str) -> int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError(f"{where}: {name} must be a non-negative number")
    return int(v)


def parse_trace_line(doc: Any, where: str = "trace") -> TraceRequest:
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object")
    ts = doc.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ValueError(f"{where}: ts (unix seconds) is required")
    messages = doc.get("messages")
    task = doc.get("task")
    if task is not None and (not isinstance(task, str) or not task):
        raise ValueError(f"{where}: task must be a non-empty string")
    prompt = _int_field(doc, "prompt_tokens", where)
    completion = _int_field(doc, "completion_tokens", where)
    confidence, classified = 1.0, False
    if messages is not None:
        if not isinstance(messages, list):
            raise ValueError(f"{where}: messages must be an array")
        chars = _chars(messages)
        if task is None:
            from gateway.routing.classify import classify

            c = classify(messages)
            task, confidence, classified = c.task, c.confidence, True
        if prompt is None:
            prompt = estimate_tokens(chars)
    else:
        if prompt is None:
            raise ValueError(f"{where}: give messages or prompt_tokens")
        chars = prompt * 4
        task = task or "simple_chat"
    if completion is None:
        completion = DEFAULT_OUTPUT_TOKENS.get(task, FALLBACK_OUTPUT_TOKENS)
    user = doc.get("user")
    outcome = doc.get("outcome")
    cached, written, written_1h, searches = (_int_field(doc, name, where) or 0 for name in (
        "cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "web_searches"))
    if cached + written > prompt:
        raise ValueError(f"{where}: cached_tokens + cache_write_tokens must not exceed prompt_tokens")
    if written_1h > written:
        raise ValueError(f"{where}: cache_write_1h_tokens must not exceed cache_write_tokens")
    needs = request_needs(doc)
    if searches:
        needs = needs | {"web_search"}
    return TraceRequest(ts=float(ts), task=task, confidence=confidence, prompt_tokens=prompt,
                        completion_tokens=completion, prompt_chars=chars,
                        user=user if isinstance(user, str) else None,
                        outcome=outcome if isinstance(outcome, str) else None, classified=classified,
                        cached_tokens=cached, cache_write_tokens=written, cache_write_1h_tokens=written_1h,
                        web_searches=searches, needs=needs)


def read_trace(path: str | Path) -> list[TraceRequest]:
    out = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{i}: invalid JSON: {exc}") from None
            out.append(parse_trace_line(doc, f"{path}:{i}"))
    return out


def trace_span_s(reqs: list[TraceRequest]) -> float:
    """Seconds the trace stands for: (t1 - t0) * n / (n - 1); one day when there is no spread."""
    if len(reqs) < 2:
        return 86_400.0
    t0 = min(r.ts for r in reqs)
    t1 = max(r.ts for r in reqs)
    if t1 <= t0:
        return 86_400.0
    return (t1 - t0) * len(reqs) / (len(reqs) - 1)
