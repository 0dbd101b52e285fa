"""`:countTokens`: the gateway's prompt bound, without an upstream call, as
`/v1/messages/count_tokens` answers it (gateway.inbound.anthropic.count).

The body is `{"contents": [...]}` (what google-genai sends) or `{"generateContentRequest": {...}}`
(system instruction and tools included). The answer, `{"totalTokens": N}`, is the bound admit
reserves for that prompt on the model's (or route's) deployments: never below what the
provider bills. It needs a valid key, costs nothing and takes no rate-limit tokens. A request
naming a `cachedContent` is refused (400): the cache is in the provider's project, so its tokens
are not the gateway's to count, and a count without them would be below what Gemini bills.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.edge.asgi import WholeReply
from gateway.errors import GatewayError, bad_request
from gateway.inbound.anthropic.count import deployments_of
from gateway.inbound.gemini import fields as f
from gateway.inbound.gemini.reply import error_body
from gateway.inbound.gemini.request import cached_content, to_canonical
from gateway.pipeline.context import Gateway
from gateway.pipeline.request import parse_json, read_body
from gateway.pipeline.schema import check_depth
from gateway.pipeline.tokens import chat_prompt_bound


async def count_tokens(request: Request, model: str, headers: dict[str, str]) -> Any:
    gw: Gateway = request.app.state.gateway
    try:
        await gw.keyring.authenticate(headers, "gemini")
        server = gw.config.server
        raw = await read_body(request, server.max_body_bytes, server.body_read_timeout_s,
                              headers.get("content-length"))
        body = parse_json(raw)
        check_depth(raw, body)
        inner = f.get(body, "generateContentRequest")
        asked = f.obj(inner, "generateContentRequest") if inner is not None else body
        if cached_content(asked):
            raise bad_request("countTokens cannot count a 'cachedContent': the cache's tokens are in the "
                              "provider's project; its usageMetadata.cachedContentTokenCount says them.",
                              "cachedContent")
        canonical, _ = to_canonical(asked, model)
        family = gw.families.of(deployments_of(gw.config, model))
        return WholeReply(orjson.dumps({"totalTokens": chat_prompt_bound(canonical, family)}), {})
    except GatewayError as err:
        return Response(error_body(err), err.status, err.headers, media_type="application/json")
