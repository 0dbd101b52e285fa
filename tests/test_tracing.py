"""Tracing on its own: W3C trace context parsing, the sampler, the spans a request record makes,
the OTLP JSON body (read back by the OpenTelemetry protocol's own classes, tests/otlp_collector.py),
the exporter's batching and drop-oldest queue, and the `tracing:` config block."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import yaml

from gateway.config import ConfigError, expand_env, load_config, parse_config
from gateway.config.model import Tracing
from gateway.net.upstream import Posted, Upstream
from gateway.observe.metrics import Metrics
from gateway.observe.tracing import Tracer, begin
from gateway.observe.tracing.context import (Parent, Sampler, format_traceparent, new_span_id, new_trace_id,
                                             parse_traceparent, valid_tracestate)
from gateway.observe.tracing.export import SpanExporter
from gateway.observe.tracing.otlp import encode, resource
from gateway.observe.tracing.spans import CLIENT, SERVER, Span
from gateway.pipeline.record import Call
from gateway.pricing import Usage
from tests.otlp_collector import Collector, flat_spans, parse_otlp_json
from tests.procs import ROOT

ENV = {"SIMULATOR_API_KEY": "x"}
CONFIG = parse_config(yaml.safe_load(expand_env((ROOT / "configs" / "demo.yaml").read_text(), ENV, "demo.yaml")),
                      "demo.yaml", ENV)
TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


# ------------------------------------------------------------------------------ trace context

def test_a_valid_traceparent_names_the_callers_span() -> None:
    parent = parse_traceparent(f"00-{TRACE}-{PARENT}-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    assert parent == Parent(TRACE, PARENT, True, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-00").sampled is False
    assert parse_traceparent(f" 00-{TRACE}-{PARENT}-03 ").sampled is True  # other flag bits are kept apart
    # a later version may add fields; a reader of version 00 takes the first four
    assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01-what-the-future-holds").trace_id == TRACE


@pytest.mark.parametrize("value", [
    "", "00", f"00-{TRACE}-{PARENT}", f"00-{TRACE.upper()}-{PARENT}-01", f"00-{'0' * 32}-{PARENT}-01",
    f"00-{TRACE}-{'0' * 16}-01", f"ff-{TRACE}-{PARENT}-01", f"00-{TRACE}-{PARENT}-01-extra",
    f"00-{TRACE[:-1]}-{PARENT}-01", f"00-{TRACE}-{PARENT}-1", f"00_{TRACE}_{PARENT}_01", f"0x-{TRACE}-{PARENT}-01",
    f"00-{TRACE}-{PARENT}-01\n",
])
def test_a_malformed_traceparent_is_no_parent(value: str) -> None:
    assert parse_traceparent(value) is None


def test_tracestate_passes_whole_or_not_at_all() -> None:
    assert valid_tracestate("vendor@tenant=x,b=1 ") == "vendor@tenant=x,b=1"
    assert valid_tracestate("Upper=1") == ""
    assert valid_tracestate("a=1,=2") == ""
    assert valid_tracestate(",".join(f"k{i}=v" for i in range(33))) == ""
    assert valid_tracestate("a=" + "x" * 600) == ""


def test_new_ids_are_w3c_shaped_and_round_trip() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    header = format_traceparent(trace_id, span_id, True)
    assert parse_traceparent(header) == Parent(trace_id, span_id, True)
    assert parse_traceparent(format_traceparent(trace_id, span_id, False)).sampled is False
    assert len({new_trace_id() for _ in range(1000)}) == 1000


# ------------------------------------------------------------------------------------ sampler

def test_a_callers_decision_wins_over_the_ratio() -> None:
    sampled, unsampled = Parent(TRACE, PARENT, True), Parent(TRACE, PARENT, False)
    assert Sampler(0.0).sampled(TRACE, sampled) is True
    assert Sampler(1.0).sampled(TRACE, unsampled) is False


def test_new_traces_are_sampled_by_the_low_bits_of_their_id() -> None:
    ids = [f"{random.getrandbits(128):032x}" for _ in range(2000)]
    assert all(Sampler(1.0).sampled(t, None) for t in ids)
    assert not any(Sampler(0.0).sampled(t, None) for t in ids)
    quarter, half = Sampler(0.25), Sampler(0.5)
    for t in ids:
        assert quarter.sampled(t, None) == (int(t[16:], 16) / 2 ** 64 < 0.25)
        assert not quarter.sampled(t, None) or half.sampled(t, None)  # a trace kept at 25% is kept at 50%
    assert 0.15 < sum(quarter.sampled(t, None) for t in ids) / len(ids) < 0.35


# -------------------------------------------------------------------------------------- spans

def _tracer(ratio: float = 1.0) -> Tracer:
    config = Tracing(enabled=True, endpoint="http://127.0.0.1:1", sample_ratio=ratio)
    return Tracer(config, Metrics(), poster=None)  # type: ignore[arg-type]


def _served_call(tracer: Tracer, headers: dict[str, str]) -> Call:
    """A chat request that failed over once: the first deployment answered 503, the second served."""
    call = Call.start("req-1")
    begin(call, tracer, headers, "/v1/chat/completions")
    call.model_asked, call.route, call.task, call.key = "auto", "auto", "simple_chat", "demo"
    first, second = CONFIG.deployments["gpt-5.4-mini"], CONFIG.deployments["claude-opus-4.7"]
    admission = type("A", (), {"downgraded": "", "breaker_gen": 0})()
    call.attempt(first, admission)
    call.trace.attempt_answered(503)
    call.trace.attempt_ended("upstream_error")
    call.attempt(second, admission)
    call.trace.attempt_answered(200)
    call.trace.finish_reasons = ["stop"]
    call.done(Usage(prompt_tokens=12, completion_tokens=7, reported=True), 2_500)
    return call


def test_a_request_makes_a_server_span_and_a_client_span_per_attempt() -> None:
    tracer = _tracer()
    call = _served_call(tracer, {"traceparent": f"00-{TRACE}-{PARENT}-01", "tracestate": "rojo=1"})
    spans = flat_spans(parse_otlp_json(encode(call.trace.spans(call), resource("gw"))))
    server, first, second = spans
    assert (server["trace_id"], server["parent_span_id"], server["kind"]) == (TRACE, PARENT, SERVER)
    assert server["name"] == "POST /v1/chat/completions" and server["trace_state"] == "rojo=1"
    assert server["span_id"] == call.trace.span_id and server["resource"]["service.name"] == "gw"
    attrs = server["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "auto"
    assert attrs["gen_ai.response.model"] == "claude-opus-4.7"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "anthropic"
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (12, 7)
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gateway.cost_usd"] == 0.0025 and attrs["gateway.key"] == "demo"
    assert (attrs["gateway.route"], attrs["gateway.task"], attrs["gateway.fallbacks"]) == ("auto", "simple_chat", 1)
    assert attrs["http.response.status_code"] == 200 and server["status"] == 0
    for client in (first, second):
        assert client["kind"] == CLIENT and client["parent_span_id"] == server["span_id"]
        assert client["trace_id"] == TRACE and client["start_ns"] <= client["end_ns"]
    assert [a.span_id for a in call.trace.attempts] == [first["span_id"], second["span_id"]]
    assert first["attributes"]["error.type"] == "upstream_error" and first["status"] == 2
    assert first["attributes"]["http.response.status_code"] == 503
    assert first["attributes"]["gen_ai.request.model"] == CONFIG.deployments["gpt-5.4-mini"].upstream
    assert "gen_ai.usage.input_tokens" not in first["attributes"]
    assert second["attributes"]["gen_ai.usage.output_tokens"] == 7 and "error.type" not in second["attributes"]
    assert second["name"] == f"chat {CONFIG.deployments['claude-opus-4.7'].upstream}"


def test_without_a_parent_the_trace_is_new_and_the_upstream_header_names_the_attempt() -> None:
    tracer = _tracer()
    call = Call.start(None)
    begin(call, tracer, {"traceparent": "garbage"}, "/v1beta/models/gemini-2.5-flash:generateContent")
    assert call.trace.parent is None and call.trace_id == call.trace.trace_id
    call.attempt(CONFIG.deployments["gemini-2.5-flash"], type("A", (), {"downgraded": "", "breaker_gen": 0})())
    header = call.trace.upstream_headers()["traceparent"]
    assert parse_traceparent(header) == Parent(call.trace_id, call.trace.attempts[0].span_id, True)
    call.fail(type("E", (), {"status": 502, "code": "upstream_error", "type": "upstream_error"})())
    server = flat_spans(parse_otlp_json(encode(call.trace.spans(call), resource("gw"))))[0]
    assert server["name"] == "POST /v1beta/models/{model}:generateContent"  # the route, not the model
    assert server["parent_span_id"] == "" and server["status"] == 2
    assert server["attributes"]["error.type"] == "upstream_error"


def test_an_unsampled_trace_still_propagates_but_makes_no_spans() -> None:
    tracer = _tracer(ratio=1.0)
    call = _served_call(tracer, {"traceparent": f"00-{TRACE}-{PARENT}-00"})
    assert call.trace.sampled is False
    assert call.trace.upstream_headers()["traceparent"].endswith("-00")
    tracer.finish(call)
    assert not tracer.exporter.queue
    fields: dict[str, Any] = {}
    call.trace_fields(fields)
    assert fields == {"trace_id": TRACE}  # no span id of a span nobody records


def test_tracing_off_keeps_only_the_clients_trace_id_for_the_log() -> None:
    call = Call.start(None)
    begin(call, None, {"traceparent": f"00-{TRACE}-{PARENT}-01"}, "/v1/chat/completions")
    assert call.trace is None and call.trace_id == TRACE
    call = Call.start(None)
    begin(call, None, {"traceparent": f"00-{TRACE.upper()}-{PARENT}-01"}, "/v1/chat/completions")
    assert call.trace_id == ""


# ----------------------------------------------------------------------------------- exporter

class Poster:
    """A collector stand-in at the exporter's seam: records bodies, gives the `answers` in turn
    (an int: a status; None: no answer; an exception: raised), then `status`; may stall."""

    def __init__(self, status: int | None = 200, answers: tuple[Any, ...] = ()) -> None:
        self.status, self.bodies = status, []
        self.answers = list(answers)
        self.gate: asyncio.Event | None = None

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Posted | None:
        if self.gate is not None:
            await self.gate.wait()
        self.bodies.append((url, headers, body))
        answer = self.answers.pop(0) if self.answers else self.status
        if isinstance(answer, Exception):
            raise answer
        return Posted(answer) if isinstance(answer, int) else answer


def _spans(n: int) -> list[Span]:
    return [Span(f"s{i}", TRACE, f"{i + 1:016x}", "", SERVER, 1, 2, {"i": i}, 1) for i in range(n)]


def _exporter(poster: Poster, metrics: Metrics, **kw: Any) -> SpanExporter:
    return SpanExporter(poster, "http://c/v1/traces", {"authorization": "Bearer t"}, resource("gw"),
                        metrics.spans_exported, metrics.spans_dropped, **kw)


async def test_spans_go_out_in_batches_with_the_collectors_headers() -> None:
    poster, metrics = Poster(), Metrics()
    exporter = _exporter(poster, metrics, batch=4, interval_s=30)
    task = asyncio.create_task(exporter.run_forever())
    exporter.add(_spans(10))  # two full batches wake the task; two spans wait for the interval
    for _ in range(100):
        if len(poster.bodies) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    sizes = [len(flat_spans(parse_otlp_json(body))) for _, _, body in poster.bodies]
    assert sizes == [4, 4] and len(exporter.queue) == 2
    url, headers, _ = poster.bodies[0]
    assert url == "http://c/v1/traces" and headers["authorization"] == "Bearer t"
    assert headers["content-type"] == "application/json"
    assert metrics.spans_exported.values[()] == 8
    await exporter.flush(1.0)
    assert not exporter.queue and metrics.spans_exported.values[()] == 10


async def test_a_full_queue_drops_the_oldest_and_counts_them_while_the_collector_stalls() -> None:
    poster, metrics = Poster(), Metrics()
    poster.gate = asyncio.Event()
    exporter = _exporter(poster, metrics, max_queue=16, batch=8, interval_s=0.01)
    task = asyncio.create_task(exporter.run_forever())
    exporter.add(_spans(8))
    await asyncio.sleep(0.05)  # the task took those 8 and waits on the stalled collector
    spans = _spans(40)
    for span in spans:
        exporter.add([span])  # never waits
    assert list(exporter.queue) == spans[-16:]
    assert metrics.spans_dropped.values[("queue_full",)] == 24
    poster.gate.set()
    task.cancel()


async def test_a_refused_export_drops_its_batch_and_the_next_one_is_tried() -> None:
    poster, metrics = Poster(status=400), Metrics()
    exporter = _exporter(poster, metrics, batch=5)
    exporter.add(_spans(7))
    assert await exporter.export_batch() is False
    assert len(poster.bodies) == 1  # a 400 would be a 400 again: not retried
    poster.status = 200
    assert await exporter.export_batch() is True
    assert metrics.spans_dropped.values[("rejected",)] == 5 and metrics.spans_exported.values[()] == 2
    text = metrics.render()
    assert 'gateway_trace_spans_dropped_total{reason="rejected"' in text


async def _in_flight(exporter: SpanExporter, left: int) -> None:
    """Until the export task has taken a batch (and waits on the collector), `left` spans queued."""
    for _ in range(200):
        if len(exporter.queue) == left:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the export task did not take a batch: {len(exporter.queue)} queued")


async def test_shutdown_lets_the_export_in_flight_finish_then_sends_the_rest() -> None:
    poster, metrics = Poster(), Metrics()
    poster.gate = asyncio.Event()
    exporter = _exporter(poster, metrics, batch=4, interval_s=30)
    exporter.start()
    exporter.add(_spans(6))  # a full batch goes out and waits on the collector; two spans stay queued
    await _in_flight(exporter, 2)
    asyncio.get_running_loop().call_soon(poster.gate.set)  # the collector answers while the worker stops
    await exporter.close(5.0)
    sizes = [len(flat_spans(parse_otlp_json(body))) for _, _, body in poster.bodies]
    assert sizes == [4, 2] and not exporter.queue
    assert metrics.spans_exported.values[()] == 6 and not metrics.spans_dropped.values


async def test_an_export_still_in_flight_at_the_shutdown_deadline_is_counted_as_dropped() -> None:
    poster, metrics = Poster(), Metrics()
    poster.gate = asyncio.Event()  # never answers
    exporter = _exporter(poster, metrics, batch=4, interval_s=30)
    exporter.start()
    exporter.add(_spans(6))
    await _in_flight(exporter, 2)
    await exporter.close(0.2)
    assert not exporter.queue and not poster.bodies
    assert metrics.spans_dropped.values[("shutdown",)] == 6  # every span is either exported or counted


async def test_the_upstream_client_posts_to_a_real_collector() -> None:
    upstream = Upstream()
    await upstream.start()
    try:
        with Collector() as collector:
            metrics = Metrics()
            exporter = SpanExporter(upstream, f"{collector.url}/v1/traces", {"x-team": "a"}, resource("gw"),
                                    metrics.spans_exported, metrics.spans_dropped, attempts=1)
            exporter.add(_spans(3))
            assert await exporter.export_batch() is True
            assert [s["name"] for s in collector.spans] == ["s0", "s1", "s2"]
            assert collector.requests[0]["x-team"] == "a"
        # the collector is gone: no answer, no exception, the batch counted as lost
        exporter.add(_spans(2))
        assert await exporter.export_batch() is False
        assert metrics.spans_dropped.values[("export_failed",)] == 2
    finally:
        await upstream.close()


# ------------------------------------------------------------------------------------- config

def _doc(tracing: Any) -> dict[str, Any]:
    doc = yaml.safe_load(expand_env((ROOT / "configs" / "demo.yaml").read_text(), ENV, "demo.yaml"))
    doc["tracing"] = tracing
    return doc


def test_the_tracing_block_is_parsed_and_checked() -> None:
    env = {"SIMULATOR_API_KEY": "x"}
    assert parse_config(_doc(None), "t.yaml", env).tracing == Tracing()
    cfg = parse_config(_doc({"enabled": True, "endpoint": "http://otel:4318/", "sample_ratio": 0.1,
                             "headers": {"Authorization": "Bearer s3cret"}, "service_name": "edge"}), "t.yaml", env)
    t = cfg.tracing
    assert (t.enabled, t.endpoint, t.sample_ratio, t.service_name) == (True, "http://otel:4318", 0.1, "edge")
    assert t.headers == (("authorization", "Bearer s3cret"),) and "s3cret" not in repr(t)
    assert (t.export_attempts, t.egress.proxy, t.egress.ca_file) == (5, None, None)  # environment, system CAs
    for bad, where in (({"enabled": True}, "tracing.endpoint"), ({"enabled": True, "endpoint": "otel:4318"},
                       "tracing.endpoint"), ({"sample_ratio": 1.5}, "tracing.sample_ratio"),
                       ({"enabled": "yes"}, "tracing.enabled"), ({"exporter": "grpc"}, "tracing.exporter"),
                       ({"export_attempts": 0}, "tracing.export_attempts"), ({"egress": {}}, "tracing.egress"),
                       ({"proxy": "socks5://p:1080"}, "tracing.proxy"), ({"ca_file": "/nonexistent.pem"},
                                                                         "tracing.ca_file")):
        with pytest.raises(ConfigError, match=where):
            parse_config(_doc(bad), "t.yaml", env)


def test_the_collectors_way_out_and_retries_are_read(tmp_path) -> None:
    from tests.egress_helpers import make_certs

    ca = make_certs(tmp_path).ca
    t = parse_config(_doc({"enabled": True, "endpoint": "https://otel:4318", "proxy": "http://proxy:3128",
                           "ca_file": str(ca), "export_attempts": 3, "export_backoff_s": 0.01,
                           "export_max_backoff_s": 2}), "t.yaml", ENV).tracing
    assert (t.egress.proxy, t.egress.ca_file) == ("http://proxy:3128", str(ca))
    assert (t.export_attempts, t.export_backoff_s, t.export_max_backoff_s) == (3, 0.01, 2)
    assert parse_config(_doc({"proxy": "none"}), "t.yaml", ENV).tracing.egress.proxy == ""  # direct


def test_the_collectors_credentials_come_from_the_environment_and_not_into_the_config_hash(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text((ROOT / "configs" / "demo.yaml").read_text() + "\ntracing:\n  enabled: true\n"
                    "  endpoint: http://otel:4318\n  headers: {authorization: 'Bearer ${OTEL_TOKEN}'}\n")
    one = load_config(path, {"SIMULATOR_API_KEY": "x", "OTEL_TOKEN": "one"})
    two = load_config(path, {"SIMULATOR_API_KEY": "x", "OTEL_TOKEN": "two"})
    assert one.tracing.headers == (("authorization", "Bearer one"),)
    assert one.hash == two.hash  # replicas whose collector tokens differ still agree
