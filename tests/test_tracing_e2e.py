"""Tracing end to end: the official openai SDK sends a W3C `traceparent` → the gateway (a real
process, `tracing.enabled`) → the simulator, which records the `traceparent` each upstream call
carried; the gateway's spans arrive at a tiny OTLP/HTTP JSON collector in the test
(tests/otlp_collector.py), which reads them with the OpenTelemetry protocol's own classes."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any, Iterator

import openai
import pytest

from gateway.observe.tracing.context import new_span_id, new_trace_id, parse_traceparent
from gateway.state.engine import free_port
from tests.otlp_collector import Collector
from tests.procs import DEMO_KEY, Proc, config_yaml, sim_reset, sim_set, start_gateway, wait_for

BREAKER = "failures: 1000\n  window_s: 60\n  cooldown_s: 1\n  max_cooldown_s: 1\n  probe_lease_s: 60\n  min_sources: 1"
ROUTES = """  auto:
    primary: gpt-5.4-mini
    fallbacks: [deepseek-v4-pro]
  embeddings:
    primary: text-embedding-3-small"""
EMBEDDING = "  text-embedding-3-small: {provider: sim, kind: embedding, price: {input: 0.02}}"
SERVER_KIND, CLIENT_KIND = 2, 3


def _config(sim: Proc, prefix: str, tracing: str) -> str:
    return config_yaml(sim.port, prefix, breaker=BREAKER, routes=ROUTES, extra_models=EMBEDDING) + tracing


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as c:
        yield c


@pytest.fixture(scope="module")
def gateway(sim: Proc, collector: Collector, redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tracing = (f"tracing:\n  enabled: true\n  endpoint: {collector.url}\n  export_interval_s: 0.05\n"
               "  service_name: gateway-under-test\n  headers: {x-collector-token: '${COLLECTOR_TOKEN}'}\n")
    with start_gateway(tmp_path_factory.mktemp("gw"), _config(sim, "trace", tracing), redis_url,
                       env={"COLLECTOR_TOKEN": "tok-123"}) as proc:
        yield proc


def sim_traceparents(sim: Proc) -> list[dict[str, str]]:
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["traceparents"]


def request_line(gw: Proc, request_id: str) -> dict[str, Any]:
    """The gateway's log line of one request (written once the request has settled)."""
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        for line in gw.log_lines():
            if request_id in line and '"event":"request"' in line:
                found.append(json.loads(line))
                return True
        return False

    wait_for(logged)
    return found[0]


def by_kind(spans: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    servers = [s for s in spans if s["kind"] == SERVER_KIND]
    assert len(servers) == 1, spans
    return servers[0], sorted((s for s in spans if s["kind"] == CLIENT_KIND), key=lambda s: s["start_ns"])


def test_the_clients_trace_goes_on_through_the_gateway_and_every_upstream_attempt(
        client: openai.OpenAI, sim: Proc, gateway: Proc, collector: Collector) -> None:
    sim_set(sim, "gpt-5.4-mini", fail_status=503)  # the first deployment fails: two attempts
    trace_id, parent, rid = new_trace_id(), new_span_id(), f"req-{uuid.uuid4().hex[:12]}"
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello, secret prompt words"}],
        extra_headers={"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": "client=abc", "x-request-id": rid})
    assert raw.headers["x-gateway-fallbacks"] == "1"
    answer = raw.parse()
    server, clients = by_kind(collector.trace(trace_id, 3))
    assert server["parent_span_id"] == parent and server["name"] == "POST /v1/chat/completions"
    assert server["trace_state"] == "client=abc"
    assert server["resource"]["service.name"] == "gateway-under-test"
    attrs = server["attributes"]
    assert attrs["gen_ai.request.model"] == "auto" and attrs["gen_ai.response.model"] == "deepseek-v4-pro"
    assert attrs["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attrs["gen_ai.response.finish_reasons"] == [answer.choices[0].finish_reason]
    assert attrs["gateway.key"] == "demo" and attrs["gateway.route"] == "auto" and attrs["gateway.fallbacks"] == 1
    assert attrs["gateway.cost_usd"] == pytest.approx(float(raw.headers["x-gateway-cost-usd"]))
    assert attrs["gateway.task"] == raw.headers["x-gateway-task"]
    assert attrs["http.response.status_code"] == 200
    failed, served = clients
    assert [c["parent_span_id"] for c in clients] == [server["span_id"]] * 2
    assert failed["attributes"]["gateway.deployment"] == "gpt-5.4-mini"
    assert failed["attributes"]["http.response.status_code"] == 503 and failed["status"] == 2
    assert served["attributes"]["gateway.deployment"] == "deepseek-v4-pro" and served["status"] == 0
    assert served["attributes"]["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    # each upstream request carried its own attempt's span as the parent, in the client's trace
    sent = [parse_traceparent(t["traceparent"]) for t in sim_traceparents(sim)]
    assert [(p.trace_id, p.span_id, p.sampled) for p in sent] == [(trace_id, c["span_id"], True) for c in clients]
    assert {t.get("tracestate") for t in sim_traceparents(sim)} == {"client=abc"}
    line = request_line(gateway, rid)
    assert (line["trace_id"], line["span_id"]) == (trace_id, server["span_id"])
    # what reached the collector: its token from the environment, and never the prompt or a key
    assert collector.requests[-1]["x-collector-token"] == "tok-123"
    everything = json.dumps(collector.spans)
    assert "secret prompt words" not in everything and DEMO_KEY not in everything


def test_a_stream_with_a_malformed_traceparent_starts_a_new_trace(
        client: openai.OpenAI, sim: Proc, gateway: Proc, collector: Collector) -> None:
    rid = f"req-{uuid.uuid4().hex[:12]}"
    bad = f"00-{new_trace_id().upper()}-{new_span_id()}-01"
    chunks = list(client.chat.completions.create(
        model="auto", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Count to five"}], extra_headers={"traceparent": bad, "x-request-id": rid}))
    usage = chunks[-1].usage
    line = request_line(gateway, rid)
    assert line["status"] == 200 and line["trace_id"] != bad.split("-")[1].lower()
    server, clients = by_kind(collector.trace(line["trace_id"], 2))
    assert server["parent_span_id"] == "" and server["span_id"] == line["span_id"]
    (only,) = clients
    assert only["attributes"]["gen_ai.usage.output_tokens"] == usage.completion_tokens
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert only["attributes"]["gen_ai.response.finish_reasons"] == finish
    assert only["end_ns"] >= only["start_ns"] >= server["start_ns"]
    (sent,) = sim_traceparents(sim)
    assert parse_traceparent(sent["traceparent"]).span_id == only["span_id"]


def test_embeddings_are_traced_as_an_embeddings_operation(
        client: openai.OpenAI, gateway: Proc, collector: Collector) -> None:
    trace_id = new_trace_id()
    out = client.embeddings.create(model="auto", input="the sea",
                                   extra_headers={"traceparent": f"00-{trace_id}-{new_span_id()}-01"})
    server, (attempt,) = by_kind(collector.trace(trace_id, 2))
    assert server["attributes"]["gen_ai.operation.name"] == attempt["attributes"]["gen_ai.operation.name"] \
        == "embeddings"
    assert server["attributes"]["gen_ai.usage.input_tokens"] == out.usage.prompt_tokens
    assert attempt["name"] == "embeddings text-embedding-3-small"


def test_a_refused_request_has_a_server_span_with_its_error(gateway: Proc, collector: Collector) -> None:
    trace_id = new_trace_id()
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-not-a-key", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}],
                                        extra_headers={"traceparent": f"00-{trace_id}-{new_span_id()}-01"})
    (server,) = collector.trace(trace_id, 1)
    assert server["attributes"]["http.response.status_code"] == 401
    assert server["attributes"]["error.type"] and server["status"] == 0  # a 4xx is the client's error


def test_a_collector_that_is_down_fails_no_request(sim: Proc, redis_url: str, tmp_path_factory) -> None:
    sim_reset(sim)
    tracing = f"tracing:\n  enabled: true\n  endpoint: http://127.0.0.1:{free_port()}\n  export_interval_s: 0.05\n"
    with start_gateway(tmp_path_factory.mktemp("gw"), _config(sim, "tracedown", tracing), redis_url) as gw, \
            openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        for _ in range(3):
            reply = c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}])
            assert reply.choices[0].message.content
        assert all(parse_traceparent(t["traceparent"]) for t in sim_traceparents(sim))

        def dropped() -> bool:
            text = urllib.request.urlopen(f"{gw.url}/metrics").read().decode()
            return 'gateway_trace_spans_dropped_total{reason="export_failed"' in text

        wait_for(dropped)


def test_tracing_off_sends_nothing_upstream_but_logs_the_clients_trace_id(
        sim: Proc, redis_url: str, tmp_path_factory) -> None:
    sim_reset(sim)
    trace_id, rid = new_trace_id(), f"req-{uuid.uuid4().hex[:12]}"
    with start_gateway(tmp_path_factory.mktemp("gw"), _config(sim, "traceoff", ""), redis_url) as gw, \
            openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as c:
        c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}],
                                  extra_headers={"traceparent": f"00-{trace_id}-{new_span_id()}-01",
                                                 "x-request-id": rid})
        line = request_line(gw, rid)
    assert line["trace_id"] == trace_id and "span_id" not in line
    assert sim_traceparents(sim) == []
