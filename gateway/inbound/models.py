"""`GET /v1/models` (and the Gemini API's `GET /v1beta/models`): the routes and models a key may
ask for, in the listing shape of the client's own API; `GET /v1/models/{model}` one of them.

One path serves three SDKs, so the shape follows the headers each SDK sends: `anthropic-version`
(the anthropic SDK, Claude Code) gets Anthropic's page, `x-goog-api-key` or a `key` query
parameter (google-genai, Gemini CLI) Google's, anything else OpenAI's; `/v1beta/models` is
always Google's. An error (a missing or wrong key) comes in the same API's error shape.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import Config, Deployment
from gateway.config.model import ApiKey
from gateway.errors import GatewayError, forbidden, model_not_found, shown
from gateway.inbound.anthropic.count import deployments_of
from gateway.inbound.anthropic.reply import error_body as anthropic_error
from gateway.inbound.gemini.reply import error_body as gemini_error
from gateway.pipeline.context import Gateway

Api = Literal["openai", "anthropic", "gemini"]
GENERATE = ["generateContent", "streamGenerateContent", "countTokens"]
EMBED = ["embedContent", "batchEmbedContents"]


def api_of(request: Request) -> Api:
    if request.url.path.startswith("/v1beta/") or "x-goog-api-key" in request.headers \
            or "key" in request.query_params:
        return "gemini"
    if "anthropic-version" in request.headers:
        return "anthropic"
    return "openai"


def names(config: Config, key: ApiKey | None = None) -> list[str]:
    """Routes first (`auto` leading), then the pools, then the configured models; those `key` may ask for."""
    every = ["auto", *(r for r in config.routes if r != "auto"), *config.pools, *config.deployments]
    return every if key is None else [n for n in every if allowed(config, key, n)]


def allowed(config: Config, key: ApiKey, name: str) -> bool:
    """What the planner lets `key` ask for (gateway.routing.plan): the name itself, or a route
    or pool that may land on a model the key may use (a pool the key names allows its members)."""
    if not key.allowed_models or name in key.allowed_models:
        return True
    if name == "auto" and config.default_route in key.allowed_models:
        return True
    may = key.allowed_models.union(*(config.pools[p].members for p in key.allowed_models if p in config.pools))
    if name in config.deployments:
        return name in may
    return any(d.name in may for d in deployments_of(config, name))


def _gemini_model(name: str, deps: tuple[Deployment, ...], route: bool) -> dict[str, Any]:
    embedding = bool(deps) and all(d.kind == "embedding" for d in deps)
    doc: dict[str, Any] = {"name": f"models/{name}", "version": "gateway", "displayName": name,
                           "description": "a route of the gateway" if route else f"on {deps[0].provider.name}",
                           "supportedGenerationMethods": EMBED if embedding else GENERATE}
    if deps:  # what every deployment it may land on takes
        doc["inputTokenLimit"] = min(d.context_window for d in deps)
        doc["outputTokenLimit"] = min(d.max_output_tokens for d in deps)
    return doc


def _entry(config: Config, api: Api, started: float, name: str) -> dict[str, Any]:
    """One route, pool or model as its API describes a model."""
    if api == "gemini":
        return _gemini_model(name, deployments_of(config, name), name not in config.deployments)
    if api == "anthropic":
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
        return {"type": "model", "id": name, "display_name": name, "created_at": created}
    owner = config.deployments[name].provider.name if name in config.deployments else \
        "gateway-pool" if name in config.pools else "gateway-route"
    return {"id": name, "object": "model", "created": int(started), "owned_by": owner}


def listing(config: Config, api: Api, started: float, key: ApiKey | None = None) -> dict[str, Any]:
    ids = names(config, key)
    data = [_entry(config, api, started, n) for n in ids]
    if api == "gemini":
        return {"models": data}
    if api == "anthropic":
        return {"data": data, "has_more": False, "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None}
    return {"object": "list", "data": data}


def error_response(api: Api, err: GatewayError) -> Response:
    """`err` in the error shape of the client's API."""
    if api == "openai":
        return err.response()
    body = anthropic_error(err) if api == "anthropic" else gemini_error(err)
    return Response(body, err.status, err.headers, media_type="application/json")


async def _authenticated(request: Request, api: Api) -> tuple[Gateway, ApiKey]:
    gw: Gateway = request.app.state.gateway
    headers = dict(request.headers)
    if api == "gemini" and "x-goog-api-key" not in headers and request.query_params.get("key"):
        headers["x-goog-api-key"] = request.query_params["key"]
    return gw, await gw.keyring.authenticate(headers, api)


async def list_models(request: Request) -> Response:
    api = api_of(request)
    try:
        gw, key = await _authenticated(request, api)
    except GatewayError as err:
        return error_response(api, err)
    return Response(orjson.dumps(listing(gw.config, api, gw.started, key)), media_type="application/json")


async def get_model(request: Request) -> Response:
    """`GET /v1/models/{model}` (`client.models.retrieve` / `models.get` of each SDK): one entry of
    the listing, or a 404 in the asking API's shape. A GET of a Gemini call path is a 405."""
    name: str = request.path_params["model"].removeprefix("models/")
    if ":" in name:  # a Gemini call ({model}:{method}) asked with another method than its POST
        raise HTTPException(405, headers={"Allow": "POST"})
    if request.method not in ("GET", "HEAD"):
        raise HTTPException(405, headers={"Allow": "GET, HEAD"})
    api = api_of(request)
    try:
        gw, key = await _authenticated(request, api)
        if name not in gw.config.deployments and name not in gw.config.routes and name not in gw.config.pools \
                and name != "auto":
            raise model_not_found(name)
        if not allowed(gw.config, key, name):  # as a request for it would be answered
            raise forbidden(f"This API key may not use {shown(name)}.")
    except GatewayError as err:
        return error_response(api, err)
    return Response(orjson.dumps(_entry(gw.config, api, gw.started, name)), media_type="application/json")
