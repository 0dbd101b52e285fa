"""The admin API under /admin/ (admin key): spend, breakers, budget state.

Everything is read from Redis, so any replica gives the same answer. Each handler takes the
gateway it may use; who may call it is decided in front of it (:mod:`gateway.ops.access`), so the
dashboard mounts the same handlers behind its session.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import bad_request
from gateway.ops.access import admin_only
from gateway.ops.inflation import read_alerts
from gateway.ops.spend import DIMENSIONS, day_param, report
from gateway.pipeline.context import Gateway
from gateway.routing.classify import weights_info


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


async def spend(request: Request, gw: Gateway) -> Response:
    day = day_param(request, gw)
    by = request.query_params.get("by", "model")
    if by not in DIMENSIONS:
        raise bad_request(f"by must be one of {list(DIMENSIONS)}.", "by")
    rep = report(await gw.state.day_spend(day), day, by)
    rep["budget_usd"] = gw.config.budget.daily_micro / 1_000_000
    return _json(rep)


async def breakers(request: Request, gw: Gateway) -> Response:
    out = {}
    for name in gw.config.deployments:
        state = await gw.state.breaker_state(name)
        out[name] = {"state": state["effective"], "gen": state["gen_effective"],
                     "failures": state["failures"],
                     "cooldown_ms": int(state.get("cooldown_ms", 0) or 0)}
    return _json({"breakers": out})


async def alerts(request: Request, gw: Gateway) -> Response:
    return _json({"alerts": await read_alerts(gw.state.ops),
                  "threshold": gw.config.housekeeping.inflation_threshold})


async def cluster(request: Request, gw: Gateway) -> Response:
    """Live replicas, their config hashes and classifier weights hashes; replicas that disagree
    on either make different decisions."""
    live = await gw.state.ops.live_replicas(gw.config.housekeeping.interval_s * 3)
    hashes = sorted({r["config_hash"] for r in live.values()})
    weights = sorted({r.get("classifier_hash", "?") for r in live.values()})
    return _json({"replicas": live, "config_hashes": hashes, "mismatch": len(hashes) > 1,
                  "this_config_hash": gw.config.hash, "classifier_hashes": weights,
                  "classifier_mismatch": len(weights) > 1, "this_classifier": weights_info()})


async def budget(request: Request, gw: Gateway) -> Response:
    """Today's spend against the budget and its pace, with the day's downgrade moments."""
    day = day_param(request, gw)
    totals = await gw.state.ops.spend_totals(day)
    pace = await gw.state.ops.pace(day)
    marks = [{"ts": e.at_us / 1e6, "mode": e.mode, "ratio": e.ratio_permille / 1000} for e in pace.events]
    b = gw.config.budget
    return _json({
        "day": day, "timezone": b.timezone, "spent_usd": totals.spent_micro / 1e6,
        "reserved_usd": totals.reserved_micro / 1e6, "daily_budget_usd": b.daily_micro / 1e6,
        "hard_limit_usd": b.hard_limit_micro / 1e6, "pace_mode": pace.mode,
        "pace_ratio": pace.ratio_permille / 1000, "downgrade_events": marks,
        "pace": {"burst_share": b.pace.burst_share, "enter": b.pace.enter, "normal_enter": b.pace.normal_enter,
                 "exit": b.pace.exit},
    })


async def experiments(request: Request, gw: Gateway) -> Response:
    """Each experiment's arms: requests, cost, cost per request, latency and error rate (today)."""
    day = day_param(request, gw)
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


# served under /admin/<name> behind the admin key, and under /dashboard/api/<name> (gateway.ops.dashboard.page)
HANDLERS = {"experiments": experiments, "spend": spend, "breakers": breakers, "alerts": alerts, "cluster": cluster,
            "budget": budget}

routes = [Route(f"/admin/{name}", admin_only(handler), methods=["GET"]) for name, handler in HANDLERS.items()]
