"""The operator dashboard: `GET /dashboard`, one page that shows the whole cluster, read from Redis.

Served by the gateway itself: HTML, CSS and JavaScript from `gateway/static/` (uPlot vendored
under `static/vendor/uplot/`, its licence beside it), no build step and no request leaves the
gateway's origin. The page refreshes every few seconds from JSON endpoints:

* the existing admin endpoints (`/admin/budget`, `/breakers`, `/alerts`, `/cluster`, `/experiments`),
  re-served under `/dashboard/api/<name>` so that the session cookie opens them too;
* the endpoints this module adds, under `/admin/` (admin key) and `/dashboard/api/` (either):
  `spend/series` (today's spend sampled each housekeeping tick, with the pace allowance's
  parameters), `spend/summary` (spend and requests by task, model, provider and key, today and
  over the last days), `deployments` (breaker state, error rate, latency p50/p99 and cost per
  request per (model, task) over the last N ledger entries) and `refusals` (cluster-wide refusal
  counts per reason and day).

Authentication: the admin key as `Authorization: Bearer`, or a session cookie obtained by posting
the admin key to `/dashboard/login`. The cookie is `<expiry>.<HMAC-SHA256(expiry)>`, HttpOnly,
SameSite=Strict. Its signing key is HMAC(a random secret kept in Redis, created once with SET NX,
the admin key's SHA-256): every worker and every replica reads the same secret, so whichever one
serves the next request accepts the cookie (a per-process secret would not survive a load
balancer, nor even the second uvicorn worker of one replica), yet nobody can mint a cookie from
the config file alone (the admin key's digest is not a secret: configs are shared). Changing the
admin key invalidates every session; so does deleting `{gw}:dash:session_secret` (within a minute).

Time series (`sample`, called once per housekeeping tick by every worker): today's settled and
reserved spend into `{gw}:dash:spend:<day>` (HASH bucket -> "ts:spent_micro:reserved_micro", one
bucket per `sample_step_s`, last writer wins, so any number of workers write the same series), and
this worker's refusals since its last flush (the `gateway_refusals_total` counter) into
`{gw}:dash:refusals:<day>` (HASH reason -> count): cluster-wide counts with no work on the request
path. Both expire after `KEEP_DAYS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import math
import os
import re
import time
import weakref
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.errors import GatewayError, bad_request, unauthorized
from gateway.log import get_logger
from gateway.spend import spend_rows

if TYPE_CHECKING:
    from gateway.runtime import Gateway

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "gw_dashboard"
SESSION_TTL_S = 12 * 3600
SECRET_CACHE_S = 60.0
KEEP_DAYS = 8
SUMMARY_DIMS = ("task", "model", "provider", "key")
LATENCY_BOUNDS_MS = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_log = get_logger("gateway.dashboard")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


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


def secret_key(keys: Any) -> str:
    return f"{keys.tag}:dash:session_secret"


# ---------------------------------------------------------------------------------------- sessions

_signing: "weakref.WeakKeyDictionary[Any, tuple[float, bytes]]" = weakref.WeakKeyDictionary()


async def _signing_key(gw: "Gateway") -> bytes:
    cached = _signing.get(gw)
    now = time.monotonic()
    if cached and now - cached[0] < SECRET_CACHE_S:
        return cached[1]
    client, name = gw.state.client, secret_key(gw.state.keys)
    await client.set(name, os.urandom(32).hex(), nx=True)
    secret = _s(await client.get(name))
    if not secret:
        raise RuntimeError("dashboard session secret missing")
    key = hmac.new(secret.encode(), b"gateway-dashboard-session\x00" + (gw.config.admin_key_sha256 or b""),
                   hashlib.sha256).digest()
    _signing[gw] = (now, key)
    return key


def _sign(key: bytes, expiry: int) -> str:
    return hmac.new(key, f"v1|{expiry}".encode(), hashlib.sha256).hexdigest()


async def new_session(gw: "Gateway", now: float | None = None) -> str:
    expiry = int((now or time.time()) + SESSION_TTL_S)
    return f"{expiry}.{_sign(await _signing_key(gw), expiry)}"


async def valid_session(gw: "Gateway", cookie: str | None, now: float | None = None) -> bool:
    if not cookie or len(cookie) > 200:
        return False
    expiry_text, _, sig = cookie.partition(".")
    if not expiry_text.isdigit() or not sig:
        return False
    expiry, now = int(expiry_text), now or time.time()
    if not now < expiry <= now + SESSION_TTL_S + 60:
        return False
    try:
        key = await _signing_key(gw)
    except Exception as exc:  # Redis away: a fresh process cannot check the cookie; the admin key still works
        _log.warning("dashboard_session_unverifiable", error=type(exc).__name__)
        return False
    return hmac.compare_digest(_sign(key, expiry), sig)


def _admin_disabled() -> GatewayError:
    return GatewayError(403, "The admin API is disabled: set admin_key_sha256 in the config.",
                        "permission_error", "admin_disabled")


async def authorize(request: Request) -> "Gateway":
    """The admin key in `Authorization`, or a valid dashboard session cookie; else 401/403."""
    gw: Gateway = request.app.state.gateway
    if gw.config.admin_key_sha256 is None:
        raise _admin_disabled()
    header = request.headers.get("authorization")
    if header:
        gw.auth.authenticate_admin(header)
        return gw
    if await valid_session(gw, request.cookies.get(COOKIE)):
        return gw
    raise unauthorized("Invalid or missing admin key or dashboard session.")


def _security_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                       "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                       "base-uri 'none'; frame-ancestors 'none'",
            "x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "cache-control": "no-store", **(extra or {})}


def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


async def dashboard_page(request: Request) -> Response:
    try:
        await authorize(request)
    except GatewayError as err:
        if err.status == 401 and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/dashboard/login", status_code=303, headers=_security_headers())
        raise
    return Response(_page("dashboard.html"), media_type="text/html; charset=utf-8", headers=_security_headers())


def _login_page(message: str = "", status: int = 200) -> Response:
    body = _page("login.html").replace("{{message}}", html.escape(message))
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=_security_headers())


async def login_form(request: Request) -> Response:
    return _login_page()


async def login(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if gw.config.admin_key_sha256 is None:
        return _login_page("The admin API is disabled: set admin_key_sha256 in the config.", 403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            return _login_page("Request too large.", 413)
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return _login_page("Send the form.", 400)
    key = (parse_qs(body.decode("utf-8", "replace")).get("admin_key") or [""])[0].strip()
    try:
        gw.auth.authenticate_admin(f"Bearer {key}")
    except GatewayError:
        await asyncio.sleep(0.3)  # a little friction for guessing
        _log.warning("dashboard_login_refused", client=request.client.host if request.client else "-")
        return _login_page("Wrong admin key.", 401)
    try:
        cookie = await new_session(gw)
    except Exception as exc:
        _log.warning("dashboard_login_failed", error=type(exc).__name__)
        return _login_page("The shared state is unreachable, so no session can be issued; "
                           "send the admin key as 'Authorization: Bearer' instead.", 503)
    response = RedirectResponse("/dashboard", status_code=303, headers=_security_headers())
    response.set_cookie(COOKIE, cookie, max_age=SESSION_TTL_S, path="/", httponly=True, samesite="strict",
                        secure=_is_https(request))
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303, headers=_security_headers())
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request))
    return response


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
        day = gw.budget_day()
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
    day = request.query_params.get("day") or gw.budget_day()
    try:
        if not _DAY.match(day):
            raise ValueError(day)
        date.fromisoformat(day)
    except ValueError:
        raise bad_request("day must be YYYY-MM-DD.", "day") from None
    return day


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
                     "breaker_failures": _int(state.get("fails")), "cooldown_ms": _int(state.get("cooldown_ms")),
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


# ------------------------------------------------------- the existing admin endpoints, for the session


class _SessionChecked:
    """Stands in for the authenticator once `authorize` has accepted the request."""

    def authenticate_admin(self, authorization: str | None) -> None:
        return None


class _GatewayView:
    def __init__(self, gw: "Gateway") -> None:
        self._gw = gw
        self.auth = _SessionChecked()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gw, name)


def _via_session(name: str) -> Any:
    """The admin.py handler `name`, opened by the session cookie as well as the admin key (looked
    up per request: admin imports housekeeping, which imports this module)."""

    async def endpoint(request: Request) -> Response:
        from gateway import admin

        handler = getattr(admin, name, None)
        if handler is None:
            raise GatewayError(404, f"Unknown path {request.url.path}.", "invalid_request_error", "unknown_url")
        gw = await authorize(request)
        app = SimpleNamespace(state=SimpleNamespace(gateway=_GatewayView(gw)))
        response = await handler(Request({**request.scope, "app": app}, request.receive))
        response.headers["cache-control"] = "no-store"
        return response

    return endpoint


_NEW = {"spend/series": spend_series, "spend/summary": spend_summary, "deployments": deployments,
        "refusals": refusals}
_EXISTING = ("budget", "breakers", "alerts", "cluster", "experiments", "spend")

routes = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/dashboard/login", login_form, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", logout, methods=["POST"]),
    Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
    *(Route(f"/admin/{name}", fn, methods=["GET"]) for name, fn in _NEW.items()),
    *(Route(f"/dashboard/api/{name}", fn, methods=["GET"]) for name, fn in _NEW.items()),
    *(Route(f"/dashboard/api/{name}", _via_session(name), methods=["GET"]) for name in _EXISTING),
]
