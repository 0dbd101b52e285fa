"""Gemini's thought signatures in a Responses `reasoning` item, and back.

Gemini 3 signs its function calls (`thoughtSignature` on the first functionCall part of each
step; of parallel calls only the first is signed) and refuses the next request of the turn when
a signed call comes back without its signature (400 "Function call is missing a
thought_signature"). The canonical answer carries a signature as the call's
`extra_content.google.thought_signature`, as Google's OpenAI-compatible API does; a Responses
`function_call` item has no field for it, so the gateway gives each signed call a `reasoning`
item just before it, whose `encrypted_content` is an envelope only it reads: PREFIX, then the
standard base64 of the compact JSON `{"call_id": ..., "thought_signature": ...}`. Sent back in
`input`, the signature returns to the call with that id, wherever the item stands. An envelope
that does not decode is a 400 naming the item.

The signatures are a canonical hint for Gemini's adapters only: the Responses inbound marks its
NATIVE field (`signatures`) and `gateway.providers.base.for_format` takes them out of the body an
adapter of any other format gets. No MAC and no encryption, as for Claude's thinking
(thinking.py): Gemini verifies its own signatures, and a chat client sees them anyway.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request, shown

PREFIX = "gateway-gemini-signature-v1:"
"""Versioned: a change of the envelope's content gets a new prefix, and this one stays readable."""


def signature_of(call: Any) -> str | None:
    """The thought signature a canonical tool call (or a stream's first delta of one) carries."""
    extra = call.get("extra_content") if isinstance(call, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def signed_call(call: dict[str, Any], signature: str | None) -> dict[str, Any]:
    """`call` carrying `signature` (itself when there is none)."""
    return {**call, "extra_content": {"google": {"thought_signature": signature}}} if signature else call


def seal(call_id: str, signature: str) -> str:
    """The envelope of the signature of the call `call_id` (also the Anthropic Messages inbound's)."""
    return PREFIX + base64.b64encode(orjson.dumps({"call_id": call_id, "thought_signature": signature})).decode()


def opened(envelope: str) -> tuple[str, str] | None:
    """(call id, signature) of an envelope; None when it does not decode."""
    try:
        doc = orjson.loads(base64.b64decode(envelope[len(PREFIX):], validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(doc, dict) or set(doc) != {"call_id", "thought_signature"} \
            or not all(isinstance(v, str) and v for v in doc.values()):
        return None
    return doc["call_id"], doc["thought_signature"]


def item(item_id: str, call_id: str, signature: str) -> dict[str, Any]:
    """The reasoning item that carries the signature of the call `call_id`."""
    return {"id": item_id, "type": "reasoning", "summary": [], "encrypted_content": seal(call_id, signature)}


def is_ours(value: Any) -> bool:
    """Whether `value` is a reasoning item carrying a signature envelope (not for OpenAI)."""
    return (isinstance(value, dict) and value.get("type") == "reasoning"
            and isinstance(value.get("encrypted_content"), str) and value["encrypted_content"].startswith(PREFIX))


def unseal(value: dict[str, Any], where: str) -> tuple[str, str] | None:
    """(call id, signature) of a reasoning input item at `where`; None when it is not a signature
    envelope; a 400 naming the item when it is but does not decode."""
    if not is_ours(value):
        return None
    found = opened(value["encrypted_content"])
    if found is None:
        raise _damaged(value, where)
    return found


def restore(messages: list[dict[str, Any]], signatures: dict[str, str]) -> None:
    """Put each signature back on the assistant tool call with its id (in place)."""
    if not signatures:
        return
    for message in messages:
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if calls:
            message["tool_calls"] = [signed_call(c, signatures.get(c["id"])) if c.get("id") in signatures else c
                                     for c in calls]


def signed(messages: list[dict[str, Any]]) -> bool:
    """Whether an assistant tool call in `messages` carries a signature (the NATIVE mark)."""
    return any(signature_of(c) for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or ())


def _damaged(value: dict[str, Any], where: str) -> GatewayError:
    return bad_request(f"'{where}.encrypted_content': the reasoning item {shown(value.get('id'))} carries the gateway's "
                       "thought-signature envelope, but it does not decode. Send reasoning items back exactly as the "
                       "gateway gave them.", f"{where}.encrypted_content", "invalid_encrypted_content")
