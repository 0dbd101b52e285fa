"""Claude's prompt caching as the Messages API documents it: `cache_control` marks
(`{"type": "ephemeral"}`, an optional `ttl` of 5m or 1h) on tools, system blocks and message
blocks, at most four a request, never on a thinking block or an empty text block. Each mark
closes a prefix (tools, then system, then messages, up to and including the marked block; the
marks themselves are not part of it): prompt_cache.py decides what is read and written.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .prompt_cache import MAX_CACHE_POINTS
from .text import billed_prompt_tokens
from .wire import BadRequest

TTLS = ("5m", "1h")


def block_texts(content: Any, out: list[str]) -> None:
    """The texts of a system prompt or a message's content that its prompt tokens count."""
    if isinstance(content, str):
        out.append(content)
        return
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif kind == "tool_use":
            out.append(orjson.dumps(block.get("input") or {}).decode())
        elif kind == "tool_result":
            block_texts(block.get("content"), out)


def _check(mark: Any, block: dict[str, Any], where: str) -> str:
    if not isinstance(mark, dict) or mark.get("type") != "ephemeral" or set(mark) - {"type", "ttl"}:
        raise BadRequest(f"{where}.cache_control.type: Input should be 'ephemeral'")
    if "ttl" in mark and mark["ttl"] not in TTLS:
        raise BadRequest(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    if block.get("type") in ("thinking", "redacted_thinking"):
        raise BadRequest(f"{where}.{block['type']}.cache_control: Extra inputs are not permitted")
    if block.get("type") == "text" and not block.get("text"):
        raise BadRequest(f"{where}: cache_control cannot be set for empty text blocks")
    return str(mark.get("ttl") or "5m")


def marked_prefixes(body: dict[str, Any], model: str) -> tuple[list[tuple[str, int]], bool]:
    """(key, prompt tokens) of the prefix each mark closes, in order, and whether a mark asks
    for the 1-hour TTL; a 400 for a bad mark or too many."""
    digest = hashlib.sha256(model.encode())
    texts: list[str] = []
    points: list[tuple[str, int]] = []
    hour = False
    system = body.get("system")
    runs: list[tuple[str, str, Any]] = [("tools", "tools", body.get("tools")),
                                       ("system", "system", system if isinstance(system, list) else None)]
    if isinstance(system, str):
        digest.update(orjson.dumps(["system", system]))
        texts.append(system)
    runs += [(str(m.get("role")), f"messages.{i}.content", m.get("content"))
             for i, m in enumerate(body.get("messages") or ()) if isinstance(m, dict)]
    for role, where, blocks in runs:
        if isinstance(blocks, str):
            digest.update(orjson.dumps([role, {"type": "text", "text": blocks}]))
            texts.append(blocks)
            continue
        for j, block in enumerate(blocks or ()):
            if not isinstance(block, dict):
                continue
            bare = {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(orjson.dumps([role, bare]))
            if role != "tools":
                block_texts([bare], texts)
            if "cache_control" in block:
                hour = _check(block["cache_control"], block, f"{where}.{j}") == "1h" or hour
                points.append((digest.copy().hexdigest(), billed_prompt_tokens(texts)))
    if len(points) > MAX_CACHE_POINTS:
        raise BadRequest(f"A maximum of {MAX_CACHE_POINTS} blocks with cache_control may be provided. "
                         f"Found {len(points)}.")
    return points, hour
