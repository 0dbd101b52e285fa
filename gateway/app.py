"""The Starlette application: routes, lifespan, and OpenAI-format answers for every error.

Configuration comes from GATEWAY_CONFIG and the state engine from REDIS_URL (set by
`gateway serve`, which starts a private engine when none is given).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import time
from typing import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway import __version__
from gateway.edge import openapi
from gateway.batch import api as batch_api
from gateway.batch.lines import ENDPOINTS as BATCH_LINE_ENDPOINTS
from gateway.batch.runner import BatchRunner
from gateway.ops import admin, cache_api, keys_api
from gateway.ops.dashboard import page as dashboard
from gateway.edge.asgi import HotPaths, internal_error
from gateway.edge.collector import settle_collector
from gateway.routing.classify import weights_info
from gateway.edge.limits import worker_edge
from gateway.config import Config, load_config
from gateway.auth import bearer_token, key_digest
from gateway.errors import GatewayError, shown, unauthorized
from gateway.observe.log import configure, get_logger
from gateway.pipeline.embeddings import embeddings
from gateway.pipeline.media import ROUTES as MEDIA_PATHS
from gateway.ops.admin_auth import AdminGuard
from gateway.ops.housekeeping import Housekeeper, fold_forever
from gateway.net.google_auth import TokenRefresher
from gateway.inbound.anthropic import AnthropicMessages
from gateway.inbound.anthropic.count import count_tokens
from gateway.inbound.anthropic.reply import error_body as anthropic_error
from gateway.inbound.completions import Completions
from gateway.inbound.gemini.endpoint import PREFIXES as GEMINI_PREFIXES, gemini
from gateway.inbound.gemini.reply import error_body as gemini_error
from gateway.inbound.models import get_model, list_models
from gateway.inbound.openai_chat import OpenAIChat
from gateway.inbound.responses import Responses
from gateway.inbound.responses.store import stored_call
from gateway.pipeline.chat import chat_endpoint
from gateway.pipeline.context import Gateway
from gateway.state.guard import open_state
from gateway.net.upstream import Upstream


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def openapi_json(request: Request) -> Response:
    return _json(openapi.document())


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready once the config is loaded. A Redis outage reports `degraded` but stays 200: the
    gateway keeps serving under its fail-open/closed policies, and a Redis blip must not take
    every replica out of the load balancer at once. The private engine (`gateway serve` without
    REDIS_URL) is this replica's alone: down for longer than `state.unready_after_s` (its
    supervisor restarts it within a second), the replica cannot recover by itself, so 503."""
    gw: Gateway | None = getattr(request.app.state, "gateway", None)
    if gw is None:
        return _json({"status": "not_ready", "reason": "config not loaded"}, 503)
    engine_ok = await gw.state.ping()
    body = {"status": "ready" if engine_ok else "degraded", "config_hash": gw.config.hash,
            "state_engine": "ok" if engine_ok else "unreachable", "version": __version__,
            "journal_pending": gw.state.journal.pending(), "classifier": weights_info()}
    down_for = _engine_down_for(request.app.state, gw, engine_ok)
    if down_for > gw.config.state.unready_after_s and os.environ.get("GATEWAY_PRIVATE_ENGINE") == "1":
        body.update(status="unavailable", reason=f"the private state engine has been down for {down_for:.0f} s")
        return _json(body, 503)
    return _json(body)


def _engine_down_for(app_state: object, gw: Gateway, engine_ok: bool) -> float:
    """Seconds the engine has been unreachable, from this probe's view and the state guard's."""
    now = time.monotonic()
    if engine_ok:
        app_state.engine_down_since = None  # type: ignore[attr-defined]
        return 0.0
    since = getattr(app_state, "engine_down_since", None) or now
    app_state.engine_down_since = since  # type: ignore[attr-defined]
    guard_since = getattr(gw.state, "down_since", None)
    return now - min(since, guard_since or since)


async def metrics(request: Request) -> Response:
    """Every worker of this replica (gateway.observe.metrics_share); behind `metrics.token_sha256` when set."""
    gw: Gateway = request.app.state.gateway
    want = gw.config.metrics.token_sha256
    if want is not None:
        token = bearer_token(request.headers.get("authorization"))
        if token is None or not hmac.compare_digest(key_digest(token), want):
            raise unauthorized("/metrics needs the metrics token: 'Authorization: Bearer <token>'.")
    # the edge's connection figures are this worker's own (not yet in the shared snapshots)
    text = await gw.metrics_share.render() + worker_edge().render_metrics(gw.metrics.worker)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err = GatewayError(404, f"Unknown path {shown(request.url.path)}.", "invalid_request_error", "unknown_url")
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow")  # RFC 9110: a 405 names the methods that are
        err = GatewayError(405, f"Method {shown(request.method)} is not allowed on {shown(request.url.path)}.",
                           "invalid_request_error", "method_not_allowed", headers={"Allow": allow} if allow else None)
    else:
        err = GatewayError(exc.status_code, str(exc.detail), "invalid_request_error")
    return _in_api_shape(request.url.path, err)


def _in_api_shape(path: str, err: GatewayError) -> Response:
    """A 404/405 under the Messages or Gemini paths in that API's error shape, as its SDK reads it."""
    if path.startswith("/v1/messages"):
        return Response(anthropic_error(err), err.status, err.headers, media_type="application/json")
    if path.startswith("/v1beta/"):
        return Response(gemini_error(err), err.status, err.headers, media_type="application/json")
    return err.response()


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientDisconnect):  # the client left mid-request: nothing to answer, nothing broke
        return Response(status_code=499)
    return internal_error(exc, request.url.path).response()


chat_completions = chat_endpoint(OpenAIChat())
messages = chat_endpoint(AnthropicMessages())
responses, completions = chat_endpoint(Responses()), chat_endpoint(Completions())
HOT_PATHS = {"/v1/chat/completions": chat_completions, "/chat/completions": chat_completions,
             "/v1/responses": responses, "/responses": responses,
             "/v1/completions": completions, "/completions": completions,
             "/v1/embeddings": embeddings, "/embeddings": embeddings,
             "/v1/messages": messages, "/v1/messages/count_tokens": count_tokens,
             **MEDIA_PATHS, **{path[3:]: handler for path, handler in MEDIA_PATHS.items()}}
HOT_PREFIXES = dict.fromkeys(GEMINI_PREFIXES, gemini)  # /v1beta/models/{model}:{method}
BATCH_ENDPOINTS = tuple(BATCH_LINE_ENDPOINTS)  # each runs through its own handler


def create_app(config: Config | None = None, redis_url: str | None = None) -> HotPaths:
    """App factory; `uvicorn --factory gateway.app:create_app` reads the environment."""
    configure(os.environ.get("GATEWAY_LOG_LEVEL", "info"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cfg = config or load_config(os.environ["GATEWAY_CONFIG"])
        url = redis_url or os.environ.get("REDIS_URL")
        if not url:
            raise RuntimeError("REDIS_URL is not set: run through 'gateway serve', which starts an engine")
        state = await open_state(url, cfg)
        upstream = Upstream()
        await upstream.start()
        gw = Gateway(cfg, state, upstream)
        app.state.gateway = gw
        app.state.admin_guard = AdminGuard(gw.auth, state, cfg.admin)  # the ops door, not a pipeline dependency
        replayed = await state.replay_at_start()
        if replayed:
            get_logger("gateway").warning("journal_replayed", entries=replayed)
        housekeeper = Housekeeper(gw)
        google_tokens = TokenRefresher(cfg.providers.values(), upstream)  # Vertex service accounts
        await google_tokens.start()
        background = [asyncio.create_task(gw.tokstats.refresh_forever(state.ops.tokstats)),
                      asyncio.create_task(housekeeper.run_forever())]
        background.append(asyncio.create_task(gw.metrics_share.run_forever()))
        background.append(asyncio.create_task(google_tokens.run_forever()))
        if cfg.state.fold_interval_ms:
            background.append(asyncio.create_task(fold_forever(gw, cfg.state.fold_interval_ms / 1000)))
        runner = None
        if cfg.batch.enabled:  # batch lines, run through the same handlers in process
            runner = BatchRunner(gw, app, {path: HOT_PATHS[path] for path in BATCH_ENDPOINTS})
            background.append(asyncio.create_task(runner.run_forever()))
        if gw.tracer is not None:
            gw.tracer.start_export()  # not in `background`: its close lets the export in flight finish
        collector = settle_collector()  # last: what start-up built lives as long as the worker
        get_logger("gateway").info("worker_started", config=cfg.source, config_hash=cfg.hash, pid=os.getpid(),
                                   edge=worker_edge().describe(), gc_threshold=collector.threshold[0],
                                   gc_frozen=collector.frozen)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if runner is not None:
                await runner.drain()
            with contextlib.suppress(Exception):  # best effort: Redis may be the thing that is gone
                await asyncio.wait_for(housekeeper.deregister(), 1.0)
            await gw.settle.drain()
            await gw.cache.drain()
            if gw.tracer is not None:  # after the settles: their log lines end the last requests' traces
                await gw.tracer.close()
            gw.metrics_share.close()
            await upstream.close()
            state.journal.close()
            await state.close()

    routes = [
        *(Route(path, handler, methods=["POST"]) for path, handler in HOT_PATHS.items()),  # for 405s
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1beta/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model),  # every method: it answers its own 405s
        Route("/v1beta/models/{model:path}", get_model),
        Route("/v1/responses/{rest:path}", stored_call, methods=["GET", "DELETE", "POST"]),  # retrieve & co.
        Route("/responses/{rest:path}", stored_call, methods=["GET", "DELETE", "POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin.routes,
        *keys_api.routes,
        *cache_api.routes,
        *batch_api.routes,
        *dashboard.routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        GatewayError: _gateway_error, HTTPException: _http_error, Exception: _server_error,
    })
    return HotPaths(app, HOT_PATHS, HOT_PREFIXES)
