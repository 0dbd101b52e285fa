"""Distributed tracing: W3C trace context in, OpenTelemetry spans out (OTLP/HTTP JSON).

Off by default (`tracing.enabled`). While it is off, a request pays one dict lookup: a client's
valid `traceparent` still puts its trace id in the request's log line, so logs and the client's
traces can be joined, but no span is made and nothing is sent upstream. While it is on, every
request has a trace (the client's, or a new one) and every upstream call carries a
`traceparent` naming its attempt's span; sampled traces are exported by `SpanExporter`.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from gateway.observe.tracing.context import Parent, Sampler, new_span_id, new_trace_id, parse_traceparent
from gateway.observe.tracing.export import Poster, SpanExporter
from gateway.observe.tracing.retry import Backoff
from gateway.observe.tracing.otlp import resource
from gateway.observe.tracing.spans import Call, RequestTrace

if TYPE_CHECKING:
    from gateway.config import Tracing
    from gateway.net.egress import Egress
    from gateway.net.upstream import Posted, Upstream
    from gateway.observe.metrics import Metrics

__all__ = ["ExportClient", "Tracer", "RequestTrace", "Parent", "begin", "parse_traceparent"]


class Tracer:
    """One worker's tracing: starts each request's trace and queues the spans of the sampled ones."""

    def __init__(self, config: "Tracing", metrics: "Metrics", poster: Poster) -> None:
        assert config.endpoint is not None
        self.config = config
        self.sampler = Sampler(config.sample_ratio)
        instance = f"{socket.gethostname()}:{os.getpid()}"
        self.exporter = SpanExporter(
            poster, f"{config.endpoint}/v1/traces", dict(config.headers),
            resource(config.service_name, {"service.instance.id": instance}),
            metrics.spans_exported, metrics.spans_dropped, config.max_queue_spans, config.batch_spans,
            config.export_interval_s, config.export_timeout_s, config.export_attempts,
            Backoff(config.export_backoff_s, config.export_max_backoff_s))

    def start(self, headers: dict[str, str], path: str) -> RequestTrace:
        """The request's trace: the caller's when its `traceparent` is valid, else a new one."""
        parent = parse_traceparent(headers.get("traceparent"), headers.get("tracestate"))
        trace_id = parent.trace_id if parent is not None else new_trace_id()
        return RequestTrace(trace_id, new_span_id(), self.sampler.sampled(trace_id, parent), path, parent)

    def finish(self, call: "Call") -> None:
        trace = call.trace
        if trace is not None and trace.sampled:
            self.exporter.add(trace.spans(call))

    def start_export(self) -> None:
        """The worker's background export (stopped by `close`, not cancelled with the others)."""
        self.exporter.start()

    async def close(self) -> None:
        """Shutdown: the export in flight ends, then what is queued is sent, within the export timeout."""
        await self.exporter.close(self.config.export_timeout_s)


class ExportClient:
    """The worker's HTTP client, bound to the collector's way out (`tracing.proxy`, `ca_file`)."""

    def __init__(self, upstream: "Upstream", egress: "Egress") -> None:
        self.upstream, self.egress = upstream, egress

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> "Posted | None":
        return await self.upstream.post(url, headers, body, timeout_s, self.egress)


def begin(call: "Call", tracer: Tracer | None, headers: dict[str, str], path: str) -> None:
    """A request's trace (tracing on), or only the trace id of a valid client `traceparent`
    for its log line (off). The caller checks first that there is either to do."""
    if tracer is not None:
        call.trace = trace = tracer.start(headers, path)
        call.trace_id = trace.trace_id
    else:
        parent = parse_traceparent(headers.get("traceparent"))
        call.trace_id = parent.trace_id if parent is not None else ""
