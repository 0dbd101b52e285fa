"""The span export end to end, against collectors that are not simply up: one that fails its first
posts (503s, a 429 with Retry-After, a 502) still receives every span of a real gateway; an https
collector behind a private CA receives them when `tracing.ca_file` names the CA, and through an
HTTP proxy (tinyproxy, a CONNECT tunnel) when `tracing.proxy` names it."""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

import openai
import pytest

from gateway.net.egress import Egress
from gateway.net.upstream import Upstream
from gateway.observe.metrics import Metrics
from gateway.observe.tracing import ExportClient
from gateway.observe.tracing.context import new_span_id, new_trace_id
from gateway.observe.tracing.export import SpanExporter
from gateway.observe.tracing.otlp import resource
from tests.egress_helpers import Certs, make_certs, needs_tinyproxy, start_tinyproxy
from tests.otlp_collector import Collector
from tests.procs import DEMO_KEY, Proc, start_gateway, wait_for
from tests.test_tracing import _spans
from tests.test_tracing_e2e import _config, by_kind

FAILURES = [(503, {}), (503, {}), (429, {"retry-after": "1"}), (502, {})]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls(certs: Certs) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    return context


def ask(gw: Proc, n: int) -> list[str]:
    """`n` chat requests, each in a new trace of the client's; their trace ids."""
    ids = []
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        for _ in range(n):
            trace_id = new_trace_id()
            client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}],
                                           extra_headers={"traceparent": f"00-{trace_id}-{new_span_id()}-01"})
            ids.append(trace_id)
    return ids


def metrics_text(gw: Proc) -> str:
    return urllib.request.urlopen(f"{gw.url}/metrics").read().decode()


def test_a_collector_that_fails_its_first_posts_still_receives_every_span(
        sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    with Collector() as collector:
        collector.failures = list(FAILURES)
        tracing = (f"tracing:\n  enabled: true\n  endpoint: {collector.url}\n  export_interval_s: 0.05\n"
                   "  export_backoff_s: 0.01\n  export_attempts: 8\n")
        with start_gateway(tmp_path_factory.mktemp("gw"), _config(sim, "traceretry", tracing), redis_url) as gw:
            trace_ids = ask(gw, 4)
            for trace_id in trace_ids:
                server, (attempt,) = by_kind(collector.trace(trace_id, 2))
                assert attempt["parent_span_id"] == server["span_id"]
            assert collector.failures == [] and len(collector.requests) > len(FAILURES)
            # one batch was refused four times, then taken; nothing was dropped
            wait_for(lambda: 'gateway_trace_spans_exported_total' in metrics_text(gw))
            text = metrics_text(gw)
            assert "gateway_trace_spans_dropped_total{" not in text
    assert len({s["span_id"] for s in collector.spans}) == len(collector.spans) == 8  # a retry is not a duplicate


def test_an_https_collector_behind_a_private_ca(sim: Proc, redis_url: str, certs: Certs,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    with Collector(context=tls(certs)) as collector:
        assert collector.url.startswith("https://")
        tracing = (f"tracing:\n  enabled: true\n  endpoint: {collector.url}\n  export_interval_s: 0.05\n"
                   f"  ca_file: {certs.ca}\n")
        with start_gateway(tmp_path_factory.mktemp("gw"), _config(sim, "tracetls", tracing), redis_url) as gw:
            (trace_id,) = ask(gw, 1)
            server, (attempt,) = by_kind(collector.trace(trace_id, 2))
            assert server["resource"]["service.name"] == "gateway"


async def _export_once(exporter_client: ExportClient, url: str) -> tuple[bool, Metrics]:
    metrics = Metrics()
    exporter = SpanExporter(exporter_client, f"{url}/v1/traces", {}, resource("gw"), metrics.spans_exported,
                            metrics.spans_dropped, attempts=1)
    exporter.add(_spans(2))
    return await exporter.export_batch(), metrics


async def test_the_system_trust_store_refuses_a_private_ca(certs: Certs) -> None:
    """Without `ca_file` the collector's certificate is not trusted: no span leaves, and the batch
    is counted (a retryable failure: no answer)."""
    upstream = Upstream()
    await upstream.start()
    try:
        with Collector(context=tls(certs)) as collector:
            took, metrics = await _export_once(ExportClient(upstream, Egress(proxy="")), collector.url)
            assert took is False and collector.spans == []
            assert metrics.spans_dropped.values == {("export_failed",): 2}
            took, metrics = await _export_once(ExportClient(upstream, Egress(proxy="", ca_file=str(certs.ca))),
                                               collector.url)
            assert took is True and [s["name"] for s in collector.spans] == ["s0", "s1"]
    finally:
        await upstream.close()


@needs_tinyproxy
async def test_an_https_collector_through_the_configured_proxy(certs: Certs, tmp_path: Path) -> None:
    proxy = start_tinyproxy(tmp_path)
    upstream = Upstream()
    await upstream.start()
    try:
        with Collector(context=tls(certs)) as collector:
            port = collector.server.server_address[1]
            via = ExportClient(upstream, Egress(proxy=proxy.url(), ca_file=str(certs.ca)))
            took, _ = await _export_once(via, collector.url)
            assert took is True and len(collector.spans) == 2
            assert f"CONNECT 127.0.0.1:{port}" in proxy.requests()  # TLS end to end, through the tunnel
    finally:
        await upstream.close()
        proxy.stop()
