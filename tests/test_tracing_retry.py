"""The span exporter against a collector that fails: what is retried (429, 502, 503, 504, no
answer), after how long (a backoff with jitter, or the collector's Retry-After), what is not
(any other status), a partial success, and shutdown during a backoff. The waits go through an
injected clock that records them; no test waits for real."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import Any

import pytest

from gateway.net.upstream import Posted
from gateway.observe.metrics import Metrics
from gateway.observe.tracing.export import SpanExporter
from gateway.observe.tracing.otlp import resource
from gateway.observe.tracing.retry import Backoff, outcome, rejected_spans, retry_after_s
from tests.otlp_collector import flat_spans, parse_otlp_json
from tests.test_tracing import Poster, _spans


class Clock:
    """The exporter's backoff clock: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def _exporter(poster: Poster, metrics: Metrics, clock: Clock | None = None, **kw: Any) -> SpanExporter:
    kw.setdefault("backoff", Backoff(0.5, 30.0, random.Random(7)))
    return SpanExporter(poster, "http://c/v1/traces", {}, resource("gw"), metrics.spans_exported,
                        metrics.spans_dropped, sleep=(clock or Clock()).sleep, **kw)


def _sent(poster: Poster) -> list[list[str]]:
    return [[s["name"] for s in flat_spans(parse_otlp_json(body))] for _, _, body in poster.bodies]


# ------------------------------------------------------------------------------------ the policy

@pytest.mark.parametrize(("status", "want"), [(200, "exported"), (204, "exported"), (429, "retry"), (502, "retry"),
                                              (503, "retry"), (504, "retry"), (400, "rejected"), (401, "rejected"),
                                              (403, "rejected"), (404, "rejected"), (413, "rejected"),
                                              (500, "rejected"), (501, "rejected")])
def test_the_otlp_retryable_statuses(status: int, want: str) -> None:
    assert outcome(Posted(status)) == want


def test_no_answer_is_retryable() -> None:
    assert outcome(None) == "retry"


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 3.0, random.Random(1))
    for retry, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)):
        draws = [backoff.delay(retry) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert len(set(draws)) > 100  # jittered, not one fixed wait
    assert backoff.delay(1, retry_after=12.0) == 12.0  # the collector's word wins over the draw


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = time.time()
    assert retry_after_s({"retry-after": "7"}) == 7.0
    date = email.utils.formatdate(now + 20, usegmt=True)
    assert 18.0 <= retry_after_s({"retry-after": date}, now) <= 20.0
    assert retry_after_s({"retry-after": email.utils.formatdate(now - 60, usegmt=True)}, now) == 0.0
    for unreadable in ({}, {"retry-after": ""}, {"retry-after": "soon"}, {"retry-after": "-3"}, {"retry-after": "1.5"}):
        assert retry_after_s(unreadable) is None


def test_a_partial_success_names_the_refused_spans() -> None:
    assert rejected_spans(Posted(200, {}, b'{"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old"}}')) \
        == (3, "too old")
    assert rejected_spans(Posted(200, {}, b'{"partialSuccess":{"rejectedSpans":2}}')) == (2, "")
    for whole in (b"", b"{}", b'{"partialSuccess":{}}', b"\x0a\x00", b"{not json", b'{"partialSuccess":"x"}',
                  b'{"partialSuccess":{"rejectedSpans":"many"}}'):
        assert rejected_spans(Posted(200, {}, whole))[0] == 0


# --------------------------------------------------------------------------------- the exporter

async def test_a_503_then_a_200_delivers_the_batch_after_one_backoff() -> None:
    poster, metrics, clock = Poster(answers=(503,)), Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock)
    exporter.add(_spans(3))
    assert await exporter.export_batch() is True
    assert _sent(poster) == [["s0", "s1", "s2"]] * 2  # the same batch, whole, twice
    assert len(clock.waits) == 1 and 0.25 <= clock.waits[0] <= 0.5
    assert metrics.spans_exported.values[()] == 3 and not metrics.spans_dropped.values


async def test_a_429_waits_what_its_retry_after_says() -> None:
    poster, metrics, clock = Poster(answers=(Posted(429, {"retry-after": "4"}), Posted(503, {"retry-after": "1"}))), \
        Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock)
    exporter.add(_spans(2))
    assert await exporter.export_batch() is True
    assert clock.waits == [4.0, 1.0] and len(poster.bodies) == 3
    assert metrics.spans_exported.values[()] == 2


async def test_no_answer_and_a_connection_error_are_retried_too() -> None:
    poster, metrics, clock = Poster(answers=(None, ConnectionRefusedError(), 504)), Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock)
    exporter.add(_spans(2))
    assert await exporter.export_batch() is True
    assert len(poster.bodies) == 4 and len(clock.waits) == 3
    for wait, ceiling in zip(clock.waits, (0.5, 1.0, 2.0)):
        assert ceiling / 2 <= wait <= ceiling
    assert metrics.spans_exported.values[()] == 2


async def test_a_final_status_is_not_retried() -> None:
    for status in (400, 401, 403, 404, 500):
        poster, metrics, clock = Poster(status=status), Metrics(), Clock()
        exporter = _exporter(poster, metrics, clock)
        exporter.add(_spans(4))
        assert await exporter.export_batch() is False
        assert len(poster.bodies) == 1 and clock.waits == []
        assert metrics.spans_dropped.values == {("rejected",): 4}


async def test_retries_are_bounded_then_the_batch_counts_as_export_failed() -> None:
    poster, metrics, clock = Poster(status=503), Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock, attempts=4, batch=3)
    exporter.add(_spans(5))
    assert await exporter.export_batch() is False
    assert len(poster.bodies) == 4 and len(clock.waits) == 3
    for wait, ceiling in zip(clock.waits, (0.5, 1.0, 2.0)):
        assert ceiling / 2 <= wait <= ceiling
    assert metrics.spans_dropped.values == {("export_failed",): 3}
    poster.status = 200  # the next batch is tried afresh
    assert await exporter.export_batch() is True and metrics.spans_exported.values[()] == 2


async def test_a_retry_after_past_the_cap_gives_the_batch_up_and_holds_the_next_export() -> None:
    poster, metrics = Poster(answers=(Posted(429, {"retry-after": "3600"}),)), Metrics()
    exporter = SpanExporter(poster, "http://c/v1/traces", {}, resource("gw"), metrics.spans_exported,
                            metrics.spans_dropped, backoff=Backoff(0.5, 30.0))  # the real clock: the hold is real
    exporter.add(_spans(2))
    before = time.monotonic()
    assert await exporter.export_batch() is False
    assert len(poster.bodies) == 1 and metrics.spans_dropped.values == {("export_failed",): 2}
    assert exporter.resume_at >= before + 3600
    exporter.start()
    exporter.add(_spans(1))
    exporter.wake.set()
    await asyncio.sleep(0.05)
    assert len(poster.bodies) == 1 and len(exporter.queue) == 1  # held off, still queueing
    await exporter.close(5.0)  # shutdown ends the hold; its flush sends what waited
    assert len(poster.bodies) == 2 and metrics.spans_exported.values[()] == 1


async def test_a_partial_success_counts_the_refused_spans() -> None:
    answer = Posted(200, {"content-type": "application/json"},
                    b'{"partialSuccess":{"rejectedSpans":"2","errorMessage":"spans too old"}}')
    poster, metrics = Poster(answers=(answer,)), Metrics()
    exporter = _exporter(poster, metrics)
    exporter.add(_spans(5))
    assert await exporter.export_batch() is True and len(poster.bodies) == 1  # a partial success is not retried
    assert metrics.spans_exported.values[()] == 3 and metrics.spans_dropped.values == {("partial",): 2}
    assert 'gateway_trace_spans_dropped_total{reason="partial"' in metrics.render()


async def test_spans_keep_queueing_during_a_backoff_and_shutdown_cuts_it_short() -> None:
    """A real clock with a minute's backoff: only shutdown ends the wait, and its flush sends the
    held batch and the spans queued meanwhile (past `max_queue`: the oldest dropped, counted)."""
    poster, metrics = Poster(answers=(503,)), Metrics()
    exporter = SpanExporter(poster, "http://c/v1/traces", {}, resource("gw"), metrics.spans_exported,
                            metrics.spans_dropped, max_queue=16, batch=8, interval_s=30, backoff=Backoff(60.0, 120.0))
    exporter.start()
    exporter.add(_spans(8))  # a full batch: sent, refused with a 503, held for the backoff
    for _ in range(200):
        if poster.bodies:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    later = _spans(20)
    for span in later:
        exporter.add([span])  # never waits
    assert len(exporter.queue) == 16 and metrics.spans_dropped.values == {("queue_full",): 4}
    await exporter.close(5.0)
    assert not exporter.queue
    assert metrics.spans_exported.values[()] == 8 + 16  # the held batch, then the queue
    assert metrics.spans_dropped.values == {("queue_full",): 4}
    assert _sent(poster)[1] == [f"s{i}" for i in range(8)]  # the held batch goes first


async def test_the_shutdown_flush_takes_no_backoff_past_its_deadline() -> None:
    poster, metrics, clock = Poster(status=503), Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock, batch=4, backoff=Backoff(60.0, 120.0))
    exporter.add(_spans(6))
    await exporter.flush(1.0)
    assert len(poster.bodies) == 1 and clock.waits == []
    assert metrics.spans_dropped.values == {("shutdown",): 6} and not exporter.queue


async def test_the_shutdown_flush_retries_when_the_wait_fits() -> None:
    poster, metrics, clock = Poster(answers=(503,)), Metrics(), Clock()
    exporter = _exporter(poster, metrics, clock, batch=4, backoff=Backoff(0.01, 1.0))
    exporter.add(_spans(6))
    await exporter.flush(5.0)
    assert len(clock.waits) == 1 and len(poster.bodies) == 3
    assert metrics.spans_exported.values[()] == 6 and not metrics.spans_dropped.values
