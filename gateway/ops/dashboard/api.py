"""The dashboard's data: the housekeeping `sample` that writes the spend series and cluster-wide
refusal counts, and the JSON endpoints the page reads (`spend/series`, `spend/summary`,
`deployments`, `refusals`; described in :mod:`gateway.ops.dashboard.page`'s docstring).

Split out of :mod:`gateway.ops.dashboard.page`, which mounts these endpoints and re-exports `sample`.
"""

from __future__ import annotations

import math
import time
import weakref
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.ops.dashboard.session import _s, authorize
from gateway.errors import bad_request
from gateway.observe.log import get_logger
from gateway.ops.spend import check_day, spend_rows

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

KEEP_DAYS = 8
SUMMARY_DIMS = ("task", "model", "provider", "key")
LATENCY_BOUNDS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)

_log = get_logger("gateway.ops.dashboard.page")


def _int(v: Any) -> int:
    try:
        return int(float(_s(v) or 0))
    except ValueError:
        return 0


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


def series_key(keys: Any, day: str) -> str:
    return f"{keys.tag}:dash:spend:{day}"


def refusals_key(keys: Any, day: str) -> str:
    return f"{keys.tag}:dash:refusals:{day}"


# ---------------------------------------------------------------------------------------- sampling

_flushed: "weakref.WeakKeyDictionary[Any, dict[str, float]]" = weakref.WeakKeyDictionary()
_sample_failing: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def sample_step_s(gw: "Gateway") -> float:
    """One point per this many seconds: four ticks, between 1 s and a minute (1440 points a day)."""
    return max(1.0, min(60.0, gw.config.housekeeping.interval_s * 4))


async def sample(gw: "Gateway", now: float | None = None) -> bool:
    """One housekeeping tick's worth: today's spend into the day's series, and this worker's
    refusals since its last flush into the cluster-wide daily counts. Never raises."""
    now = time.time() if now is None else now
    try:
        keys, client = gw.state.keys, gw.state.client
        day = gw.clock.day()
        spent, reserved = await client.hmget(keys.spend(day), ["cost:total", "reserved:total"])
        current = {labels[0]: value for labels, value in gw.metrics.refusals.values.items()}
        done = _flushed.setdefault(gw, {})
        deltas = {reason: int(value - done.get(reason, 0)) for reason, value in current.items()}
        deltas = {reason: n for reason, n in deltas.items() if n > 0}
        ttl = KEEP_DAYS * 86_400
        pipe = client.pipeline(transaction=False)
        bucket = str(int(now // sample_step_s(gw)))
        pipe.hset(series_key(keys, day), bucket, f"{now:.3f}:{_int(spent)}:{_int(reserved)}")
        pipe.expire(series_key(keys, day), ttl)
        for reason, n in deltas.items():
            pipe.hincrby(refusals_key(keys, day), reason, n)
        if deltas:
            pipe.expire(refusals_key(keys, day), ttl)
        await pipe.execute()
        for reason, n in deltas.items():
            done[reason] = done.get(reason, 0) + n
        _sample_failing.pop(gw, None)
        return True
    except Exception as exc:  # a Redis blip: the deltas stay for the next tick
        if _sample_failing.get(gw) != type(exc).__name__:
            _sample_failing[gw] = type(exc).__name__
            _log.warning("dashboard_sample_failed", error=type(exc).__name__, detail=str(exc)[:200])
        return False


# ---------------------------------------------------------------------------------------- endpoints


def _day_param(request: Request, gw: "Gateway") -> str:
    return check_day(request.query_params.get("day") or gw.clock.day())


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


async def spend_series(request: Request) -> Response:
    """Today's spend as sampled by housekeeping, plus what the page needs to draw the pace
    allowance (daily budget x elapsed share of the day + burst) and the hard limit."""
    gw = await authorize(request)
    day = _day_param(request, gw)
    client, keys = gw.state.client, gw.state.keys
    raw = await client.hgetall(series_key(keys, day))
    points = []
    for value in raw.values():
        parts = _s(value).split(":")
        if len(parts) == 3:
            points.append([float(parts[0]), _int(parts[1]) / 1e6, _int(parts[2]) / 1e6])
    points.sort()
    b = gw.config.budget
    start, length = day_bounds(day, b.timezone)
    t = await client.time()
    return _json({"day": day, "timezone": b.timezone, "day_start": start, "day_length_s": length,
                  "now": int(t[0]) + int(t[1]) / 1e6, "step_s": sample_step_s(gw),
                  "daily_budget_usd": b.daily_micro / 1e6, "burst_usd": b.pace.burst_share * b.daily_micro / 1e6,
                  "hard_limit_usd": b.hard_limit_micro / 1e6, "points": points})


async def spend_summary(request: Request) -> Response:
    """Spend and requests by task, model, provider and key: today and the last `days` days."""
    gw = await authorize(request)
    day = _day_param(request, gw)
    ndays = _int_param(request, "days", 7, 1, 35)
    first = date.fromisoformat(day)
    days = [(first - timedelta(days=i)).isoformat() for i in range(ndays)]
    await gw.state.fold(day)
    pipe = gw.state.client.pipeline(transaction=False)
    for d in days:
        pipe.hgetall(gw.state.keys.spend(d))
    raws = await pipe.execute()
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


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


async def deployments(request: Request) -> Response:
    """Per deployment: breaker state, error rate and latency p50/p99 over the last `n` ledger
    entries (successful calls for latency; failures are retryable errors, neutral outcomes left
    out); per (model, task): cost per request over the same window."""
    gw = await authorize(request)
    n = _int_param(request, "n", 2000, 10, 20_000)
    client, keys = gw.state.client, gw.state.keys
    entries = await client.xrevrange(keys.ledger(), count=n)
    lat: dict[str, list[int]] = {}
    fails: dict[str, int] = {}
    model_task: dict[tuple[str, str], list[int]] = {}
    oldest = newest = None
    counted = 0
    for _, fields in entries:
        f = {_s(k): _s(v) for k, v in fields.items()}
        outcome = f.get("outcome")
        if not outcome:  # releases and orphans: no call was made
            continue
        counted += 1
        ts = _int(f.get("ts_us")) / 1e6
        oldest = ts if oldest is None else min(oldest, ts)
        newest = ts if newest is None else max(newest, ts)
        dep = f.get("deployment", "-")
        if outcome == "success":
            lat.setdefault(dep, []).append(_int(f.get("latency_ms")))
            acc = model_task.setdefault((f.get("model") or dep, f.get("task") or "unknown"), [0, 0, 0, 0])
            acc[0] += 1
            acc[1] += _int(f.get("cost"))
            acc[2] += _int(f.get("in"))
            acc[3] += _int(f.get("out"))
        elif outcome == "failure":
            fails[dep] = fails.get(dep, 0) + 1
    pipe = client.pipeline(transaction=False)
    names = list(gw.config.deployments)
    for name in names:
        pipe.hgetall(keys.latency(name))
    lat_hashes = await pipe.execute()
    out = {}
    for name, lh in zip(names, lat_hashes):
        state = await gw.state.breaker_state(name)
        values = sorted(lat.get(name, []))
        ok, bad = len(values), fails.get(name, 0)
        h = {_s(k): _s(v) for k, v in lh.items()}
        hist = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for v in values:
            hist[next((i for i, b in enumerate(LATENCY_BOUNDS_MS) if v <= b), len(LATENCY_BOUNDS_MS))] += 1
        dep = gw.config.deployments[name]
        out[name] = {"provider": dep.provider.name, "breaker": state["effective"],
                     "breaker_failures": state["failures"], "cooldown_ms": _int(state.get("cooldown_ms")),
                     "requests": ok + bad, "successes": ok, "failures": bad,
                     "error_rate": bad / (ok + bad) if ok + bad else 0.0,
                     "p50_ms": _percentile(values, 0.5), "p99_ms": _percentile(values, 0.99),
                     "histogram": {"bounds_ms": list(LATENCY_BOUNDS_MS), "counts": hist},
                     "ewma_ms": float(h["ewma_ms"]) if h.get("ewma_ms") else None,
                     "avg_ms_all_time": _int(h.get("sum_ms")) / _int(h.get("n")) if _int(h.get("n")) else None}
    rows = [{"model": m, "task": t, "requests": v[0], "cost_usd": v[1] / 1e6,
             "cost_per_request_usd": v[1] / v[0] / 1e6, "avg_tokens_in": v[2] / v[0], "avg_tokens_out": v[3] / v[0]}
            for (m, t), v in model_task.items()]
    rows.sort(key=lambda r: (-r["cost_per_request_usd"], r["model"], r["task"]))
    return _json({"window": {"entries": counted, "asked": n, "since": oldest, "until": newest},
                  "deployments": out, "model_task": rows})


async def refusals(request: Request) -> Response:
    """Requests refused before any upstream call (rate limits, budget, open breakers, state
    unavailable), per reason and day, summed over every worker of every replica."""
    gw = await authorize(request)
    day = _day_param(request, gw)
    ndays = _int_param(request, "days", 7, 1, 35)
    first = date.fromisoformat(day)
    days = [(first - timedelta(days=i)).isoformat() for i in range(ndays)]
    pipe = gw.state.client.pipeline(transaction=False)
    for d in days:
        pipe.hgetall(refusals_key(gw.state.keys, d))
    raws = await pipe.execute()
    per_day = [{"day": d, "reasons": {_s(k): _int(v) for k, v in raw.items()}} for d, raw in zip(days, raws)]
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
