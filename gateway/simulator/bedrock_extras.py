"""Converse's prompt caching and Claude's extended thinking, as Bedrock documents them.

Cache points (`{"cachePoint": {"type": "default"}}`, an optional `ttl` of 5m or 1h) are taken in
`system`, in `messages[].content` and in `toolConfig.tools`, at most four a request, and only for
the models Bedrock caches prompts for (Anthropic Claude, Amazon Nova); anywhere else, or for
another model, they are a ValidationException. Each cache point closes a prompt prefix (tools,
then system, then messages, up to it); prompt_cache.py decides what is read
(`cacheReadInputTokens`) and written (`cacheWriteInputTokens`). `inputTokens` is what is left.

Thinking: `additionalModelRequestFields.thinking` for a Claude model, checked as the Messages API
checks it (`anthropic_format.thinking_budget`: budget ≥ 1024 and under maxTokens, temperature 1
or none, no forced tool); any other model refuses the key. A reasoningText block sent back must
carry the signature the simulator gave it (its text's SHA-256), and with thinking on, an assistant
turn that called tools must start with its reasoning block, as Claude requires.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from .anthropic_format import thinking_budget
from .prompt_cache import MAX_CACHE_POINTS
from .text import billed_prompt_tokens
from .wire import BadRequest

CLAUDE = re.compile(r"(?:^|[./])anthropic\.claude")
NOVA = re.compile(r"(?:^|[./])amazon\.nova")
DEFAULT_MAX_TOKENS = 4096  # Claude's maxTokens on Converse when the request sets none


def is_claude(model: str) -> bool:
    return CLAUDE.search(model) is not None


def check_cache_point(value: Any, model: str, where: str) -> None:
    if not CLAUDE.search(model) and not NOVA.search(model):
        raise BadRequest(f"{where}: You invoked an unsupported model or your request did not allow prompt caching.")
    if not isinstance(value, dict) or value.get("type") != "default" or set(value) - {"type", "ttl"}:
        raise BadRequest(f"{where}.cachePoint: type must be 'default'")
    if "ttl" in value and value["ttl"] not in ("5m", "1h"):
        raise BadRequest(f"{where}.cachePoint.ttl: must be one of 5m, 1h")


def check_reasoning(value: Any, role: str, where: str) -> None:
    """A reasoningContent block sent back: in an assistant turn, signed as the simulator signs."""
    if role != "assistant":
        raise BadRequest(f"{where}: reasoningContent is allowed in assistant messages only")
    if not isinstance(value, dict) or len(value) != 1:
        raise BadRequest(f"{where}.reasoningContent: exactly one of reasoningText, redactedContent")
    text = value.get("reasoningText")
    if text is not None:
        if not isinstance(text, dict) or not isinstance(text.get("text"), str):
            raise BadRequest(f"{where}.reasoningContent.reasoningText: text is required")
        if text.get("signature") != signature(text["text"]):
            raise BadRequest(f"{where}: Invalid `signature` in `thinking` block")
    elif not isinstance(value.get("redactedContent"), str):
        raise BadRequest(f"{where}.reasoningContent: unknown member")


def signature(text: str) -> str:
    """What the simulator signs a thought with (as anthropic_format.think does)."""
    return hashlib.sha256(text.encode()).hexdigest()


def thinking(body: dict[str, Any], model: str) -> int | None:
    """The request's thinking budget, or None; a 400 as Bedrock or Claude would give one."""
    extra = body.get("additionalModelRequestFields")
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise BadRequest("additionalModelRequestFields: must be an object")
    if "thinking" not in extra:
        return None
    if not is_claude(model):
        raise BadRequest("The model returned the following errors: extraneous key [thinking] is not permitted")
    config = body.get("inferenceConfig") or {}
    choice = ((body.get("toolConfig") or {}).get("toolChoice")) or {}
    forced = {"type": "any"} if "any" in choice or "tool" in choice else None
    shim = {"thinking": extra["thinking"], "temperature": config.get("temperature"), "top_k": extra.get("top_k"),
            "tool_choice": forced}
    budget = thinking_budget(shim, config.get("maxTokens") or DEFAULT_MAX_TOKENS)
    messages = body["messages"]
    last = messages[-1].get("content") or []
    if budget is not None and len(messages) > 1 and any("toolResult" in b for b in last if isinstance(b, dict)):
        first = (messages[-2].get("content") or [{}])[0]
        if "reasoningContent" not in first:
            raise BadRequest(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
                             "`redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final "
                             "`assistant` message must start with a thinking block.")
    return budget


def prefix_points(body: dict[str, Any], model: str) -> list[tuple[str, int]]:
    """(key, prompt tokens) of the prefix each cache point closes, in order; a 400 for too many."""
    digest = hashlib.sha256(model.encode())
    texts: list[str] = []
    points: list[tuple[str, int]] = []
    tools = (body.get("toolConfig") or {}).get("tools") or []
    system = body.get("system") or []
    runs = [("tools", tools), ("system", system)] + [(m.get("role"), m.get("content") or []) for m in body["messages"]]
    for role, blocks in runs:
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if "cachePoint" in block:
                points.append((digest.copy().hexdigest(), billed_prompt_tokens(texts)))
                continue
            digest.update(orjson.dumps([role, block]))
            if "text" in block and role != "tools":
                texts.append(str(block["text"]))
    if len(points) > MAX_CACHE_POINTS:
        raise BadRequest(f"A maximum of {MAX_CACHE_POINTS} cache points is allowed; got {len(points)}.")
    return points


