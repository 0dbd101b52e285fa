"""JSON mode and reasoning effort on Anthropic, which has a switch for neither.

JSON: one forced tool, as gateway/providers/json_mode.py says; here in Anthropic's shape
(`input_schema`, `tool_choice: {"type": "tool"}`).

Effort: `reasoning_effort` → `thinking: {"type": "enabled", "budget_tokens": N}`, N from
`openai_side.THINKING_BUDGETS`, kept under `max_tokens` (which it counts toward). Anthropic
takes no temperature or top_k with thinking, and top_p only from 0.95, so those are dropped.
Thinking cannot be combined with a forced tool (`tool_choice` any or tool), so a request forcing
one, JSON mode by the forced tool included, goes without it.
"""

from __future__ import annotations

from typing import Any

from gateway.providers import openai_side
from gateway.providers.json_mode import JSON_TOOL, JSON_TOOL_DESCRIPTION, forced_schema


def json_tool(fmt: Any) -> dict[str, Any] | None:
    """The forced tool for JSON mode in Anthropic's shape, or None (see json_mode.forced_schema)."""
    schema = forced_schema(fmt)
    if schema is None:
        return None
    return {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}


def add_thinking(body: dict[str, Any], chat: dict[str, Any], client_max_tokens: bool, cap: int) -> None:
    """`reasoning_effort` as a thinking budget (`openai_side.thinking_plan`); with thinking on,
    temperature and top_k go, and top_p below 0.95."""
    forced = (body.get("tool_choice") or {}).get("type") in ("any", "tool")
    body["max_tokens"], budget = openai_side.thinking_plan(chat, body["max_tokens"], client_max_tokens, cap, forced)
    if budget is None:
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body.pop("temperature", None)
    body.pop("top_k", None)
    if "top_p" in body and not openai_side.top_p_with_thinking(body["top_p"]):
        body.pop("top_p")
