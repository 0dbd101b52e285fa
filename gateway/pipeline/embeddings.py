"""POST /v1/embeddings: routed like chat (its own route; `auto` means the embedding route), with the
same rate limits, budget reservation, breakers and fallbacks. Cost is input tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ApiKey, Deployment
from gateway.edge.asgi import WholeReply, header_map
from gateway.errors import GatewayError, bad_request
from gateway.observe.tracing import begin as begin_trace
from gateway.pipeline.admit import WorstCase
from gateway.pipeline.context import Gateway
from gateway.pipeline.fallback import serve
from gateway.pipeline.opening import open_attempt
from gateway.pipeline.record import Call
from gateway.pipeline.request import parse_json, read_body
from gateway.pipeline.tokens import embeddings_input_bound
from gateway.pricing import cost_micro
from gateway.providers import UpstreamError, adapter_for

MAX_INPUTS = 2048


def _openai_error(err: GatewayError) -> bytes:
    return orjson.dumps(err.body())


@dataclass(frozen=True, slots=True)
class EmbeddingsApi:
    """A client API that asks for embeddings (OpenAI's, Gemini's embedContent): its raw body → the
    canonical (OpenAI embeddings) body, the canonical answer → its body, and its error body."""

    name: str
    parse: Callable[[bytes], dict[str, Any]]
    render: Callable[[dict[str, Any]], bytes]
    error_body: Callable[[GatewayError], bytes]


OPENAI = EmbeddingsApi("openai.embeddings", parse_json, orjson.dumps, _openai_error)


def _input_size(value: Any) -> tuple[int, int, int]:
    """(characters, tokens given as ids, characters of the longest input, a token id counted as
    four) of a valid `input`; a 400 otherwise. Each input is embedded on its own, so the longest
    one is what must fit a model's context window."""
    if isinstance(value, str):
        if not value:
            raise bad_request("'input' must not be empty.", "input")
        return len(value), 0, len(value)
    if isinstance(value, list) and value:
        if len(value) > MAX_INPUTS:
            raise bad_request(f"'input' may hold at most {MAX_INPUTS} items.", "input")
        if all(isinstance(v, str) and v for v in value):
            return sum(len(v) for v in value), 0, max(len(v) for v in value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return 0, len(value), 4 * len(value)
        if all(isinstance(v, list) and v and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
               for v in value):
            return 0, sum(len(v) for v in value), 4 * max(len(v) for v in value)
    raise bad_request("'input' must be a non-empty string, a list of non-empty strings, or token arrays.", "input")


async def embeddings(request: Request, api: EmbeddingsApi = OPENAI, headers: dict[str, str] | None = None,
                     key: ApiKey | None = None) -> Response:
    """`key`: the caller is already known (a batch line runs as its batch's owner, in process)."""
    gw: Gateway = request.app.state.gateway
    if headers is None:
        headers = header_map(request)
    call = Call.start(headers.get("x-request-id"))
    call.api = api.name
    if gw.tracer is not None or "traceparent" in headers:
        begin_trace(call, gw.tracer, headers, request.scope["path"])
    try:
        if key is None:
            key = await gw.keyring.authenticate(headers, api.name)
        call.authenticated(key)
        server = gw.config.server
        body = api.parse(await read_body(request, server.max_body_bytes, server.body_read_timeout_s,
                                         headers.get("content-length")))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("'model' is required: an embedding model, a route, or 'auto'.", "model")
        if body.get("stream") not in (None, False):  # an SSE reader could not parse the JSON answer
            raise bad_request("'stream' is not supported on embeddings: the answer is one JSON body.", "stream")
        chars, token_ids, longest = _input_size(body.get("input"))
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise bad_request("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 65536):
            raise bad_request("'dimensions' must be a positive integer.", "dimensions")
        call.model_asked, call.task = model, "embedding"
        if gw.guard is not None:  # the same policies as chat, on the inputs
            gw.guard.apply(call, key, model, body, embedding=True)
        plan = gw.planner.plan(model, key, chars + 4 * token_ids, None, "embedding", 1.0, body.get("user"),
                               kind="embedding", longest_input_chars=longest)
        family = gw.families.of(plan.deployments)
        bound = embeddings_input_bound(body.get("input"), "cl100k" if family == "o200k" else family)
        prompt_tokens = sum(bound) if isinstance(bound, list) else bound
        call.route, call.priority = plan.route, plan.priority
        call.skipped.extend(plan.skipped)

        attempt = EmbeddingsAttempt(gw, call, body, encoding, prompt_tokens, api.render)
        return await serve(gw, call, plan, key, WorstCase(prompt_tokens, 0), attempt)
    except GatewayError as err:
        call.fail(err)
        gw.observer.finish(call)
        return Response(api.error_body(err), err.status, {**err.headers, **call.headers()},
                        media_type="application/json")


class EmbeddingsAttempt:
    """The pipeline's `Attempt` for embeddings: input tokens are the whole cost."""

    def __init__(self, gw: Gateway, call: Call, body: dict[str, Any], encoding: str, prompt_tokens: int,
                 render: Callable[[dict[str, Any]], bytes] = orjson.dumps) -> None:
        self.gw, self.call, self.body, self.encoding, self.prompt_tokens = gw, call, body, encoding, prompt_tokens
        self.render = render

    async def __call__(self, dep: Deployment, attempt_id: str, deadline: float) -> WholeReply | UpstreamError:
        gw, call = self.gw, self.call
        adapter = adapter_for(dep.provider.format)
        if not adapter.capabilities.embeddings:
            return UpstreamError(400, f"{dep.provider.format} has no embeddings endpoint", "invalid_request_error",
                                 "embeddings_unsupported", retryable=False)
        upstream = adapter.embeddings_to_upstream(self.body, dep)
        opened = await open_attempt(gw.upstream, upstream, dep, deadline, call.trace)
        if isinstance(opened, UpstreamError):
            return opened
        data = await gw.upstream.read_body(opened, deadline)
        if isinstance(data, UpstreamError):
            return data
        if opened.status >= 400:
            return adapter.error_from_upstream(opened.status, data, opened.headers)
        try:
            out, usage = adapter.embeddings_from_upstream(data, dep, self.encoding, opened.headers)
        except (ValueError, TypeError, KeyError) as exc:
            return UpstreamError(502, f"malformed upstream response: {exc}", "upstream_error",
                                 "upstream_malformed", retryable=True)
        if not usage.reported:  # Gemini's embedContent reports no token counts (nor, at times, Bedrock)
            usage.prompt_tokens = self.prompt_tokens
            out["usage"] = {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens}
        call.done(usage, cost_micro(usage, dep.price))
        return WholeReply(self.render(out), call.headers(), after=lambda: gw.settle.served(call, dep, attempt_id))
