"""The operator dashboard: `GET /dashboard`, one page that shows the whole cluster, read from Redis.

Served by the gateway itself: HTML, CSS and JavaScript from `gateway/ops/dashboard/static/` (uPlot vendored
under `static/vendor/uplot/`, its licence beside it), no build step and no request leaves the
gateway's origin. The page refreshes every few seconds from JSON endpoints:

* the existing admin endpoints (`/admin/budget`, `/breakers`, `/alerts`, `/cluster`, `/experiments`),
  mounted as they are under `/dashboard/api/<name>` so that the session cookie opens them too;
* the dashboard's endpoints (`gateway.ops.dashboard.api`), under `/admin/` and `/dashboard/api/`
  (admin key or session either way):
  `spend/series` (today's spend sampled each housekeeping tick, with the pace allowance's
  parameters), `spend/summary` (spend and requests by task, model, provider and key, today and
  over the last days), `deployments` (breaker state, error rate, latency p50/p99 and cost per
  request per (model, task) over the last N ledger entries) and `refusals` (cluster-wide refusal
  counts per reason and day).

Authentication: the admin key as `Authorization: Bearer`, or a session cookie obtained by posting
the admin key to `/dashboard/login`. A session is server-side: the cookie is a random 256-bit
token (HttpOnly, SameSite=Strict, Secure behind https), Redis keeps its SHA-256 (the `dash:sess`
key of lua/README.md's key schema) for 12 h with a fingerprint of the admin key, so any worker of any
replica accepts it, logout deletes it (a captured cookie stops working at once), and changing the
admin key ends every session. Login and logout are refused (403) unless the request's `Origin`
(or `Referer`) is the dashboard's own origin and `Sec-Fetch-Site`, when sent, says same-origin:
no other site can log a browser in or out. Failed admin keys, at login or as a Bearer header,
count against the limits of `gateway.ops.admin_auth` (per client and in all, across replicas).

Time series: each housekeeping tick every worker writes today's spend and its refusal counts
(`gateway.ops.series`); the endpoints here read them back.

Module layout: this module serves the page, the login and the routes; who may call what is
decided in front of the handlers (`gateway.ops.access`: admin key, or admin key or session); the
session cookie is in `gateway.ops.dashboard.session`, the JSON endpoints in
`gateway.ops.dashboard.api`. Their public names are re-exported here.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.errors import GatewayError
from gateway.observe.log import get_logger
from gateway.ops import admin, keys_api
from gateway.ops.access import admin_only, admin_or_session, require_admin
from gateway.ops.dashboard import api
from gateway.ops.dashboard.api import (LATENCY_BOUNDS_MS, SUMMARY_DIMS, day_bounds, deployments, refusals,
                                       spend_series, spend_summary)
from gateway.ops.dashboard.session import COOKIE, SESSION_TTL_S, end_session, new_session, valid_session
from gateway.ops.series import KEEP_DAYS, sample, sample_step_s

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

__all__ = [
    "COOKIE", "KEEP_DAYS", "LATENCY_BOUNDS_MS", "SESSION_TTL_S", "STATIC", "SUMMARY_DIMS",
    "dashboard_page", "day_bounds", "deployments", "end_session", "login", "login_form", "logout",
    "new_session", "refusals", "routes", "sample", "sample_step_s", "spend_series",
    "spend_summary", "same_origin", "valid_session",
]

STATIC = Path(__file__).resolve().parent / "static"
_log = get_logger("gateway.ops.dashboard.page")


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


def same_origin(request: Request) -> bool:
    """A state-changing request made by the dashboard's own page: `Origin` (else `Referer`)
    names this host (`Host`, or `X-Forwarded-Host` behind a proxy: a cross-site page can set
    neither), or `Sec-Fetch-Site` (set by the browser, never by a page) says same-origin. The
    latter decides alone: the dashboard's pages send `Referrer-Policy: no-referrer`, under which
    a browser's own form post carries `Origin: null`."""
    site = request.headers.get("sec-fetch-site")
    if site == "same-origin":
        return True
    if site is not None and site != "none":
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return False
    netloc = urlsplit(origin).netloc.lower()
    hosts = {request.headers.get("host", "").lower(), request.headers.get("x-forwarded-host", "").lower()}
    return bool(netloc) and netloc in hosts - {""}


async def dashboard_page(request: Request) -> Response:
    try:
        await require_admin(request, session=True)
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
    if gw.config.admin_key_sha256 is None and not gw.config.admin_keys:
        return _login_page("The admin API is disabled: set admin_key_sha256 in the config.", 403)
    if not same_origin(request):
        _log.warning("dashboard_cross_site_refused", path="/dashboard/login")
        return _login_page("Sign in from the dashboard's own page (cross-site request refused).", 403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            return _login_page("Request too large.", 413)
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return _login_page("Send the form.", 400)
    key = (parse_qs(body.decode("utf-8", "replace")).get("admin_key") or [""])[0].strip()
    try:
        await request.app.state.admin_guard.check(request, f"Bearer {key}")  # failures counted, see gateway.ops.admin_auth
    except GatewayError as err:
        if err.status == 429:
            response = _login_page("Too many failed attempts; try again later.", 429)
            response.headers["retry-after"] = err.headers.get("retry-after", "60")
            return response
        return _login_page("Wrong admin key.", 401)
    try:
        cookie = await new_session(gw, request.app.state.admin_guard.client_of(request))
    except Exception as exc:
        _log.warning("dashboard_login_failed", error=type(exc).__name__)
        return _login_page("The shared state is unreachable, so no session can be issued; "
                           "send the admin key as 'Authorization: Bearer' instead.", 503)
    response = RedirectResponse("/dashboard", status_code=303, headers=_security_headers())
    response.set_cookie(COOKIE, cookie, max_age=SESSION_TTL_S, path="/", httponly=True, samesite="strict",
                        secure=_is_https(request))
    return response


async def logout(request: Request) -> Response:
    if not same_origin(request):
        _log.warning("dashboard_cross_site_refused", path="/dashboard/logout")
        return _login_page("Cross-site request refused.", 403)
    gw: Gateway = request.app.state.gateway
    try:
        await end_session(gw, request.cookies.get(COOKIE))
    except Exception as exc:  # the session stays until its TTL; say so rather than pretend
        _log.warning("dashboard_logout_failed", error=type(exc).__name__)
        return _login_page("The shared state is unreachable, so the session could not be ended; retry.", 503)
    response = RedirectResponse("/dashboard/login", status_code=303, headers=_security_headers())
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request))
    return response


routes = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/dashboard/login", login_form, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", logout, methods=["POST"]),
    Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
    *(Route(f"/admin/{name}", admin_only(fn), methods=["GET"]) for name, fn in api.HANDLERS.items()),
    *(Route(f"/dashboard/api/{name}", admin_or_session(fn), methods=["GET"]) for name, fn in api.HANDLERS.items()),
    *(Route(f"/dashboard/api/{name}", admin_or_session(fn), methods=["GET"]) for name, fn in admin.HANDLERS.items()),
    # the runtime keys and teams panel: the admin API's list handlers, behind the same door
    *(Route(f"/dashboard/api/{name}", admin_or_session(fn), methods=["GET"]) for name, fn in keys_api.READS.items()),
]
