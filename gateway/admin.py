"""The admin API under /admin/ (admin key): spend, breakers, budget state.

Everything is read from Redis, so any replica gives the same answer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import bad_request
from gateway.runtime import Gateway
from gateway.spend import DIMENSIONS, report

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    gw.auth.authenticate_admin(request.headers.get("authorization"))
    return gw


async def spend(request: Request) -> Response:
    gw = _gateway(request)
    day = request.query_params.get("day") or gw.budget_day()
    by = request.query_params.get("by", "model")
    if not _DAY.match(day):
        raise bad_request("day must be YYYY-MM-DD.", "day")
    if by not in DIMENSIONS:
        raise bad_request(f"by must be one of {list(DIMENSIONS)}.", "by")
    raw = await gw.state.client.hgetall(gw.state.keys.spend(day))
    rep = report(raw, day, by)
    rep["budget_usd"] = gw.config.budget.daily_micro / 1_000_000
    return _json(rep)


async def breakers(request: Request) -> Response:
    gw = _gateway(request)
    out = {}
    for name in gw.config.deployments:
        state = await gw.state.breaker_state(name)
        out[name] = {"state": state["effective"], "gen": state["gen_effective"],
                     "failures": int(state.get("fails", 0) or 0),
                     "cooldown_ms": int(state.get("cooldown_ms", 0) or 0)}
    return _json({"breakers": out})


routes = [
    Route("/admin/spend", spend, methods=["GET"]),
    Route("/admin/breakers", breakers, methods=["GET"]),
]
