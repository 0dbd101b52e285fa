"""One request's trace: its server span, a client span per upstream attempt, and their attributes.

The attributes follow the OpenTelemetry GenAI semantic conventions (`gen_ai.*`: operation,
provider, request and response model, token usage, finish reasons) and the HTTP ones, plus the
gateway's own decisions (`gateway.*`). Prompts and answers are never put on a span: the gateway
does not log them either, and has no switch that would.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from gateway.observe.tracing.context import Parent, format_traceparent, new_span_id
from gateway.pricing import Usage

if TYPE_CHECKING:
    from gateway.config import Deployment


class Call(Protocol):
    """What a trace reads of a request's record (gateway.pipeline.record.Call), stated here so
    that observing a request does not import the pipeline that serves it."""

    request_id: str
    key: str
    api: str
    model_asked: str
    route: str
    task: str
    cache: str
    deployment: str
    provider: str
    attempts: int
    status: int
    error: str | None
    usage: Usage
    cost_micro: int
    trace: "RequestTrace | None"
    trace_id: str

    @property
    def fallbacks(self) -> int: ...

SERVER, CLIENT = 2, 3  # OTLP SpanKind
STATUS_ERROR = 2       # OTLP Status.code
# SpanFlags: the W3C flags in the low byte; bit 8 says whether bit 9 (the parent is remote) is known
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
# gen_ai.provider.name's well-known values, by wire format (an OpenAI-compatible server is "openai")
GENAI_PROVIDER = {
    "openai": "openai", "openai_responses": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic",
    "gemini": "gcp.gemini", "vertex_gemini": "gcp.vertex_ai", "vertex_anthropic": "gcp.vertex_ai",
    "bedrock": "aws.bedrock", "bedrock_anthropic": "aws.bedrock",
}
_GEMINI_MODEL = re.compile(r"^(/v1(?:beta)?/models/)[^:/]+")  # the model in the path is not the route
# gen_ai.operation.name by what the request asked (a task of the media endpoints is their kind)
OPERATIONS = {"embedding": "embeddings", "transcription": "transcription", "speech": "speech",
              "image": "image_generation", "moderation": "moderation"}


@dataclass(slots=True)
class Span:
    """A finished span, as the exporter encodes it (`otlp.encode`)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    flags: int
    tracestate: str = ""
    error: str = ""  # the status message when the span failed (status ERROR); "" leaves it unset


@dataclass(slots=True)
class Attempt:
    """One upstream call: open from the moment its request is built until its answer is read."""

    span_id: str
    deployment: "Deployment"
    start_ns: int
    end_ns: int = 0
    status: int = 0       # the upstream's HTTP status, when it answered
    error: str = ""       # the failure's code (upstream_timeout, upstream_error...)
    served: bool = False  # the attempt whose answer the client got


@dataclass(slots=True)
class RequestTrace:
    """The trace context of one request and the spans it will report when it ends (`spans`)."""

    trace_id: str
    span_id: str
    sampled: bool
    path: str
    parent: Parent | None = None
    start_ns: int = field(default_factory=time.time_ns)
    attempts: list[Attempt] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)

    @property
    def tracestate(self) -> str:
        return self.parent.tracestate if self.parent is not None else ""

    def attempt_started(self, dep: "Deployment") -> None:
        self.attempts.append(Attempt(new_span_id(), dep, time.time_ns()))

    def upstream_headers(self) -> dict[str, str]:
        """What the current attempt's request carries: its span as the provider's parent."""
        span = self.attempts[-1].span_id if self.attempts else self.span_id
        headers = {"traceparent": format_traceparent(self.trace_id, span, self.sampled)}
        if self.tracestate:
            headers["tracestate"] = self.tracestate
        return headers

    def attempt_answered(self, status: int) -> None:
        """The current attempt's upstream answered with this HTTP status."""
        if self.attempts:
            self.attempts[-1].status = status

    def attempt_ended(self, error: str = "", served: bool = False) -> None:
        """The current attempt is over: failed with `error` (the next candidate may be tried), or
        `served`: its answer went to the client (read whole; a stream that ended, cut or not)."""
        if self.attempts and not self.attempts[-1].end_ns:
            last = self.attempts[-1]
            last.end_ns, last.error, last.served = time.time_ns(), error, served

    def attempt_dropped(self) -> None:
        """The adapter could not express the request: no call was made, so no span."""
        if self.attempts and not self.attempts[-1].end_ns:
            self.attempts.pop()

    def spans(self, call: "Call") -> list[Span]:
        """The server span and the attempts' client spans, once the request is over."""
        now = time.time_ns()
        operation = OPERATIONS.get(call.task, "chat")
        route = _GEMINI_MODEL.sub(r"\1{model}", self.path)
        served = next((a for a in reversed(self.attempts) if a.served), None)
        attrs: dict[str, Any] = {
            "http.request.method": "POST", "http.route": route, "url.path": self.path,
            "http.response.status_code": call.status, "gen_ai.operation.name": operation,
            "gateway.api": call.api, "gateway.key": call.key,
            "gateway.request_id": call.request_id, "gateway.attempts": call.attempts,
        }
        if call.model_asked:  # unknown when the request was refused before its body was read
            attrs["gen_ai.request.model"] = call.model_asked
        if call.route:
            attrs["gateway.route"] = call.route
        if call.task:
            attrs["gateway.task"] = call.task
        if call.cache:
            attrs["gateway.cache"] = call.cache
        if call.deployment:
            attrs["gen_ai.response.model"] = call.deployment
            attrs["gateway.provider"] = call.provider
            fmt = served.deployment.provider.format if served is not None else ""
            if fmt:
                attrs["gen_ai.provider.name"] = attrs["gen_ai.system"] = GENAI_PROVIDER.get(fmt, fmt)
            attrs["gateway.cost_usd"] = call.cost_micro / 1_000_000
            attrs["gateway.fallbacks"] = call.fallbacks
            _usage(attrs, call)
            if self.finish_reasons:
                attrs["gen_ai.response.finish_reasons"] = list(self.finish_reasons)
        error = call.error or ""
        if error:
            attrs["error.type"] = error
        remote = _HAS_IS_REMOTE | (_IS_REMOTE if self.parent is not None else 0)
        sampled = 1 if self.sampled else 0
        out = [Span(f"POST {route}", self.trace_id, self.span_id, self.parent.span_id if self.parent else "", SERVER,
                    self.start_ns, now, attrs, sampled | remote, self.tracestate,
                    error if call.status >= 500 or (error and call.status < 400) else "")]
        for n, attempt in enumerate(self.attempts, 1):
            out.append(self._client_span(call, attempt, n, operation, attempt is served, now, sampled))
        return out

    def _client_span(self, call: "Call", attempt: Attempt, n: int, operation: str, served: bool, now: int,
                     sampled: int) -> Span:
        dep = attempt.deployment
        provider = dep.provider
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": operation, "gen_ai.request.model": dep.upstream,
            "gen_ai.provider.name": GENAI_PROVIDER.get(provider.format, provider.format),
            "gen_ai.system": GENAI_PROVIDER.get(provider.format, provider.format),
            "gateway.deployment": dep.name, "gateway.provider": provider.name, "gateway.attempt": n,
        }
        attrs.update(_server(provider.base_url))
        error = attempt.error
        if attempt.status:
            attrs["http.response.status_code"] = attempt.status
        if served:
            attrs["gen_ai.response.model"] = dep.upstream
            _usage(attrs, call)
            if self.finish_reasons:
                attrs["gen_ai.response.finish_reasons"] = list(self.finish_reasons)
        if error:
            attrs["error.type"] = error
        return Span(f"{operation} {dep.upstream}", self.trace_id, attempt.span_id, self.span_id, CLIENT,
                    attempt.start_ns, attempt.end_ns or now, attrs, sampled | _HAS_IS_REMOTE, self.tracestate, error)


@functools.lru_cache(maxsize=256)
def _server(base_url: str) -> dict[str, Any]:
    """server.address and server.port of the provider's URL (none when it cannot be read); the
    caller copies it."""
    try:
        target = urlsplit(base_url)
        port = target.port or (443 if target.scheme == "https" else 80)
    except ValueError:
        return {}
    return {"server.address": target.hostname, "server.port": port} if target.hostname else {}


def _usage(attrs: dict[str, Any], call: "Call") -> None:
    usage = call.usage
    attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
    attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if usage.cached_tokens:
        attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
