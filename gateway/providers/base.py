"""The provider adapter contract: what the pipeline hands an adapter and what it gets back.

An adapter is an object satisfying `ChatAdapter` (and `EmbeddingsAdapter` when its capabilities
say `embeddings`): pure translation functions plus a `StreamDecoder` class. No adapter does I/O:
`gateway.net.upstream` sends what they build, so each can be tested alone. The shared errors and
field readers every adapter uses live here too, so no adapter imports a sibling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import orjson

from gateway.config import Deployment, Provider
from gateway.errors import bad_request
from gateway.net.sse import SSEParser
from gateway.pricing import Usage

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"  # every model call; a GET only for a token from a metadata server
    adapted: tuple[str, ...] = ()  # what the adapter changed that the client should hear of (x-gateway-adapted)


@dataclass(slots=True)
class UpstreamError:
    """A provider's failure, already in OpenAI terms; `status` is what the client gets if it is final."""

    status: int
    message: str
    type: str
    code: str | None
    retryable: bool
    retry_after_s: float | None = None
    upstream_status: int = 0
    request_fault: bool = False  # a 4xx about what the request names, not the deployment (neutral)


class StreamError(Exception):
    """The provider sent an error event in the middle of a stream."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


NATIVE = "x_gateway_native"
"""The canonical body's one extension field, for what the canonical form cannot express:
`{"format": <provider wire format>, "body": {...}, "headers": {...}, "hints": bool}`.
`body` holds the client's own request fields, which an adapter of that same format sends as they
came (Anthropic `cache_control`, thinking blocks with their signatures, server tools...), in
place of its translation of the canonical fields; `headers` holds the client headers it may pass
on (the inbound translator picks them). The pipeline removes the field before an adapter
of any other native format sees the body (`for_format`), so those never send it. `hints`: the
inbound translator also wrote HINTS into the canonical body. `only`: the name of a client field
the canonical form cannot carry and no other format may drop (Gemini's `cachedContent`), so only
that format's adapters may serve the request (`native_only`, read by the planner)."""


VENDOR_ONLY = frozenset({("anthropic", "file_id"), ("anthropic", "container"), ("anthropic", "mcp_servers"),
                         ("gemini", "fileData")})
"""(native format, field) of resources only the vendor's own API holds, not the clouds that resell
its models: Anthropic's Files API, code-execution containers and MCP connector are not offered by
Bedrock or Vertex, so such a request may go to a `format: anthropic` provider only; a Gemini
Files API file (`fileData`) is read by the Gemini API, not by Vertex."""


def native_only(body: dict[str, Any]) -> tuple[str, str] | None:
    """(wire format, field) when the request can be served only by adapters of its own format."""
    native = body.get(NATIVE)
    if native is None or not native.get("only"):
        return None
    return native["format"], native["only"]

HINTS = ("cache_control", "thinking_blocks", "thinking")
"""Canonical hints, in the shapes OpenAI-compatible Claude proxies (LiteLLM) take them: a content
part, a message or a `tools[]` entry with `cache_control` (a prompt-cache breakpoint after it), an
assistant message with `thinking_blocks` (Anthropic thinking blocks, signatures included, as the
answers carry them), a top-level `thinking` (Anthropic's object). The Anthropic Messages inbound
writes them for an adapter that reads them (`ChatAdapter.reads_hints`: Bedrock Converse, and
Claude's Messages adapters for the Responses inbound's thinking blocks); `for_format` takes them
out again for every other adapter, so an OpenAI-format provider never receives keys it would
refuse."""

TOP_HINTS = ("thinking", "metadata")
"""The top-level hints. `metadata` is the Responses inbound's (Bedrock Converse's `requestMetadata`;
OpenAI's chat API refuses it without `store: true`); an OpenAI chat client's, without NATIVE, is sent as it came."""


def for_format(body: dict[str, Any], native_format: str, reads_hints: bool = False) -> dict[str, Any]:
    """The canonical body as an adapter speaking `native_format` (its `ChatAdapter.native_format`)
    may see it: without the NATIVE field unless it is that format's own (a copy only then;
    usually the body itself), and without the inbound's HINTS unless the adapter reads them."""
    native = body.get(NATIVE)
    if native is None or (native_format and native.get("format") == native_format):
        return body
    out = {k: v for k, v in body.items() if k != NATIVE}
    if native.get("hints") and not reads_hints:
        _drop_hints(out)
    if native.get("signatures") and native_format != SIGNATURES_FORMAT:
        _drop_signatures(out)
    return out


SIGNATURES_FORMAT = "gemini"
"""The native format of the only adapters that read the thought signatures an inbound translator
restored on canonical tool calls (`extra_content.google.thought_signature`, marked by NATIVE
`signatures`): Gemini's; an adapter of any other format gets the calls without `extra_content`."""


def _drop_signatures(body: dict[str, Any]) -> None:
    """`extra_content` out of the tool calls in `body` (a shallow copy: the messages that hold one are copied)."""
    def bare(msg: Any) -> Any:
        calls = msg.get("tool_calls") if isinstance(msg, dict) else None
        if not isinstance(calls, list) or not any(isinstance(c, dict) and "extra_content" in c for c in calls):
            return msg
        return {**msg, "tool_calls": [{k: v for k, v in c.items() if k != "extra_content"} if isinstance(c, dict)
                                      else c for c in calls]}

    if isinstance(body.get("messages"), list):
        body["messages"] = [bare(m) for m in body["messages"]]


def _drop_hints(body: dict[str, Any]) -> None:
    """HINTS out of `body` (a shallow copy: the messages and tools that hold one are copied)."""
    for name in TOP_HINTS:
        body.pop(name, None)

    def bare(item: Any) -> Any:
        return {k: v for k, v in item.items() if k not in HINTS} if isinstance(item, dict) else item

    for key in ("messages", "tools"):
        items = body.get(key)
        if isinstance(items, list):
            body[key] = [bare(m) for m in items]
    for msg in body.get("messages") or ():
        if isinstance(msg, dict) and isinstance(msg.get("content"), list):
            msg["content"] = [bare(p) for p in msg["content"]]


def key_headers(provider: Provider, key_header: str, key_prefix: str = "",
                fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `fixed` headers, the provider key in `key_header` (when one is configured), then the
    provider's configured headers, which win."""
    headers = dict(fixed or {})
    if provider.api_key:
        headers[key_header] = key_prefix + provider.api_key
    headers.update(provider.headers)
    return headers


def json_headers(dep: Deployment, key_header: str, key_prefix: str = "",
                 fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """A JSON request's headers: `key_headers` after the content type."""
    return key_headers(dep.provider, key_header, key_prefix, {"content-type": "application/json", **(fixed or {})})


ProbeTarget = tuple[str, dict[str, str]]
"""A health probe: the URL and headers of one GET that costs nothing and shows the provider
answers (a model listing where there is one)."""


def no_health_probe(provider: Provider) -> ProbeTarget | None:
    """For a wire format with no such call: the housekeeper does not probe it."""
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read Retry-After (seconds form) or retry-after-ms; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def client_status(upstream_status: int) -> tuple[int, str]:
    """The status a client should see for a final upstream failure, and the OpenAI error type.

    Provider 400/404/422 are the caller's problem and pass through as 400-class; a provider's 401/403
    means the operator's provider key is wrong, not the client's gateway key, so it becomes a 502.
    """
    if upstream_status in (400, 404, 413, 422):
        return (400 if upstream_status == 422 else upstream_status), "invalid_request_error"
    if upstream_status in (401, 403):
        return 502, "upstream_error"
    if upstream_status == 429:
        return 429, "rate_limit_error"
    if upstream_status in (408, 504):
        return 504, "timeout"
    return 502, "upstream_error"


def error_message(data: bytes) -> tuple[str, str | None]:
    """Best-effort message and code from any provider's JSON error body."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data[:300].decode(errors="replace").strip()
        return (text or "upstream returned an empty error body"), None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("status") or err.get("type")
        return str(err.get("message") or "upstream error"), (str(code) if code is not None else None)
    if isinstance(err, str):
        return err, None
    return "upstream error", None


def upstream_error(status: int, message: str, code: str | None, headers: Mapping[str, str], *,
                   retryable: bool = False, retry_after_s: float | None = None) -> UpstreamError:
    """A provider's error answer in OpenAI terms: the client's status and type from the provider's
    status, retryable for the usual statuses (or when the provider's body says so), Retry-After
    from the headers before any delay the body gave."""
    client, type_ = client_status(status)
    after = retry_after_seconds(headers)
    return UpstreamError(status=client, message=message, type=type_, code=code,
                         retryable=retryable or status in RETRYABLE_STATUSES,
                         retry_after_s=after if after is not None else retry_after_s, upstream_status=status)


def as_object(value: Any, where: str) -> dict[str, Any]:
    """A field an adapter reads into: an object, or absent (an empty one); anything else is a
    400 naming it. The gateway validates these shapes at parse time; this keeps each adapter
    safe on its own."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    return value


def as_item(value: Any, where: str) -> dict[str, Any]:
    """An element of an array of objects (a message, a part, a tool, a tool call)."""
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object.", where)
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """As `as_object`, for an array."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{where}' must be an array.", where)
    return value


def as_number(value: Any, where: str) -> int | float:
    """A numeric field an adapter does arithmetic on; a 400 for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"'{where}' must be a number.", where)
    return value


def as_count(value: Any, where: str) -> int:
    """A positive integer field (token limits, candidate count); a 400 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(f"'{where}' must be a positive integer.", where)
    return value


def as_strings(value: Any, where: str) -> list[Any]:
    """`stop`: one string or an array of them, as an array."""
    if isinstance(value, str):
        return [value]
    return as_list(value, where)


def encode(body: Any) -> bytes:
    """The provider's JSON body; a 400 for a value orjson will not write (nested deeper than 255
    levels, which it reads up to 1,024)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise bad_request(f"The request cannot be sent to the provider: {exc}.") from None


# --------------------------------------------------------------------------------------- contract

@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can express, declared so the pipeline asks instead of probing attributes."""

    embeddings: bool  # answers `/v1/embeddings` (the adapter is an `EmbeddingsAdapter`)
    n_choices: bool  # returns `n > 1` choices from one call (otherwise `to_upstream` refuses n > 1)
    custom_tools: bool = False  # takes custom (freeform) tools; else gateway.pipeline.custom_tools
    web_search: bool = True  # has a server-side web search to ask for (else in the config's NO_WEB_SEARCH)


@runtime_checkable
class StreamDecoder(Protocol):
    """Turns the provider's SSE events into OpenAI `chat.completion.chunk` frames, one stream each.

    `feed` returns whole `data: ...\n\n` frames (never `[DONE]`: the relay writes it) and raises
    `StreamError` on an error event; `done` is set once the provider's stream is complete;
    `finish` runs at the end (also of a stream cut short) and fills in `usage` when the provider
    never reported it."""

    usage: Usage
    done: bool

    def feed(self, event: bytes, data: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class StreamFraming(Protocol):
    """Splits a stream's bytes, in whatever network chunks they come, into (event, data) pairs for
    the decoder: SSE for most providers (`gateway.net.sse.SSEParser`), AWS's binary event stream
    for Bedrock. A malformed stream is a ValueError."""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]: ...


class StreamDecoderFactory(Protocol):
    """A `StreamDecoder` class: built per stream with the deployment and whether the client wants usage."""

    def __call__(self, dep: Deployment, include_usage: bool) -> StreamDecoder: ...


@runtime_checkable
class ChatAdapter(Protocol):
    """One wire format behind the OpenAI chat-completions format."""

    name: str  # the config's `format` value
    capabilities: Capabilities
    StreamDecoder: StreamDecoderFactory
    stream_framing: Callable[[], StreamFraming]  # a new one per stream
    native_format: str  # the inbound API whose own fields (NATIVE) it sends as they came; "" none
    reads_hints: bool  # it reads the canonical HINTS (others get the body without them)
    health_probe: Callable[[Provider], ProbeTarget | None]  # the housekeeper's probe of a provider

    def to_upstream(self, chat: dict[str, Any], dep: Deployment, stream: bool) -> UpstreamRequest:
        """The provider request for an OpenAI chat body; a 400 `GatewayError` when it cannot be expressed."""
        ...

    def from_upstream(self, data: bytes, dep: Deployment) -> tuple[dict[str, Any], Usage]:
        """The OpenAI chat-completion body and usage; ValueError/TypeError/KeyError when malformed."""
        ...

    def error_from_upstream(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """A provider's error answer, in OpenAI terms."""
        ...


@runtime_checkable
class EmbeddingsAdapter(ChatAdapter, Protocol):
    """A wire format that also answers `/v1/embeddings` (`capabilities.embeddings` is True)."""

    def embeddings_to_upstream(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest: ...

    def embeddings_from_upstream(self, data: bytes, dep: Deployment, encoding_format: str,
                                 headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Usage]:
        """The OpenAI list body and usage; `headers` are the answer's (Bedrock counts tokens there)."""
        ...


# The concrete adapters: each wire format's functions, gathered into one object the registry holds.
# (Instances, not modules, so the contract above is checked and `capabilities` is declared.)

@dataclass(frozen=True, slots=True)
class ChatAdapterFunctions:
    """A `ChatAdapter` made of plain functions."""

    name: str
    capabilities: Capabilities
    to_upstream: Callable[[dict[str, Any], Deployment, bool], UpstreamRequest]
    from_upstream: Callable[[bytes, Deployment], tuple[dict[str, Any], Usage]]
    error_from_upstream: Callable[[int, bytes, Mapping[str, str]], UpstreamError]
    StreamDecoder: StreamDecoderFactory
    stream_framing: Callable[[], StreamFraming] = field(default=SSEParser, kw_only=True)
    native_format: str = field(default="", kw_only=True)
    reads_hints: bool = field(default=False, kw_only=True)
    health_probe: Callable[[Provider], ProbeTarget | None] = field(default=no_health_probe, kw_only=True)


@dataclass(frozen=True, slots=True)
class EmbeddingsAdapterFunctions(ChatAdapterFunctions):
    """An `EmbeddingsAdapter` made of plain functions."""

    embeddings_to_upstream: Callable[[dict[str, Any], Deployment], UpstreamRequest]
    embeddings_from_upstream: Callable[[bytes, Deployment, str, Mapping[str, str] | None],
                                       tuple[dict[str, Any], Usage]]
