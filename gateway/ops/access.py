"""Who may call an operator endpoint, decided in front of its handler.

An operator handler is `async def handler(request, gw) -> Response`: it gets the gateway only
once the caller is let in, and knows nothing of how. Two doors put one in front of a handler:

* :func:`admin_only`: the admin key as `Authorization: Bearer` (every `/admin/*` read: a
  session cookie opens only `/dashboard/*`, as docs/dashboard.md says);
* :func:`admin_or_session`: the admin key, or a dashboard session cookie (the dashboard page and
  everything under `/dashboard/api/`); answers `no-store`;
* :func:`admin_write`: an admin key with the `write` scope (creating, changing, revoking keys
  and teams); a `read` key gets 403 `insufficient_scope`, a session cookie 401.

The admin key's name (or `dashboard`) is left in `request.state.actor` for the audit stream.

Both go through :func:`require_admin`, so failed admin keys count against the shared limits of
:mod:`gateway.ops.admin_auth` the same way, and the dashboard mounts the admin handlers as they
are (this replaced a view of the gateway with a stub guard, and an import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError, unauthorized
from gateway.ops.admin_auth import scope_error
from gateway.ops.dashboard.session import COOKIE, valid_session

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

Handler = Callable[[Request, "Gateway"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def admin_disabled() -> GatewayError:
    return GatewayError(403, "The admin API is disabled: set admin_key_sha256 in the config.",
                        "permission_error", "admin_disabled")


async def require_admin(request: Request, *, session: bool = False, scope: str = "read") -> "Gateway":
    """The gateway, if the request carries the admin key (failures limited, see
    gateway.ops.admin_auth) or, with `session`, a valid dashboard session cookie and no
    `Authorization` header; else 401, 403 (no admin key configured) or 429."""
    gw: Gateway = request.app.state.gateway
    header = request.headers.get("authorization")
    if session and not header:
        if gw.config.admin_key_sha256 is None and not gw.config.admin_keys:
            raise admin_disabled()
        if await valid_session(gw, request.cookies.get(COOKIE)):
            if scope == "write":  # a dashboard viewer reads; changes need a write admin key
                raise scope_error()
            request.state.actor = "dashboard"
            return gw
        raise unauthorized("Invalid or missing admin key or dashboard session.")
    # 403 when no admin key is configured, or when a read key asks to write
    request.state.actor = await request.app.state.admin_guard.check(request, header, scope)
    return gw


def admin_only(handler: Handler) -> Endpoint:
    """`handler` behind the admin key."""

    async def endpoint(request: Request) -> Response:
        return await handler(request, await require_admin(request))

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


def admin_write(handler: Handler) -> Endpoint:
    """`handler` behind an admin key with the `write` scope."""

    async def endpoint(request: Request) -> Response:
        return await handler(request, await require_admin(request, scope="write"))

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


def admin_or_session(handler: Handler) -> Endpoint:
    """`handler` behind the admin key or a dashboard session; its answer is never cached."""

    async def endpoint(request: Request) -> Response:
        response = await handler(request, await require_admin(request, session=True))
        response.headers["cache-control"] = "no-store"
        return response

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint
