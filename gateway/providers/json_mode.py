"""JSON mode for providers with no JSON switch (Anthropic, Bedrock Converse): one forced tool.

A `response_format` of `json_object` or `json_schema` (with an object schema) becomes one tool,
`JSON_TOOL`, whose input schema is the schema (`{"type": "object"}` for json_object), forced by
the provider's tool choice: the model must answer with input matching the schema, which a system
instruction only asks for. The response side turns that tool call back into the message
`content` (a JSON string) with finish_reason "stop", so the client sees JSON mode as OpenAI has
it. When the client sends tools of its own, forcing ours would stop the model calling theirs:
then JSON is asked for by a system instruction (`json_instruction`). A schema whose root is not
an object (a tool's input must be one) is asked for the same way. Each adapter shapes the tool in
its own wire format from `forced_schema`.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import as_object, encode

# The forced tool's name; a client tool of this name would be read as JSON mode's answer.
JSON_TOOL = "json_response"
JSON_TOOL_DESCRIPTION = "Give the answer: its input is the whole answer, as JSON."
JSON_INSTRUCTION = ("Respond with a single valid JSON value only: no prose before or after it and no "
                    "Markdown code fences.")


def _schema(fmt: Any) -> tuple[bool, Any]:
    """(is JSON mode, its schema or None)."""
    if not isinstance(fmt, dict) or fmt.get("type") not in ("json_object", "json_schema"):
        return False, None
    if fmt["type"] == "json_object":
        return True, None
    return True, as_object(fmt.get("json_schema"), "response_format.json_schema").get("schema")


def forced_schema(fmt: Any) -> dict[str, Any] | None:
    """The forced tool's input schema, or None when the format asks for no JSON or for a non-object root."""
    wanted, schema = _schema(fmt)
    if not wanted:
        return None
    if schema is None:
        return {"type": "object"}
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    return schema


def json_instruction(fmt: Any) -> str | None:
    """The system instruction asking for JSON, where a forced tool cannot be used."""
    wanted, schema = _schema(fmt)
    if not wanted:
        return None
    if schema is not None:
        return f"{JSON_INSTRUCTION} It must conform to this JSON schema: {encode(schema).decode()}"
    return JSON_INSTRUCTION
