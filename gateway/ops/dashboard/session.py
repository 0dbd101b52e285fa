"""Who may open the dashboard: the admin key, or a session kept in Redis (see
:mod:`gateway.ops.dashboard.page`'s docstring for the design).

Split out of :mod:`gateway.ops.dashboard.page` so that both the page routes there and the JSON endpoints in
:mod:`gateway.ops.dashboard.api` can call :func:`authorize`; everything is re-exported by `gateway.ops.dashboard.page`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gateway.errors import GatewayError, unauthorized
from gateway.observe.log import get_logger

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

COOKIE = "gw_dashboard"
SESSION_TTL_S = 12 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)

_log = get_logger("gateway.ops.dashboard.page")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def _session_key(gw: "Gateway", token: str) -> str:
    """Redis holds the token's SHA-256, not the token: reading Redis does not open the dashboard."""
    return gw.state.keys.dash_session(hashlib.sha256(token.encode()).hexdigest())


def _admin_binding(gw: "Gateway") -> str:
    """Stored with each session and compared on use: changing the admin key ends every session."""
    return hashlib.sha256(b"gateway-dashboard-session\x00" + (gw.config.admin_key_sha256 or b"")).hexdigest()[:32]


async def new_session(gw: "Gateway", client: str = "-") -> str:
    """A random 256-bit token, kept in Redis for SESSION_TTL_S; raises if Redis is unreachable."""
    token = secrets.token_urlsafe(32)
    value = f"{_admin_binding(gw)}|{int(time.time())}|{client[:64]}"
    await gw.state.client.set(_session_key(gw, token), value, px=SESSION_TTL_S * 1000)
    return token


async def valid_session(gw: "Gateway", cookie: str | None) -> bool:
    if not cookie or not _TOKEN.match(cookie):
        return False
    try:
        value = _s(await gw.state.client.get(_session_key(gw, cookie)))
    except Exception as exc:  # Redis away: no session can be checked; the admin key still works
        _log.warning("dashboard_session_unverifiable", error=type(exc).__name__)
        return False
    return value.split("|", 1)[0] == _admin_binding(gw)


async def end_session(gw: "Gateway", cookie: str | None) -> bool:
    """Delete the session (logout): the cookie stops working on every replica at once."""
    if not cookie or not _TOKEN.match(cookie):
        return False
    return bool(await gw.state.client.delete(_session_key(gw, cookie)))


def _admin_disabled() -> GatewayError:
    return GatewayError(403, "The admin API is disabled: set admin_key_sha256 in the config.",
                        "permission_error", "admin_disabled")


async def authorize(request: Request) -> "Gateway":
    """The admin key in `Authorization` (failures limited, see gateway.ops.admin_auth), or a valid
    dashboard session cookie; else 401/403/429."""
    gw: Gateway = request.app.state.gateway
    if gw.config.admin_key_sha256 is None:
        raise _admin_disabled()
    header = request.headers.get("authorization")
    if header:
        await gw.admin_guard.check(request, header)
        return gw
    if await valid_session(gw, request.cookies.get(COOKIE)):
        return gw
    raise unauthorized("Invalid or missing admin key or dashboard session.")
