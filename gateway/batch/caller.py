"""Who calls a Files or Batch endpoint: the API key (any header the pipeline accepts), and what
its files and batches are stored under. The key is checked before anything else is said, so a
stranger learns nothing (not even whether batches are on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ApiKey
from gateway.edge.asgi import header_map
from gateway.errors import GatewayError, shown
from gateway.pipeline.context import Gateway
from gateway.pipeline.keyring import owner_of
from gateway.state.batches import BatchState


@dataclass(frozen=True, slots=True)
class Caller:
    gw: Gateway
    key: ApiKey
    owner: str          # `cfg:<name>` / `rt:<id>`: the key a file or batch belongs to
    store: BatchState


async def caller(request: Request) -> Caller:
    gw: Gateway = request.app.state.gateway
    key = await gw.keyring.authenticate(header_map(request), "openai.batch")
    if not gw.config.batch.enabled:
        raise GatewayError(404, "The Batch API is off on this gateway (config: batch.enabled).",
                           "invalid_request_error", "batch_disabled")
    return Caller(gw, key, owner_of(key), BatchState(gw.state))


def not_found(kind: str, ident: str) -> GatewayError:
    """Unknown and another key's look the same: 404 in OpenAI's words."""
    return GatewayError(404, f"No such {kind} object: {shown(ident, 80)}", "invalid_request_error", "not_found", "id")


def json_response(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")
