"""The dashboard's JSON endpoints (`spend/series`, `spend/summary`, `deployments`, `refusals`;
described in :mod:`gateway.ops.dashboard.page`'s docstring). Each is a handler `(request, gw)`
that :mod:`gateway.ops.access` puts behind the admin key or a dashboard session; page mounts them.
The series they read is written by :mod:`gateway.ops.series`.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import bad_request
from gateway.ops.series import sample_step_s
from gateway.ops.spend import day_param, spend_rows

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

SUMMARY_DIMS = ("task", "model", "provider", "key")
LATENCY_BOUNDS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)


def _int(v: Any) -> int:
    try:
        return int(float(v or 0))
    except ValueError:
        return 0


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


# ---------------------------------------------------------------------------------------- endpoints


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer.", name) from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}.", name)
    return value


def day_bounds(day: str, tz_name: str) -> tuple[float, float]:
    """Start (epoch s) and length (s) of a budget day in its timezone (a DST day is 23 or 25 h)."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(date.fromisoformat(day), dt_time(), tz)
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), dt_time(), tz)
    return start.timestamp(), (end - start).total_seconds()


async def spend_series(request: Request, gw: "Gateway") -> Response:
    """Today's spend as sampled by housekeeping, plus what the page needs to draw the pace
    allowance (daily budget x elapsed share of the day + burst) and the hard limit."""
    day = day_param(request, gw)
    points = [[p.ts, p.spent_micro / 1e6, p.reserved_micro / 1e6] for p in await gw.state.ops.spend_series(day)]
    b = gw.config.budget
    start, length = day_bounds(day, b.timezone)
    now = await gw.state.ops.engine_time()
    return _json({"day": day, "timezone": b.timezone, "day_start": start, "day_length_s": length,
                  "now": now, "step_s": sample_step_s(gw),
                  "daily_budget_usd": b.daily_micro / 1e6, "burst_usd": b.pace.burst_share * b.daily_micro / 1e6,
                  "hard_limit_usd": b.hard_limit_micro / 1e6, "points": points})


async def spend_summary(request: Request, gw: "Gateway") -> Response:
    """Spend and requests by task, model, provider and key: today and the last `days` days."""
    day = day_param(request, gw)
    ndays = _int_param(request, "days", 7, 1, 35)
    first = date.fromisoformat(day)
    days = [(first - timedelta(days=i)).isoformat() for i in range(ndays)]
    await gw.state.fold(day)
    raws = await gw.state.ops.spend_counters(days)
    daily = []
    dims: dict[str, dict[str, Any]] = {}
    window: dict[str, dict[str, dict[str, int]]] = {dim: {} for dim in SUMMARY_DIMS}
    for d, raw in zip(days, raws):
        for dim in SUMMARY_DIMS:
            total, rows = spend_rows(raw, dim)
            if dim == SUMMARY_DIMS[0]:
                daily.append({"day": d, "cost_usd": total.cost_micro / 1e6, "requests": total.requests})
            if d == day:
                dims[dim] = {"today": [{"name": r.name, "cost_usd": r.cost_micro / 1e6, "requests": r.requests}
                                       for r in rows]}
            for r in rows:
                acc = window[dim].setdefault(r.name, {"cost": 0, "req": 0})
                acc["cost"] += r.cost_micro
                acc["req"] += r.requests
    for dim in SUMMARY_DIMS:
        rows = sorted(window[dim].items(), key=lambda kv: (-kv[1]["cost"], kv[0]))
        dims[dim]["window"] = [{"name": n, "cost_usd": v["cost"] / 1e6, "requests": v["req"]} for n, v in rows]
    daily.reverse()  # oldest first
    return _json({"day": day, "days": ndays, "daily": daily, "by": dims})


def _latency_us(entry: dict[str, Any]) -> int:
    """A ledger entry's latency in microseconds (entries settled before latency_us have ms)."""
    us = entry.get("latency_us")
    return _int(us) if us is not None else _int(entry.get("latency_ms")) * 1000


def _ms(us: int | None) -> float | None:
    return None if us is None else us / 1000


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


async def deployments(request: Request, gw: "Gateway") -> Response:
    """Per deployment: breaker state, error rate and latency p50/p99 over the last `n` ledger
    entries (successful calls for latency; failures are retryable errors, neutral outcomes left
    out); per (model, task): cost per request over the same window. Latencies are in ms with
    microsecond resolution: a simulator or a local model answers in well under a millisecond."""
    n = _int_param(request, "n", 2000, 10, 20_000)
    entries = await gw.state.ops.recent_ledger(n)
    lat: dict[str, list[int]] = {}
    fails: dict[str, int] = {}
    model_task: dict[tuple[str, str], list[int]] = {}
    oldest = newest = None
    counted = 0
    for f in entries:
        outcome = f.get("outcome")
        if not outcome:  # releases and orphans: no call was made
            continue
        counted += 1
        ts = _int(f.get("ts_us")) / 1e6
        oldest = ts if oldest is None else min(oldest, ts)
        newest = ts if newest is None else max(newest, ts)
        dep = f.get("deployment", "-")
        if outcome == "success":
            lat.setdefault(dep, []).append(_latency_us(f))
            acc = model_task.setdefault((f.get("model") or dep, f.get("task") or "unknown"), [0, 0, 0, 0])
            acc[0] += 1
            acc[1] += _int(f.get("cost"))
            acc[2] += _int(f.get("in"))
            acc[3] += _int(f.get("out"))
        elif outcome == "failure":
            fails[dep] = fails.get(dep, 0) + 1
    latency = await gw.state.ops.latency(list(gw.config.deployments))
    out = {}
    for name, stats in latency.items():
        state = await gw.state.breaker_state(name)
        values = sorted(lat.get(name, []))
        ok, bad = len(values), fails.get(name, 0)
        hist = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for v in values:
            hist[next((i for i, b in enumerate(LATENCY_BOUNDS_MS) if v <= b * 1000), len(LATENCY_BOUNDS_MS))] += 1
        dep = gw.config.deployments[name]
        out[name] = {"provider": dep.provider.name, "breaker": state["effective"],
                     "breaker_failures": state["failures"], "cooldown_ms": _int(state.get("cooldown_ms")),
                     "requests": ok + bad, "successes": ok, "failures": bad,
                     "error_rate": bad / (ok + bad) if ok + bad else 0.0,
                     "p50_ms": _ms(_percentile(values, 0.5)), "p99_ms": _ms(_percentile(values, 0.99)),
                     "histogram": {"bounds_ms": list(LATENCY_BOUNDS_MS), "counts": hist},
                     "ewma_ms": stats.ewma_ms,
                     "avg_ms_all_time": stats.sum_ms / stats.n if stats.n else None}
    rows = [{"model": m, "task": t, "requests": v[0], "cost_usd": v[1] / 1e6,
             "cost_per_request_usd": v[1] / v[0] / 1e6, "avg_tokens_in": v[2] / v[0], "avg_tokens_out": v[3] / v[0]}
            for (m, t), v in model_task.items()]
    rows.sort(key=lambda r: (-r["cost_per_request_usd"], r["model"], r["task"]))
    return _json({"window": {"entries": counted, "asked": n, "since": oldest, "until": newest},
                  "deployments": out, "model_task": rows})


async def refusals(request: Request, gw: "Gateway") -> Response:
    """Requests refused before any upstream call (rate limits, budget, open breakers, state
    unavailable), per reason and day, summed over every worker of every replica."""
    day = day_param(request, gw)
    ndays = _int_param(request, "days", 7, 1, 35)
    first = date.fromisoformat(day)
    days = [(first - timedelta(days=i)).isoformat() for i in range(ndays)]
    raws = await gw.state.ops.refusal_counts(days)
    per_day = [{"day": d, "reasons": counts} for d, counts in zip(days, raws)]
    per_day.reverse()
    today = per_day[-1]["reasons"]
    totals: dict[str, int] = {}
    for row in per_day:
        for reason, count in row["reasons"].items():
            totals[reason] = totals.get(reason, 0) + count
    rate_limited = sum(v for k, v in today.items() if k.endswith("rate_limited"))
    return _json({"day": day, "today": today, "today_total": sum(today.values()),
                  "today_rate_limited": rate_limited, "window": totals, "daily": per_day,
                  "flush_interval_s": gw.config.housekeeping.interval_s})


# served under /admin/<name> and /dashboard/api/<name>, behind the admin key or a session
HANDLERS = {"spend/series": spend_series, "spend/summary": spend_summary, "deployments": deployments,
            "refusals": refusals}
