"""The OpenAI embeddings list body, shared by every adapter that answers `/v1/embeddings`.

`encoding_format: base64` is what the `openai` SDK asks for by default: the vector as
little-endian float32 bytes, base64-encoded, exactly as OpenAI sends it.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Sequence

from gateway.errors import bad_request
from gateway.pricing import Usage


def input_texts(value: Any) -> list[str]:
    """`input` as a list of texts, for a model that embeds text only; a 400 for token arrays."""
    texts = value if isinstance(value, list) else [value]
    if not texts:
        raise bad_request("input must not be empty.", "input")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            where = f"input[{i}]" if isinstance(value, list) else "input"
            raise bad_request(f"{where} must be a string: this model embeds text, not token arrays.", "input")
    return texts


def encode_base64(values: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def decode_base64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    if len(raw) % 4:
        raise ValueError("a base64 embedding is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def encode(values: Any, encoding_format: str) -> Any:
    """One vector in the client's encoding, whichever encoding the provider used."""
    if encoding_format == "base64":
        return values if isinstance(values, str) else encode_base64(values)
    return decode_base64(values) if isinstance(values, str) else values


def usage_body(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens}


def embeddings_body(vectors: Sequence[Any], model: str, usage: Usage, encoding_format: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v, encoding_format)}
                 for i, v in enumerate(vectors)],
        "model": model,
        "usage": usage_body(usage),
    }
