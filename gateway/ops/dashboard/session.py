"""The dashboard's sessions, kept in Redis (see :mod:`gateway.ops.dashboard.page`'s docstring
for the design): issued at login, checked by :func:`gateway.ops.access.require_admin`, ended at
logout. Re-exported by `gateway.ops.dashboard.page`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING

from gateway.observe.log import get_logger

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

COOKIE = "gw_dashboard"
SESSION_TTL_S = 12 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)

_log = get_logger("gateway.ops.dashboard.page")


def _digest(token: str) -> str:
    """Redis holds the token's SHA-256, not the token: reading Redis does not open the dashboard."""
    return hashlib.sha256(token.encode()).hexdigest()


def _admin_binding(gw: "Gateway") -> str:
    """Stored with each session and compared on use: changing the admin key ends every session."""
    return hashlib.sha256(b"gateway-dashboard-session\x00" + (gw.config.admin_key_sha256 or b"")).hexdigest()[:32]


async def new_session(gw: "Gateway", client: str = "-") -> str:
    """A random 256-bit token, kept in Redis for SESSION_TTL_S; raises if Redis is unreachable."""
    token = secrets.token_urlsafe(32)
    value = f"{_admin_binding(gw)}|{int(time.time())}|{client[:64]}"
    await gw.state.ops.put_session(_digest(token), value, SESSION_TTL_S * 1000)
    return token


async def valid_session(gw: "Gateway", cookie: str | None) -> bool:
    if not cookie or not _TOKEN.match(cookie):
        return False
    try:
        value = await gw.state.ops.session(_digest(cookie))
    except Exception as exc:  # Redis away: no session can be checked; the admin key still works
        _log.warning("dashboard_session_unverifiable", error=type(exc).__name__)
        return False
    return value.split("|", 1)[0] == _admin_binding(gw)


async def end_session(gw: "Gateway", cookie: str | None) -> bool:
    """Delete the session (logout): the cookie stops working on every replica at once."""
    if not cookie or not _TOKEN.match(cookie):
        return False
    return await gw.state.ops.drop_session(_digest(cookie))

