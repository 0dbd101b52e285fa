"""Spans as an OTLP/HTTP JSON body: the protobuf JSON mapping of ExportTraceServiceRequest.

OTLP's JSON differs from protobuf's canonical mapping in two ways, both followed here: trace
and span ids are hex strings (not base64), and enum values are integers. As protobuf JSON
does, 64-bit integers (the nanosecond times, integer attributes) are strings, field names are
lowerCamelCase, and unset fields are left out.
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

from gateway import __version__
from gateway.observe.tracing.spans import STATUS_ERROR, Span

SCOPE = {"name": "gateway", "version": __version__}


def any_value(value: Any) -> dict[str, Any]:
    """One attribute value as an OTLP AnyValue (bool before int: a bool is an int in Python)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in values.items() if value is not None]


def span_json(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id, "spanId": span.span_id, "name": span.name, "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns), "endTimeUnixNano": str(max(span.end_ns, span.start_ns)),
        "attributes": attributes(span.attributes), "flags": span.flags,
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    if span.tracestate:
        out["traceState"] = span.tracestate
    if span.error:
        out["status"] = {"code": STATUS_ERROR, "message": span.error}
    return out


def resource(service_name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"attributes": attributes({"service.name": service_name, "service.version": __version__,
                                      "telemetry.sdk.name": "gateway", "telemetry.sdk.language": "python",
                                      **(extra or {})})}


def encode(spans: Iterable[Span], resource_doc: dict[str, Any]) -> bytes:
    """One export request's body: every span under the one resource and scope."""
    return orjson.dumps({"resourceSpans": [{"resource": resource_doc, "scopeSpans": [
        {"scope": SCOPE, "spans": [span_json(s) for s in spans]}]}]})
