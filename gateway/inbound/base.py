"""The inbound seam: one translator per client-facing API, over one canonical request.

The canonical request is an OpenAI chat-completions body, the format every provider adapter
takes; canonical answers are chat-completion bodies and `chat.completion.chunk` SSE frames, as
the adapters produce them. An inbound translator turns the client's request into the canonical
one and canonical answers (and the gateway's errors) back into the client's format, so the
pipeline's nine steps are written once for every API. The OpenAI chat translator is the
identity: the most common path pays nothing for the seam.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.pipeline.request import ChatRequest

NATIVE = "x_gateway_native"
"""The canonical body's one extension field, for what the canonical form cannot express:
`{"format": <provider wire format>, "body": {...}, "forward": (header names,), "headers": {...}}`.
`body` holds the client's own request fields, which an adapter of that same format sends as they
came (Anthropic `cache_control`, thinking blocks with their signatures, server tools...), in
place of its translation of the canonical fields; `forward` names the client headers it may pass
on (the pipeline fills `headers` from the request). The pipeline removes the field before any
other format's adapter sees the body (`for_format`), so those never send it."""


def for_format(body: dict[str, Any], wire_format: str) -> dict[str, Any]:
    """The canonical body as a deployment of `wire_format` may see it: without the NATIVE
    field unless it is that format's own (a copy only then; usually the body itself)."""
    native = body.get(NATIVE)
    if native is None or native.get("format") == wire_format:
        return body
    return {k: v for k, v in body.items() if k != NATIVE}


class StreamEncoder(Protocol):
    """Canonical SSE frames in, the client's stream bytes out; one encoder per answered stream."""

    def feed(self, frames: bytes) -> bytes:
        """Whole canonical `data: {...}\\n\\n` frames (one network read's worth) → the client's bytes
        (may be empty: a translator may hold state until it can emit a whole event)."""
        ...

    def finish(self) -> bytes:
        """The stream ended normally after the last frame: the client's closing bytes."""
        ...

    def error(self, err: GatewayError) -> bytes:
        """The stream failed after its 200 went out: the failure as the client's last event(s)."""
        ...


class Inbound(Protocol):
    """A client-facing API. `name` appears in logs and metrics (e.g. `openai.chat`)."""

    name: str

    def parse(self, raw: bytes) -> ChatRequest:
        """The client's body → the canonical request, validated; a GatewayError (400) otherwise."""
        ...

    def reply(self, body: dict[str, Any], chat: ChatRequest) -> bytes:
        """A canonical chat-completion body → the client's response body."""
        ...

    def stream(self, chat: ChatRequest) -> StreamEncoder:
        """The encoder for one streamed answer."""
        ...

    def error_body(self, err: GatewayError) -> bytes:
        """A gateway error in the client's error format (status and headers stay the error's)."""
        ...
