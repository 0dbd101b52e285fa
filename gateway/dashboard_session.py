"""Who may open the dashboard: the admin key, or a session cookie signed with a key shared through
Redis (see :mod:`gateway.dashboard`'s docstring for the cookie's design).

Split out of :mod:`gateway.dashboard` so that both the page routes there and the JSON endpoints in
:mod:`gateway.dashboard_api` can call :func:`authorize`; everything is re-exported by `gateway.dashboard`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import weakref
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gateway.errors import GatewayError, unauthorized
from gateway.log import get_logger

if TYPE_CHECKING:
    from gateway.runtime import Gateway

COOKIE = "gw_dashboard"
SESSION_TTL_S = 12 * 3600
SECRET_CACHE_S = 60.0

_log = get_logger("gateway.dashboard")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


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
