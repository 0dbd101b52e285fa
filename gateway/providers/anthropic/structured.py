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

MIN_BUDGET = 1024  # Anthropic's smallest budget_tokens


def json_tool(fmt: Any) -> dict[str, Any] | None:
    """The forced tool for JSON mode in Anthropic's shape, or None (see json_mode.forced_schema)."""
    schema = forced_schema(fmt)
    if schema is None:
        return None
    return {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}


def add_thinking(body: dict[str, Any], chat: dict[str, Any], client_max_tokens: bool, cap: int) -> None:
    """`reasoning_effort` as a thinking budget: none/minimal (budget 0) or too small a `max_tokens`
    send no thinking, nor does a forced tool. When the client set no max_tokens, it grows by the budget, up to `cap`."""
    budget = openai_side.thinking_budget(chat)
    if not budget or (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return
    if not client_max_tokens:
        body["max_tokens"] = min(cap, body["max_tokens"] + budget)
    budget = min(budget, body["max_tokens"] - 1)
    if budget < MIN_BUDGET:
        openai_side.log.debug("anthropic: reasoning_effort dropped", reason="max_tokens too small for thinking")
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body.pop("temperature", None)
    body.pop("top_k", None)
    top_p = body.get("top_p")
    if top_p is not None and not (isinstance(top_p, (int, float)) and top_p >= 0.95):
        body.pop("top_p")
