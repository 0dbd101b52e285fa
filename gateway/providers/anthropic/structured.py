"""JSON mode and reasoning effort on Anthropic, which has a switch for neither.

JSON: a `response_format` of `json_object` or `json_schema` (with an object schema) becomes one
tool, `JSON_TOOL`, whose `input_schema` is the schema (`{"type": "object"}` for json_object),
forced with `tool_choice: {"type": "tool"}`: the model must answer with input matching the schema,
which a system instruction only asks for. The response side turns that tool call back into the
message `content` (a JSON string) with finish_reason "stop", so the client sees JSON mode as
OpenAI has it. When the client sends tools of its own, forcing ours would stop the model calling
theirs: then JSON is asked for by a system instruction (`json_instruction`), as before. A schema
whose root is not an object (a tool's input must be one) is asked for the same way.

Effort: `reasoning_effort` → `thinking: {"type": "enabled", "budget_tokens": N}`, N from
`openai_side.THINKING_BUDGETS`, kept under `max_tokens` (which it counts toward). Anthropic
takes no temperature or top_k with thinking, and top_p only from 0.95, so those are dropped.
Thinking cannot be combined with a forced tool (`tool_choice` any or tool), so a request forcing
one, JSON mode by the forced tool included, goes without it.
"""

from __future__ import annotations

from typing import Any

from gateway.providers import openai_side
from gateway.providers.base import as_object, encode

# The forced tool's name; a client tool of this name would be read as JSON mode's answer.
JSON_TOOL = "json_response"
JSON_INSTRUCTION = ("Respond with a single valid JSON value only: no prose before or after it and no "
                    "Markdown code fences.")
MIN_BUDGET = 1024  # Anthropic's smallest budget_tokens


def _schema(fmt: Any) -> tuple[bool, Any]:
    """(is JSON mode, its schema or None)."""
    if not isinstance(fmt, dict) or fmt.get("type") not in ("json_object", "json_schema"):
        return False, None
    if fmt["type"] == "json_object":
        return True, None
    return True, as_object(fmt.get("json_schema"), "response_format.json_schema").get("schema")


def json_tool(fmt: Any) -> dict[str, Any] | None:
    """The forced tool for JSON mode, or None when the format asks for no JSON or for a non-object root."""
    wanted, schema = _schema(fmt)
    if not wanted:
        return None
    if schema is None:
        schema = {"type": "object"}
    elif not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    return {"name": JSON_TOOL, "description": "Give the answer: its input is the whole answer, as JSON.",
            "input_schema": schema}


def json_instruction(fmt: Any) -> str | None:
    """The system instruction asking for JSON, where a forced tool cannot be used."""
    wanted, schema = _schema(fmt)
    if not wanted:
        return None
    if schema is not None:
        return f"{JSON_INSTRUCTION} It must conform to this JSON schema: {encode(schema).decode()}"
    return JSON_INSTRUCTION


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
