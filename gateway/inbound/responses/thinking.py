"""Claude's signed thinking in a Responses `reasoning` item, and back.

Claude (Anthropic, Vertex, Bedrock) demands the thinking blocks of the turn whose tool calls the
next turn answers, signatures intact, at the start of that turn. The canonical answer carries them
as the assistant message's `thinking_blocks`; a Responses client keeps only output items, so the
gateway gives each block out as a `reasoning` item whose `encrypted_content` is an envelope it
alone reads: PREFIX, then the standard base64 of the compact JSON list of the blocks in
Anthropic's shape. When the client sends the item back, the blocks become the `thinking_blocks`
of the assistant message that follows it. An `encrypted_content` without PREFIX is OpenAI's own
(the item is for a Responses deployment); one with PREFIX that does not decode is a 400.

No MAC and no encryption, on purpose. Integrity: Claude checks its own signature on every
`thinking` block and can read only its own `redacted_thinking` data, so an edited or forged block
is refused upstream; a MAC would add a secret every replica shares and rotates, and envelopes
that die with it, to guard nothing Claude does not already guard (a chat or Messages client can
send any block as it is). Confidentiality: the blocks are Claude's answer to this client, which
the chat and Messages APIs show it anyway; the envelope only keeps them out of the way.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request, shown

PREFIX = "gateway-thinking-v1:"
"""Versioned: a change of the envelope's content gets a new prefix, and this one stays readable."""

SHAPES = {"thinking": ("thinking", "signature"), "redacted_thinking": ("data",)}
"""The block types an envelope holds and their string fields (all required; `signature` and
`data` not empty)."""


def seal(blocks: list[dict[str, Any]]) -> str:
    """The envelope of signed `blocks` (openai_side.signed_thinking's shape)."""
    return PREFIX + base64.b64encode(orjson.dumps(blocks)).decode()


def is_ours(item: Any) -> bool:
    """Whether `item` is a reasoning item carrying the gateway's envelope (not for OpenAI)."""
    return (isinstance(item, dict) and item.get("type") == "reasoning"
            and isinstance(item.get("encrypted_content"), str) and item["encrypted_content"].startswith(PREFIX))


def unseal(item: dict[str, Any], where: str) -> list[dict[str, Any]] | None:
    """The blocks of a reasoning input item at `where` (`input[3]`); None when its content is not
    the gateway's envelope; a 400 naming the item when it is but does not decode."""
    if not is_ours(item):
        return None
    try:
        blocks = orjson.loads(base64.b64decode(item["encrypted_content"][len(PREFIX):], validate=True))
    except (binascii.Error, ValueError):
        raise _damaged(item, where, "it is not base64 of JSON") from None
    if not isinstance(blocks, list) or not blocks:
        raise _damaged(item, where, "it holds no thinking blocks")
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        fields = SHAPES.get(kind) if isinstance(kind, str) else None
        if fields is None or set(block) != {"type", *fields} or not all(isinstance(block[f], str) for f in fields) \
                or not block[fields[-1]]:  # the signature, the redacted data
            raise _damaged(item, where, "a block is not a signed thinking or redacted_thinking block")
    return blocks


def _damaged(item: dict[str, Any], where: str, why: str) -> GatewayError:
    return bad_request(f"'{where}.encrypted_content': the reasoning item {shown(item.get('id'))} carries the gateway's "
                       f"thinking envelope, but {why}. Send reasoning items back exactly as the gateway gave them.",
                       f"{where}.encrypted_content", "invalid_encrypted_content")
