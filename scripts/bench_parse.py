#!/usr/bin/env python
"""Time gateway.pipeline.request.parse_chat with and without the shape checks of gateway.pipeline.schema, on a
two-message request and on one of 21 messages and 10 tools (best of 7 runs of 20,000 calls,
three rounds, interleaved so machine load hits both alike).

    python scripts/bench_parse.py
"""

from __future__ import annotations

import timeit

import orjson

import gateway.pipeline.request as chat

SMALL = orjson.dumps({"model": "auto", "messages": [{"role": "system", "content": "You are terse."},
                                                    {"role": "user", "content": "Write a haiku about Redis"}],
                      "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 100})
TOOLS = orjson.dumps({
    "model": "auto",
    "messages": [{"role": "user", "content": "hi"}] * 20 + [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
    "tools": [{"type": "function", "function": {"name": f"f{i}", "parameters": {
        "type": "object", "properties": {"a": {"type": "string"}}}}} for i in range(10)]})
CHECKS = ("check_depth", "check_fields", "check_message", "check_part")


def best_us(raw: bytes, n: int = 20_000) -> float:
    return min(timeit.repeat(lambda: chat.parse_chat(raw), number=n, repeat=7)) / n * 1e6


def main() -> None:
    for name, raw in (("2 messages", SMALL), ("21 messages + 10 tools", TOOLS)):
        for _ in range(3):
            with_checks = best_us(raw)
            saved = {c: getattr(chat, c) for c in CHECKS}
            for c in CHECKS:
                setattr(chat, c, lambda *a: None)
            without = best_us(raw)
            for c, fn in saved.items():
                setattr(chat, c, fn)
            print(f"{name} ({len(raw)} bytes): {with_checks:.1f} us with the checks, {without:.1f} us without")


if __name__ == "__main__":
    main()
