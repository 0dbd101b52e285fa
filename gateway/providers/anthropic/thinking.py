"""What Claude takes of a conversation another provider wrote part of: thinking blocks and switch.

A conversation Claude carries on may hold turns another provider answered: a fallback in the
middle of a tool loop (Gemini 3 → Claude), or a client that switched models. Claude refuses a
`thinking` block it did not sign ("Invalid `signature` in `thinking` block") and, with `thinking:
{"type": "enabled"}`, a final assistant turn (the one whose `tool_use` blocks the last user turn
answers) that does not start with a thinking block ("Expected `thinking` or `redacted_thinking`,
but found `tool_use`..."). So the Messages body every Claude platform gets (`anthropic`,
`vertex_anthropic`, `bedrock_anthropic`; Converse has its own shape, gateway.providers.bedrock.
reasoning, and the same rules):

- a thinking block Claude cannot have signed is left out: an empty signature (another provider's
  thought summary, as the Messages inbound gives it) or one of the gateway's own envelopes
  (MARK: Gemini's thought signatures, gateway.inbound.anthropic.signatures); a
  `redacted_thinking` block without `data` too. Any other signature goes as it came: only Claude
  can tell whether it is its own.
- with `enabled` thinking, when the final tool turn has no thinking block at its start after
  that, the request goes without `thinking`, as Anthropic's error message advises and LiteLLM's
  `modify_params` does: it succeeds, and Claude answers it without thinking (fewer output
  tokens), as it will every request of that tool loop (a tool loop is one assistant turn, with
  one thinking setting) until a user turn that is not tool results. The adapter says so
  (`UpstreamRequest.adapted`, THINKING_OFF: the `x-gateway-adapted` header and the request log
  line). `adaptive` thinking is left as it is: Claude may skip thinking in a turn, so a turn
  without a thinking block is not refused (and the newest models take no other setting).
"""

from __future__ import annotations

from typing import Any

from gateway.providers import openai_side

MARK = "gateway-"
"""How the gateway's signature envelopes begin (`gateway-gemini-signature-v1:`,
`gateway-thinking-v1:`): never a signature Claude made."""
THINKING_OFF = "thinking-off"
"""The note of a request sent without the client's (or the effort's) `thinking`."""
THINKING = ("thinking", "redacted_thinking")


def claude_may_have_signed(block: Any) -> bool:
    """False for a thinking block Claude cannot have signed; True for every other block."""
    if not isinstance(block, dict):
        return True
    if block.get("type") == "thinking":
        signature = block.get("signature")
        return isinstance(signature, str) and bool(signature) and not signature.startswith(MARK)
    if block.get("type") == "redacted_thinking":
        return bool(block.get("data"))
    return True


def without_foreign(messages: list[Any]) -> list[Any]:
    """`messages` without the thinking blocks Claude cannot have signed (the same list when none)."""
    out, changed = [], False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and not all(map(claude_may_have_signed, content)):
            message = {**message, "content": [b for b in content if claude_may_have_signed(b)]}
            changed = True
        out.append(message)
    return out if changed else messages


def _unthought_tool_turn(messages: list[Any]) -> bool:
    """Whether the last turn answers tool calls of an assistant turn that does not start with a
    thinking block (what Claude refuses with `enabled` thinking)."""
    if len(messages) < 2 or not all(isinstance(m, dict) for m in messages[-2:]):
        return False
    last, turn = messages[-1].get("content"), messages[-2]
    if messages[-1].get("role") != "user" or turn.get("role") != "assistant" or not isinstance(last, list):
        return False
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
        return False
    content = turn.get("content")
    first = content[0] if isinstance(content, list) and content else None
    return not (isinstance(first, dict) and first.get("type") in THINKING)


def fit(body: dict[str, Any]) -> tuple[str, ...]:
    """Make the Messages `body` one Claude takes (see the module docstring), in place; the notes
    of what changed that the client should hear of."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ()
    body["messages"] = messages = without_foreign(messages)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and _unthought_tool_turn(messages):
        del body["thinking"]
        openai_side.log.debug("thinking_off", reason="the final tool turn has no Claude thinking block")
        return (THINKING_OFF,)
    return ()
