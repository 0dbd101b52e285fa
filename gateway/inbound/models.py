"""`GET /v1/models` (and the Gemini API's `GET /v1beta/models`): the routes and models a key may
ask for, in the listing shape of the client's own API.

One path serves three SDKs, so the shape follows the headers each SDK sends: `anthropic-version`
(the anthropic SDK, Claude Code) gets Anthropic's page, `x-goog-api-key` or a `key` query
parameter (google-genai, Gemini CLI) Google's, anything else OpenAI's; `/v1beta/models` is
always Google's. An error (a missing or wrong key) comes in the same API's error shape.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import Config, Deployment
from gateway.errors import GatewayError
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


def names(config: Config) -> list[str]:
    """Routes first (`auto` leading), then the configured models."""
    return ["auto", *(r for r in config.routes if r != "auto"), *config.deployments]


def _gemini_model(name: str, deps: tuple[Deployment, ...], route: bool) -> dict[str, Any]:
    embedding = bool(deps) and all(d.kind == "embedding" for d in deps)
    doc: dict[str, Any] = {"name": f"models/{name}", "version": "gateway", "displayName": name,
                           "description": "a route of the gateway" if route else f"on {deps[0].provider.name}",
                           "supportedGenerationMethods": EMBED if embedding else GENERATE}
    if deps:  # what every deployment it may land on takes
        doc["inputTokenLimit"] = min(d.context_window for d in deps)
        doc["outputTokenLimit"] = min(d.max_output_tokens for d in deps)
    return doc


def listing(config: Config, api: Api, started: float) -> dict[str, Any]:
    ids = names(config)
    if api == "gemini":
        return {"models": [_gemini_model(n, deployments_of(config, n), n not in config.deployments) for n in ids]}
    owner = {n: ("gateway-route" if n not in config.deployments else config.deployments[n].provider.name) for n in ids}
    if api == "anthropic":
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
        return {"data": [{"type": "model", "id": n, "display_name": n, "created_at": created} for n in ids],
                "has_more": False, "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
    return {"object": "list", "data": [{"id": n, "object": "model", "created": int(started), "owned_by": owner[n]}
                                       for n in ids]}


async def list_models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    api = api_of(request)
    headers = dict(request.headers)
    if api == "gemini" and "x-goog-api-key" not in headers and request.query_params.get("key"):
        headers["x-goog-api-key"] = request.query_params["key"]
    try:
        await gw.keyring.authenticate(headers)
    except GatewayError as err:
        if api == "openai":
            raise  # the app's handler answers in OpenAI's shape
        body = anthropic_error(err) if api == "anthropic" else gemini_error(err)
        return Response(body, err.status, err.headers, media_type="application/json")
    return Response(orjson.dumps(listing(gw.config, api, gw.started)), media_type="application/json")
