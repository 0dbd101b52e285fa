"""The `tracing:` block: where spans are exported and which requests are sampled."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.config.model import Tracing
from gateway.net.egress import Egress
from gateway.config.provider import read_bool, read_ca_file, read_proxy
from gateway.config.reader import Reader


def parse_tracing(r: Reader, doc: Any) -> Tracing:
    """Off unless `enabled: true`; then `endpoint` (the collector's OTLP/HTTP base URL) is required.
    `headers` values are secrets as often as not (a collector's API key): they reach the
    collector only, never a log line, and are read through the file's ${VAR} expansion. `proxy` and
    `ca_file` read as a provider's do (an https collector behind a private CA, a proxy's way out)."""
    doc = r.mapping(doc, "tracing")
    r.known(doc, "tracing", set(Tracing.__slots__) - {"egress"} | {"proxy", "ca_file"})
    base, enabled = Tracing(), read_bool(r, doc, "enabled", "tracing", False)
    endpoint = doc.get("endpoint")
    if endpoint is not None or enabled:
        endpoint = r.string(doc, "endpoint", "tracing").rstrip("/")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise r.fail("tracing.endpoint", endpoint, "expected an http:// or https:// URL (the collector's "
                         "OTLP/HTTP base, e.g. http://otel-collector:4318; /v1/traces is added)")
    headers = r.mapping(doc.get("headers"), "tracing.headers")
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not isinstance(value, (str, int)) or isinstance(value, bool):
            raise r.fail(f"tracing.headers.{name}", "<hidden>", "expected a header name and a string value")
    ratio = r.number(doc, "sample_ratio", "tracing", base.sample_ratio)
    if ratio > 1:
        raise r.fail("tracing.sample_ratio", ratio, "must be between 0 and 1")
    return Tracing(
        enabled=enabled, endpoint=endpoint, headers=tuple((n.lower(), str(v)) for n, v in headers.items()),
        sample_ratio=ratio, service_name=r.string(doc, "service_name", "tracing", base.service_name),
        max_queue_spans=r.number(doc, "max_queue_spans", "tracing", base.max_queue_spans, minimum=16, integer=True),
        batch_spans=r.number(doc, "batch_spans", "tracing", base.batch_spans, minimum=1, integer=True),
        export_interval_s=r.number(doc, "export_interval_s", "tracing", base.export_interval_s, minimum=0.01),
        export_timeout_s=r.number(doc, "export_timeout_s", "tracing", base.export_timeout_s, minimum=0.1),
        export_attempts=r.number(doc, "export_attempts", "tracing", base.export_attempts, minimum=1, integer=True),
        export_backoff_s=r.number(doc, "export_backoff_s", "tracing", base.export_backoff_s, minimum=0.001),
        export_max_backoff_s=r.number(doc, "export_max_backoff_s", "tracing", base.export_max_backoff_s,
                                      minimum=0.001),
        egress=_egress(r, doc, base.egress),
    )


def _egress(r: Reader, doc: dict[str, Any], default: Egress) -> Egress:
    """The collector's way out: the environment's proxy and the system's trust store unless told."""
    proxy, ca_file = read_proxy(r, doc, "tracing"), read_ca_file(r, doc, "tracing")
    return default if proxy is None and ca_file is None else Egress(proxy, ca_file)
