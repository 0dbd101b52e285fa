"""Gemini's thought signatures in a Messages `thinking` block, and back.

Gemini 3 signs its function calls (the first call of each step) and refuses the next request of
the turn when a signed call comes back without its signature. A `tool_use` block has no field
for it, so an answer gives each signed call a `thinking` block just before it, with empty
`thinking` and, as `signature`, the gateway's envelope (the Responses inbound's: PREFIX, then
base64 of `{"call_id", "thought_signature"}`, gateway.inbound.responses.signatures). Clients
send thinking blocks back as they came (Claude Code does); the request then puts the signature
back on the canonical call with that id (`extra_content.google.thought_signature`) and leaves
the block out of everything else: of the canonical `thinking_blocks` and of the native body an
Anthropic-format deployment gets, since Claude refuses a thinking block it did not sign. The
NATIVE mark `signatures` makes `for_format` take the calls' `extra_content` out for every
format but Gemini's. An envelope that does not decode is a 400 naming the block.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import bad_request
from gateway.inbound.responses.signatures import PREFIX, opened, seal, signature_of, signed, signed_call

__all__ = ["block", "is_ours", "take", "sign", "without_ours", "signature_of", "signed"]


def block(call_id: str, signature: str) -> dict[str, Any]:
    """The thinking block that carries the signature of the call `call_id`."""
    return {"type": "thinking", "thinking": "", "signature": seal(call_id, signature)}


def is_ours(value: Any) -> bool:
    """Whether `value` is a thinking block carrying a signature envelope (never for Claude)."""
    return (isinstance(value, dict) and value.get("type") == "thinking"
            and isinstance(value.get("signature"), str) and value["signature"].startswith(PREFIX))


def take(value: dict[str, Any], where: str, found: dict[str, str]) -> bool:
    """Whether `value` is one of ours; if so its (call id → signature) goes into `found`, and a
    400 naming it when it does not decode."""
    if not is_ours(value):
        return False
    pair = opened(value["signature"])
    if pair is None:
        raise bad_request(f"{where}.signature: the thinking block carries the gateway's thought-signature envelope, "
                          "but it does not decode. Send thinking blocks back exactly as the gateway gave them.",
                          f"{where}.signature")
    found[pair[0]] = pair[1]
    return True


def sign(calls: list[dict[str, Any]], found: dict[str, str]) -> list[dict[str, Any]]:
    """`calls` with each signature in `found` on the call with its id."""
    return [signed_call(c, found.get(c["id"])) for c in calls] if found else calls


def without_ours(messages: Any) -> Any:
    """The client's `messages` without our thinking blocks (a copy where one is taken out), for
    the native body an Anthropic-format deployment gets."""
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(is_ours(b) for b in content):
            message = {**message, "content": [b for b in content if not is_ours(b)]}
        out.append(message)
    return out
