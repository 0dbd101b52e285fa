"""Prometheus metrics in text exposition format, kept in plain dicts for a cheap hot path.

Each worker process keeps its own series and labels them with `worker` (its pid). A scrape
reaches one worker; for it to show the whole replica, every worker writes a snapshot of its
series (`dump`) to the replica's metrics directory about once a second, off the request path
(`gateway.observe.metrics_share`), and the worker that answers renders its own series, fresh, with the
latest snapshot of every other live worker (`render(others)`). So every scrape holds every
worker's series and `sum(rate(...))` over them is right.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Any, Iterable

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


class Counter:
    def __init__(self, name: str, help_: str, labels: tuple[str, ...]) -> None:
        self.name, self.help, self.labels = name, help_, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    kind = "counter"

    def dump(self) -> list[Any]:
        return [[list(key), value] for key, value in self.values.items()]

    def samples(self, worker: str, values: dict[tuple[str, ...], float]) -> Iterable[str]:
        for key, value in values.items():
            yield f"{self.name}{{{_labels(self.labels + ('worker',), key + (worker,))}}} {value:g}\n"

    def render(self, worker: str, others: dict[str, list[Any]] | None = None) -> Iterable[str]:
        """This worker's series, then those of the other workers' snapshots (worker -> dump)."""
        yield f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        yield from self.samples(worker, self.values)
        for other, rows in (others or {}).items():
            yield from self.samples(other, {tuple(key): value for key, value in rows})


class Gauge(Counter):
    kind = "gauge"

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.values[labels] = value


class Histogram:
    def __init__(self, name: str, help_: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.labels, self.buckets = name, help_, labels, buckets
        self.series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., sum, count

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        index = bisect_left(self.buckets, value)
        if index < len(self.buckets):
            row[index] += 1
        row[-2] += value
        row[-1] += 1

    def dump(self) -> list[Any]:
        return [[list(key), row] for key, row in self.series.items()]

    def render(self, worker: str, others: dict[str, list[Any]] | None = None) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}\n# TYPE {self.name} histogram\n"
        yield from self.samples(worker, self.series)
        for other, rows in (others or {}).items():
            yield from self.samples(other, {tuple(key): row for key, row in rows})

    def samples(self, worker: str, series: dict[tuple[str, ...], list[float]]) -> Iterable[str]:
        names = self.labels + ("worker",)
        for key, row in series.items():
            values = key + (worker,)
            cumulative = 0.0
            for bound, count in zip(self.buckets, row):
                cumulative += count
                yield f'{self.name}_bucket{{{_labels(names, values)},le="{bound:g}"}} {cumulative:g}\n'
            yield f'{self.name}_bucket{{{_labels(names, values)},le="+Inf"}} {row[-1]:g}\n'
            yield f"{self.name}_sum{{{_labels(names, values)}}} {row[-2]:g}\n"
            yield f"{self.name}_count{{{_labels(names, values)}}} {row[-1]:g}\n"


class Metrics:
    """The gateway's series; the pipeline calls `observe_request` once per request."""

    def __init__(self, per_key: bool = False) -> None:
        self.worker = str(os.getpid())
        self.per_key = per_key  # the `key` label on the cost series (config metrics.per_key)
        self.requests = Counter("gateway_requests_total", "Requests by route, model, provider and status.",
                                ("route", "model", "provider", "status"))
        self.latency = Histogram("gateway_request_duration_seconds", "Time from request to last byte.",
                                 ("route", "model"), LATENCY_BUCKETS_S)
        self.ttft = Histogram("gateway_time_to_first_token_seconds", "Time to the first streamed chunk.",
                              ("model",), LATENCY_BUCKETS_S)
        self.tokens = Counter("gateway_tokens_total", "Tokens by model and direction.", ("model", "direction"))
        self.cost = Counter("gateway_cost_usd_total", "Cost in USD by model, provider, task" +
                            (" and key." if per_key else "."),
                            ("model", "provider", "task", "key") if per_key else ("model", "provider", "task"))
        self.fallbacks = Counter("gateway_fallbacks_total", "Upstream attempts beyond the first.", ("model",))
        self.refusals = Counter("gateway_refusals_total", "Requests refused before the upstream call.", ("reason",))
        self.upstream_errors = Counter("gateway_upstream_errors_total", "Failed upstream attempts.",
                                       ("model", "code"))
        self.provider_rejected = Counter("gateway_provider_rejected_total", "Upstream 401/403/404: the provider "
                                         "refused the gateway's credentials or model name.",
                                         ("model", "provider", "status"))
        self.inflation = Gauge("gateway_token_inflation_change", "Change in tokens per request against the "
                               "baseline window, for (model, task) pairs over the alert threshold.",
                               ("model", "task", "metric"))
        self.budget_spent = Gauge("gateway_budget_spent_usd", "Today's settled global spend, as of the last admit.", ())
        self.budget_remaining = Gauge("gateway_budget_remaining_usd", "Smallest remaining budget seen at the "
                                      "last admit, before its own reservation.", ())
        self.degraded = Gauge("gateway_state_degraded", "1 while Redis is unreachable and controls follow their "
                              "fail-open/closed policies.", ())
        self.pace_mode = Gauge("gateway_pace_mode", "0 on pace, 1 low priority downgraded, 2 low and normal.", ())
        self.cache = Counter("gateway_cache_requests_total", "Cacheable requests by what the response cache "
                             "did: hit, miss (asked upstream) or skip (not cacheable).", ("result",))
        self.spans_exported = Counter("gateway_trace_spans_exported_total", "Spans the trace collector took.", ())
        self.spans_dropped = Counter("gateway_trace_spans_dropped_total", "Spans never exported: queue_full (the "
                                     "collector is slow or down), export_failed (its retries spent), rejected (a final "
                                     "status), partial (a partial success refused them), shutdown.", ("reason",))
        self.guardrail = Counter("gateway_guardrail_findings_total", "Distinct values a guardrail policy found "
                                 "in requests (side prompt) or answers (side output), by detector and the "
                                 "action (redact, block, log).", ("detector", "action", "side"))
        self.batches = Counter("gateway_batch_changes_total", "Batch state changes (docs/batch.md), by the status "
                               "entered: validating, failed, in_progress, completed, cancelling, cancelled, expired.",
                               ("status",))
        self.batch_lines = Counter("gateway_batch_lines_total", "Batch lines run, by endpoint and result: ok (a 2xx "
                                   "answer) or failed (an error line).", ("endpoint", "result"))
        self._all = (self.batches, self.batch_lines, self.spans_exported, self.spans_dropped, self.cache, self.guardrail, self.degraded, self.inflation, self.budget_spent, self.budget_remaining, self.pace_mode, self.requests, self.latency, self.ttft, self.tokens, self.cost, self.fallbacks, self.refusals,
                     self.upstream_errors, self.provider_rejected)

    def dump(self) -> dict[str, Any]:
        """This worker's series, for the other workers' scrapes (see gateway.observe.metrics_share)."""
        return {"worker": self.worker, "series": {m.name: m.dump() for m in self._all}}

    def render(self, others: Iterable[dict[str, Any]] = ()) -> str:
        """The exposition text: this worker's series and those of the other workers' dumps."""
        by_metric: dict[str, dict[str, list[Any]]] = {}
        for dump in others:
            worker = str(dump.get("worker"))
            if worker == self.worker:
                continue
            for name, rows in (dump.get("series") or {}).items():
                by_metric.setdefault(name, {})[worker] = rows
        return "".join(line for m in self._all for line in m.render(self.worker, by_metric.get(m.name)))
