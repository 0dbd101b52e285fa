"""Admin-key checks with a limit on failures that every replica shares.

Each check (dashboard login, `/admin/*` or `/dashboard/*` with a Bearer key) is one call of
lua/admin_auth.lua with its outcome: past `admin.failures_per_client` failures of one client
address, or `admin.failures_total` of all clients, within `admin.window_s`, every attempt is a
429 with Retry-After, the right key included, so guessing stops and learns nothing. While Redis
is unreachable the same rule runs on an in-process copy (the script's reference model) per
worker.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from gateway.auth import Authenticator
from gateway.config import AdminAuth
from gateway.errors import GatewayError, rate_limited, unauthorized
from gateway.observe.log import clip, get_logger
from gateway.state.reference import AdminAuthModel

_log = get_logger("gateway.ops.admin")


class AdminGuard:
    def __init__(self, auth: Authenticator, state: Any, settings: AdminAuth) -> None:
        self._auth, self._state, self.settings = auth, state, settings
        self._local = AdminAuthModel()

    def client_of(self, request: Request) -> str:
        """The client's address: the TCP peer, or the last entry of the configured proxy header
        (the one the trusted proxy appended; earlier entries are the client's to forge)."""
        header = self.settings.client_ip_header
        if header:
            value = request.headers.get(header)
            if value:
                return clip(value.rsplit(",", 1)[-1].strip(), 64) or "-"
        return request.client.host if request.client else "-"

    async def check(self, request: Request, authorization: str | None, scope: str = "read") -> str:
        """The admin key's name if `authorization` carries an admin key with `scope` and the
        client is within the limits; else 403 (no admin key configured, or a read key asked to
        write), 429 (limited) or 401."""
        found = self._auth.admin_key(authorization)
        ok = found is not None
        client = self.client_of(request)
        allowed, retry_ms = await self._attempt(client, "ok" if ok else "fail")
        if not allowed:
            _log.warning("admin_auth_limited", client=client, path=request.url.path, retry_after_ms=retry_ms)
            raise rate_limited("Too many failed admin authentications; retry after the time in Retry-After.",
                               retry_ms, code="admin_auth_limited")
        if found is None:
            _log.warning("admin_auth_failed", client=client, path=request.url.path)
            raise unauthorized("Invalid or missing admin key.")
        if scope == "write" and found[1] != "write":
            raise scope_error()
        return found[0]

    async def _attempt(self, client: str, outcome: str) -> tuple[int, int]:
        s = self.settings
        window_ms = max(1, round(s.window_s * 1000))
        try:
            allowed, retry_ms, *_ = await self._state.admin_auth(client, outcome, s.failures_per_client,
                                                                 s.failures_total, window_ms)
        except Exception as exc:  # Redis away: this worker's own count, by the same rule
            _log.warning("admin_auth_local", error=type(exc).__name__)
            keys = self._state.keys
            allowed, retry_ms, *_ = self._local.attempt(
                keys.auth_failures(client), keys.auth_failures_all(), outcome, s.failures_per_client,
                s.failures_total, window_ms, int(time.time() * 1_000_000))
        return allowed, retry_ms


def scope_error() -> GatewayError:
    return GatewayError(403, "This admin key may only read: changes need an admin key with the write scope.",
                        "permission_error", "insufficient_scope")

