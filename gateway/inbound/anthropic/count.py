"""`POST /v1/messages/count_tokens`: the gateway's prompt bound, without an upstream call.

The answer is the same upper bound that admit reserves for the request (gateway.pipeline.tokens,
narrowed to the tokenizer family of the model's deployments): never below what the provider
bills, usually a little above it (docs/cost.md, "Prompt token bound"). It needs a valid key,
costs nothing and takes no rate-limit tokens. A request naming a Files API file is refused (400):
the file is at the provider, so its tokens are not the gateway's to count, and a count without
them would be below what Anthropic bills.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import Config, Deployment
from gateway.edge.asgi import WholeReply, header_map
from gateway.errors import GatewayError, bad_request, model_not_found
from gateway.inbound.anthropic.reply import error_body
from gateway.inbound.anthropic.request import to_canonical
from gateway.pipeline.context import Gateway
from gateway.pipeline.request import parse_json, read_body
from gateway.pipeline.schema import check_depth
from gateway.pipeline.tokens import chat_prompt_bound
from gateway.providers.base import native_only


def deployments_of(config: Config, model: str) -> tuple[Deployment, ...]:
    """Every deployment a request for `model` (a concrete model, a pool or a route) may land on."""
    if model in config.deployments:
        return (config.deployments[model],)
    if model in config.pools:
        return tuple(config.deployments[m] for m in config.pools[model].members)
    route = config.routes.get(config.default_route if model == "auto" else model)
    if route is None:
        raise model_not_found(model)
    names = {name for chain in (route.default, *route.tasks.values()) for name in chain.models}
    return tuple(config.deployments[n] for n in sorted(names) if n in config.deployments)


async def count_tokens(request: Request) -> Any:
    gw: Gateway = request.app.state.gateway
    headers = header_map(request)
    try:
        await gw.keyring.authenticate(headers, "anthropic")  # a runtime key counts tokens too
        server = gw.config.server
        raw = await read_body(request, server.max_body_bytes, server.body_read_timeout_s,
                              headers.get("content-length"))
        body = parse_json(raw)
        check_depth(raw, body)
        if body.get("stream") not in (None, False):  # as Anthropic does: a count is one JSON body
            raise bad_request("stream: Extra inputs are not permitted (count_tokens answers one JSON body).",
                              "stream")
        canonical = to_canonical(body, counting=True)
        if (native_only(canonical) or ("", ""))[1] == "file_id":
            raise bad_request("count_tokens cannot count a Files API file: its tokens are at the provider.", "messages")
        family = gw.families.of(deployments_of(gw.config, canonical["model"]))
        return WholeReply(orjson.dumps({"input_tokens": chat_prompt_bound(canonical, family)}), {})
    except GatewayError as err:
        return Response(error_body(err), err.status, err.headers, media_type="application/json")
