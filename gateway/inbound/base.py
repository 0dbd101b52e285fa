"""The inbound seam: one translator per client-facing API, over one canonical request.

The canonical request is an OpenAI chat-completions body, the format every provider adapter
takes; canonical answers are chat-completion bodies and `chat.completion.chunk` SSE frames, as
the adapters produce them. An inbound translator turns the client's request into the canonical
one and canonical answers (and the gateway's errors) back into the client's format, so the
pipeline's nine steps are written once for every API. The OpenAI chat translator is the
identity: the most common path pays nothing for the seam.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from gateway.errors import GatewayError
from gateway.pipeline.request import ChatRequest

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


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

    def parse(self, raw: bytes, headers: Mapping[str, str] = NO_HEADERS) -> ChatRequest:
        """The client's body (and its headers, lower-case names, for what a same-format provider
        may receive) → the canonical request, validated; a GatewayError (400) otherwise."""
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


class Remembers(Protocol):
    """An inbound API with state across requests (the Responses API's `previous_response_id`);
    a translator without these methods costs the pipeline nothing. Both run only on the
    request's own path: `recall` after parsing (before classify, so the prompt bound and the
    classifier see the whole conversation), `keep` before the answer's last bytes go out (so
    the client's next request finds what it refers to)."""

    async def recall(self, gw: "Gateway", key: str, chat: ChatRequest) -> None: ...

    async def keep(self, gw: "Gateway", key: str, chat: ChatRequest) -> None: ...


class AnswersNatively(Protocol):
    """An inbound API whose requests a provider of the same wire format receives as they came
    (gateway.providers.base.NATIVE) and whose answers it relays as that provider sent them, so
    the client keeps what the canonical form cannot carry (Gemini's grounding, safety ratings,
    thought parts...). Chosen per attempt: an adapter whose `native_format` is this
    `native_format` answers natively, any other (a fallback) through `reply` and `stream`. The
    pipeline still reads the canonical usage from the same answer, so accounting is unchanged;
    errors stay the translator's `error_body`. A translator without these costs nothing.
    `model` is the deployment's upstream model, the name a canonical answer gives the client,
    for a translator that keeps the two kinds of answer alike in that."""

    native_format: str

    def native_reply(self, data: bytes, chat: ChatRequest, model: str) -> bytes:
        """The provider's whole answer (already read for its usage) → the client's body."""
        ...

    def native_stream(self, chat: ChatRequest, model: str) -> StreamEncoder:
        """The encoder for one natively answered stream: its `feed` gets the provider's own
        events, re-framed as SSE (`event:` when named, `data:` lines, CRLF; see
        gateway.pipeline.native.ProviderEvents) instead of canonical frames."""
        ...
