"""`prompt_cache: auto` on a Messages body: `cache_control` marks where gateway/providers/
cache_marks.py says, unless the client marked the prompt itself (Claude Code does), in which
case its own marks are the plan and nothing is added.

The body may hold the client's own objects (an Anthropic client's messages, sent as they came),
so every list and block that gets a mark is copied, never changed in place.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.cache_marks import message_marks

EPHEMERAL = {"type": "ephemeral"}
UNMARKABLE = frozenset({"thinking", "redacted_thinking"})  # Claude refuses a mark on these


def has_marks(body: dict[str, Any]) -> bool:
    """Whether any tool, system block or message block already carries `cache_control` (plain
    loops: an agent's body has hundreds of blocks, and Claude Code's marks come early)."""
    for items in (body.get("tools"), body.get("system")):
        if isinstance(items, list):
            for block in items:
                if isinstance(block, dict) and "cache_control" in block:
                    return True
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and "cache_control" in block:
                    return True
    return False


def _marked_blocks(content: Any) -> list[Any] | None:
    """A copy of a message's content with its last markable block marked; None when none is."""
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) and content else content
    if not isinstance(blocks, list):
        return None
    for i in range(len(blocks) - 1, -1, -1):
        block = blocks[i]
        if not isinstance(block, dict) or block.get("type") in UNMARKABLE:
            continue
        if block.get("type") == "text" and not block.get("text"):
            continue  # Claude refuses a mark on an empty text block
        out = list(blocks)
        out[i] = {**block, "cache_control": EPHEMERAL}
        return out
    return None


def mark(body: dict[str, Any]) -> None:
    """Add the marks to `body` (its own keys are replaced by marked copies)."""
    if has_marks(body):
        return
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        body["tools"] = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
    system = body.get("system")
    if system:
        marked = _marked_blocks(system)
        if marked is not None:
            body["system"] = marked
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    at = message_marks([m.get("role") if isinstance(m, dict) else None for m in messages])
    if at:
        messages = list(messages)
        for i in at:
            content = _marked_blocks(messages[i].get("content"))
            if content is not None:
                messages[i] = {**messages[i], "content": content}
        body["messages"] = messages
