"""A tiny OTLP/HTTP JSON trace collector for the tests: an implementation independent of the
gateway's encoder, reading each body with the OpenTelemetry protocol's own message classes.

Every body is parsed by protobuf's JSON parser into `ExportTraceServiceRequest` (from the
`opentelemetry-proto` package) after the one conversion OTLP/JSON asks of a reader: trace and span
ids are hex in OTLP/JSON where protobuf's JSON mapping has base64. An unknown field, a wrong type
or a bad id fails the parse, and the collector answers 400 and records the error, so a test sees
a malformed payload. Spans are kept as plain dicts with hex ids and Python attribute values.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def parse_otlp_json(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/HTTP JSON body as the protocol's message; ValueError when it is not one."""
    doc = json.loads(body)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for name in ID_FIELDS:
                    if name in span:
                        span[name] = base64.b64encode(bytes.fromhex(span[name])).decode()
    try:
        return json_format.ParseDict(doc, ExportTraceServiceRequest())
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None


def value_of(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def flat_spans(message: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    out = []
    for rs in message.resource_spans:
        resource = {kv.key: value_of(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name, "kind": s.kind, "start_ns": s.start_time_unix_nano, "end_ns": s.end_time_unix_nano,
                    "attributes": {kv.key: value_of(kv.value) for kv in s.attributes},
                    "status": s.status.code, "status_message": s.status.message, "trace_state": s.trace_state,
                    "flags": s.flags, "resource": resource, "scope": ss.scope.name,
                })
    return out


class Collector:
    """Listens on a loopback port (TLS with `context`); `spans` holds what it took, `requests`
    every POST's headers. `failures` are answers (status, headers) given in turn, before any
    span is taken, as a collector that is restarting or throttling would."""

    def __init__(self, status: int = 200, context: ssl.SSLContext | None = None) -> None:
        self.status = status
        self.spans: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with collector.lock:
                    collector.requests.append({k.lower(): v for k, v in self.headers.items()})
                    status, extra = collector.failures.pop(0) if collector.failures else (collector.status, {})
                answer = b"{}"
                if self.path != "/v1/traces" or self.headers.get("content-type") != "application/json":
                    status = 404 if self.path != "/v1/traces" else 415
                elif status == 200:
                    try:
                        spans = flat_spans(parse_otlp_json(body))
                    except ValueError as exc:
                        with collector.lock:
                            collector.errors.append(str(exc))
                        status, answer = 400, json.dumps({"message": str(exc)}).encode()
                    else:
                        with collector.lock:
                            collector.spans.extend(spans)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "Collector":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def trace(self, trace_id: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The spans of one trace, once `count` of them have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [s for s in self.spans if s["trace_id"] == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                assert not self.errors, self.errors
                assert len(found) >= count, f"{len(found)} of {count} spans of {trace_id} arrived: {found}"
                return found
            time.sleep(0.02)
