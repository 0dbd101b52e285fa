"""gateway/ops/access.py, the one auth door in front of every operator handler: the admin key, or
(where allowed) a dashboard session; failed keys counted by the real AdminGuard on a state store,
the handlers themselves called with the gateway only once the caller is in."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import fakeredis
import pytest
import yaml
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gateway.auth import Authenticator
from gateway.config import parse_config
from gateway.errors import GatewayError
from gateway.ops import admin, keys_api
from gateway.ops.access import admin_only, admin_or_session, require_admin
from gateway.ops.admin_auth import AdminGuard
from gateway.ops.dashboard import api, page
from gateway.ops.dashboard.session import COOKIE, new_session
from gateway.state.store import StateStore
from tests.procs import ADMIN_KEY, config_yaml


def gateway(admin_key: bool = True) -> SimpleNamespace:
    """What the handlers and the door use of the gateway: config, admin guard and state."""
    cfg = parse_config(yaml.safe_load(config_yaml(9, "access")), env={"SIMULATOR_API_KEY": "x"})
    if not admin_key:
        cfg = dataclasses.replace(cfg, admin_key_sha256=None)
    store = StateStore.from_client(fakeredis.aioredis.FakeRedis(), prefix="access")
    return SimpleNamespace(config=cfg, state=store,
                           admin_guard=AdminGuard(Authenticator(cfg.keys, cfg.admin_key_sha256), store, cfg.admin))


def request(gw: SimpleNamespace, authorization: str | None = None, cookie: str | None = None) -> Request:
    headers = []
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    if cookie:
        headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    scope = {"type": "http", "method": "GET", "path": "/admin/x", "headers": headers, "query_string": b"",
             "client": ("10.9.0.1", 5000), "app": SimpleNamespace(state=SimpleNamespace(gateway=gw, admin_guard=gw.admin_guard))}
    return Request(scope)


async def status_of(endpoint, req: Request) -> int:
    try:
        return (await endpoint(req)).status_code
    except GatewayError as err:
        return err.status


seen: list[object] = []


async def handler(req: Request, gw: object) -> Response:
    seen.append(gw)
    return PlainTextResponse("in")


def test_admin_only_takes_the_key_and_nothing_else() -> None:
    async def scenario() -> None:
        gw = gateway()
        endpoint = admin_only(handler)
        cookie = await new_session(gw)
        seen.clear()
        assert await status_of(endpoint, request(gw, f"Bearer {ADMIN_KEY}")) == 200
        assert seen == [gw]  # the handler got the gateway the request's app holds
        assert await status_of(endpoint, request(gw, cookie=cookie)) == 401  # a session does not open /admin/*
        assert await status_of(endpoint, request(gw, "Bearer wrong")) == 401
        assert len(seen) == 1
        # both failures were counted against the client (missing key included)
        _, _, mine, _, _ = await gw.state.admin_auth("10.9.0.1", "ok", 100, 100, 60_000)
        assert mine == 2

    asyncio.run(scenario())


def test_admin_or_session_takes_either_and_answers_no_store() -> None:
    async def scenario() -> None:
        gw = gateway()
        endpoint = admin_or_session(handler)
        cookie = await new_session(gw)
        ok = await endpoint(request(gw, cookie=cookie))
        assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
        assert await status_of(endpoint, request(gw, f"Bearer {ADMIN_KEY}")) == 200
        assert await status_of(endpoint, request(gw, cookie="x" * 43)) == 401
        # a header decides alone: a wrong key with a good cookie is refused (and counted)
        assert await status_of(endpoint, request(gw, "Bearer wrong", cookie=cookie)) == 401
        assert await status_of(endpoint, request(gw)) == 401
        _, _, mine, _, _ = await gw.state.admin_auth("10.9.0.1", "ok", 100, 100, 60_000)
        assert mine == 1  # the missing key and the bad cookie are not admin-key failures

    asyncio.run(scenario())


@pytest.mark.parametrize("session", [False, True])
def test_no_admin_key_configured_is_403(session: bool) -> None:
    async def scenario() -> None:
        gw = gateway(admin_key=False)
        for auth in (None, f"Bearer {ADMIN_KEY}"):
            with pytest.raises(GatewayError) as err:
                await require_admin(request(gw, auth), session=session)
            assert err.value.status == 403

    asyncio.run(scenario())


def test_the_dashboard_mounts_the_admin_handlers_themselves() -> None:
    """No view of the gateway in between: every /dashboard/api/<name> route wraps the very handler
    /admin/<name> wraps (the runtime keys and teams lists included)."""
    def wrapped(route) -> object:
        return route.endpoint.__closure__[0].cell_contents  # the handler the door was put in front of

    dash = {r.path: wrapped(r) for r in page.routes if r.path.startswith("/dashboard/api/")}
    assert {f"/dashboard/api/{n}": h for n, h in {**admin.HANDLERS, **api.HANDLERS, **keys_api.READS}.items()} == dash
    assert {r.path: wrapped(r) for r in admin.routes} == {f"/admin/{n}": h for n, h in admin.HANDLERS.items()}
