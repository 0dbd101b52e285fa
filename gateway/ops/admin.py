"""The admin API under /admin/ (admin key): spend, breakers, budget state.

Everything is read from Redis, so any replica gives the same answer.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.routing.classify import weights_info
from gateway.errors import bad_request
from gateway.ops.housekeeping import live_replicas
from gateway.ops.inflation import read_alerts
from gateway.pipeline.context import Gateway
from gateway.ops.spend import DIMENSIONS, check_day, report


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    await gw.admin_guard.check(request, request.headers.get("authorization"))
    return gw


async def spend(request: Request) -> Response:
    gw = await _gateway(request)
    day = check_day(request.query_params.get("day") or gw.clock.day())
    by = request.query_params.get("by", "model")
    if by not in DIMENSIONS:
        raise bad_request(f"by must be one of {list(DIMENSIONS)}.", "by")
    rep = report(await gw.state.day_spend(day), day, by)
    rep["budget_usd"] = gw.config.budget.daily_micro / 1_000_000
    return _json(rep)


async def breakers(request: Request) -> Response:
    gw = await _gateway(request)
    out = {}
    for name in gw.config.deployments:
        state = await gw.state.breaker_state(name)
        out[name] = {"state": state["effective"], "gen": state["gen_effective"],
                     "failures": state["failures"],
                     "cooldown_ms": int(state.get("cooldown_ms", 0) or 0)}
    return _json({"breakers": out})


async def alerts(request: Request) -> Response:
    gw = await _gateway(request)
    return _json({"alerts": await read_alerts(gw.state.client, gw.state.keys),
                  "threshold": gw.config.housekeeping.inflation_threshold})


async def cluster(request: Request) -> Response:
    """Live replicas, their config hashes and classifier weights hashes; replicas that disagree
    on either make different decisions."""
    gw = await _gateway(request)
    live = await live_replicas(gw.state.client, gw.state.keys, gw.config.housekeeping.interval_s * 3)
    hashes = sorted({r["config_hash"] for r in live.values()})
    weights = sorted({r.get("classifier_hash", "?") for r in live.values()})
    return _json({"replicas": live, "config_hashes": hashes, "mismatch": len(hashes) > 1,
                  "this_config_hash": gw.config.hash, "classifier_hashes": weights,
                  "classifier_mismatch": len(weights) > 1, "this_classifier": weights_info()})


async def budget(request: Request) -> Response:
    """Today's spend against the budget and its pace, with the day's downgrade moments."""
    gw = await _gateway(request)
    day = check_day(request.query_params.get("day") or gw.clock.day())
    keys, client = gw.state.keys, gw.state.client
    spend_raw = await client.hmget(keys.spend(day), ["cost:total", "reserved:total"])
    pace_raw = await client.hgetall(keys.pace(day))
    events = await client.lrange(keys.pace_events(day), 0, -1)
    pace = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in pace_raw.items()}
    marks = []
    for event in events:
        us, mode, ratio = (event.decode() if isinstance(event, bytes) else event).split(":")
        marks.append({"ts": int(us) / 1e6, "mode": int(mode), "ratio": int(ratio) / 1000})
    b = gw.config.budget
    return _json({
        "day": day, "timezone": b.timezone, "spent_usd": int(spend_raw[0] or 0) / 1e6,
        "reserved_usd": int(spend_raw[1] or 0) / 1e6, "daily_budget_usd": b.daily_micro / 1e6,
        "hard_limit_usd": b.hard_limit_micro / 1e6, "pace_mode": pace.get("mode", 0),
        "pace_ratio": pace.get("ratio_permille", 0) / 1000, "downgrade_events": marks,
        "pace": {"burst_share": b.pace.burst_share, "enter": b.pace.enter, "normal_enter": b.pace.normal_enter,
                 "exit": b.pace.exit},
    })


async def experiments(request: Request) -> Response:
    """Each experiment's arms: requests, cost, cost per request, latency and error rate (today)."""
    gw = await _gateway(request)
    day = check_day(request.query_params.get("day") or gw.clock.day())
    fields = await gw.state.day_spend(day)
    out: dict[str, dict[str, Any]] = {}
    for route in gw.config.routes.values():
        for exp in route.experiments:
            arms = {}
            for arm in ("treatment", "control"):
                name = f"{exp.name}:{arm}"
                n = fields.get(f"req:arm:{name}", 0)
                cost = fields.get(f"cost:arm:{name}", 0)
                arms[arm] = {"requests": n, "cost_usd": cost / 1e6,
                             "cost_per_request_usd": cost / n / 1e6 if n else 0.0,
                             "avg_latency_ms": fields.get(f"ms:arm:{name}", 0) / n if n else 0.0,
                             "error_rate": fields.get(f"fail:arm:{name}", 0) / n if n else 0.0,
                             "avg_tokens_out": fields.get(f"out:arm:{name}", 0) / n if n else 0.0}
            out[exp.name] = {"route": route.name, "task": exp.task, "weight": exp.weight, "arms": arms}
    return _json({"day": day, "experiments": out})


routes = [
    Route("/admin/experiments", experiments, methods=["GET"]),
    Route("/admin/spend", spend, methods=["GET"]),
    Route("/admin/breakers", breakers, methods=["GET"]),
    Route("/admin/alerts", alerts, methods=["GET"]),
    Route("/admin/cluster", cluster, methods=["GET"]),
    Route("/admin/budget", budget, methods=["GET"]),
]
