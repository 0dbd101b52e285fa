"""The simulator's Starlette app: provider routes plus the `/_sim` control API.

Control endpoints need no auth but answer only loopback clients, so a simulator
left listening on a shared interface cannot be reconfigured from outside.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import (anthropic_format, bedrock_format, bedrock_invoke, gemini_format, media_format, openai_format,
               responses_format, vertex_format)
from .knobs import KnobError, SimSettings, knobs_to_json
from .recorder import Recording
from .state import SimState
from .wire import json_response

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost", "testclient"}
DEFAULT_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "text-embedding-3-small",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "text-embedding-004",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
]

Handler = Callable[[Request], Awaitable[Response]]


def _control(state: SimState, fn: Callable[[Request, SimState], Awaitable[Response]]) -> Handler:
    async def handler(request: Request) -> Response:
        host = request.client.host if request.client else ""
        if state.settings.control_loopback_only and host not in LOOPBACK:
            return json_response({"error": "the control API answers loopback clients only"}, 403)
        return await fn(request, state)

    return handler


class TraceHeaders:
    """Keeps the W3C `traceparent` (and `tracestate`) of the last provider calls, for
    `/_sim/stats`: what a provider or proxy that traces would take as its caller's span."""

    def __init__(self, app: Any, state: SimState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sim"):
            seen = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                    if k in (b"traceparent", b"tracestate")}
            if seen:
                self.state.traceparents.append({"path": scope["path"], **seen})
        await self.app(scope, receive, send)


async def put_model(request: Request, state: SimState) -> Response:
    model = request.path_params["model"]
    try:
        body = await request.json()
        knobs = state.knobs.update(model, body)
    except (KnobError, ValueError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response({"model": model, "knobs": knobs_to_json(knobs)})


async def get_model(request: Request, state: SimState) -> Response:
    model = request.path_params["model"]
    return json_response({"model": model, "knobs": knobs_to_json(state.knobs.get(model))})


async def delete_model(request: Request, state: SimState) -> Response:
    model = request.path_params["model"]
    state.knobs.reset(model)
    return json_response({"model": model, "knobs": knobs_to_json(state.knobs.get(model))})


async def reset(request: Request, state: SimState) -> Response:
    state.reset()
    return json_response({"ok": True})


async def stats(request: Request, state: SimState) -> Response:
    return json_response(state.stats())


async def requests(request: Request, state: SimState) -> Response:
    """The last provider calls' bodies (`?last=N`, oldest first), as they arrived."""
    try:
        last = int(request.query_params.get("last", "50"))
    except ValueError:
        return json_response({"error": "last must be an integer"}, 400)
    return json_response({"requests": state.received.listing(last)})


def create_app(settings: SimSettings | None = None) -> Starlette:
    """Build a simulator app; `app.state.sim` is its SimState (for in-process tests)."""
    state = SimState(settings or SimSettings())

    def names() -> list[str]:
        return sorted(set(DEFAULT_MODELS) | set(state.knobs.configured_models()))

    async def chat(request: Request) -> Response:
        return await openai_format.chat(request, state)

    async def responses(request: Request) -> Response:
        return await responses_format.responses(request, state)

    async def embeddings(request: Request) -> Response:
        return await openai_format.embeddings(request, state)

    async def azure_chat(request: Request) -> Response:
        return await openai_format.chat(request, state, request.path_params["deployment"])

    async def azure_embeddings(request: Request) -> Response:
        return await openai_format.embeddings(request, state, request.path_params["deployment"])

    def azure(fn: Callable[..., Awaitable[Response]], **extra: Any) -> Handler:
        async def handler(request: Request) -> Response:
            return await fn(request, state, request.path_params["deployment"], **extra)
        return handler

    def openai(fn: Callable[..., Awaitable[Response]], **extra: Any) -> Handler:
        async def handler(request: Request) -> Response:
            return await fn(request, state, **extra)
        return handler

    async def list_models(request: Request) -> Response:
        if "anthropic-version" in request.headers:
            return anthropic_format.models_list(request, names())
        return openai_format.models_list(request, names())

    async def azure_models(request: Request) -> Response:
        return openai_format.models_list(request, names(), azure=True)

    async def messages(request: Request) -> Response:
        return await anthropic_format.messages(request, state)

    async def gemini(request: Request) -> Response:
        return await gemini_format.dispatch(request, state)

    async def gemini_models(request: Request) -> Response:
        return gemini_format.models_list(request, names())

    async def gemini_cache(request: Request) -> Response:
        return await gemini_format.create_cache(request, state)

    async def converse(request: Request) -> Response:
        return await bedrock_format.converse(request, state, stream=False)

    async def converse_stream(request: Request) -> Response:
        return await bedrock_format.converse(request, state, stream=True)

    async def list_async_invokes(request: Request) -> Response:
        return await bedrock_format.list_async_invokes(request)

    async def invoke(request: Request) -> Response:
        return await bedrock_invoke.invoke(request, state, stream=False)

    async def invoke_stream(request: Request) -> Response:
        return await bedrock_invoke.invoke(request, state, stream=True)
    vertex_auth = vertex_format.VertexAuth()

    async def vertex(request: Request) -> Response:
        return await vertex_format.dispatch(request, state, vertex_auth)

    async def vertex_endpoints(request: Request) -> Response:
        return vertex_format.list_endpoints(request, vertex_auth)

    async def gce_metadata(request: Request) -> Response:
        return vertex_format.metadata(request, vertex_auth)

    async def oauth_token(request: Request) -> Response:
        return await vertex_format.token(request, vertex_auth)

    async def put_vertex(request: Request, state: SimState) -> Response:
        try:
            vertex_auth.configure(await request.json())
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(vertex_auth.describe())

    async def get_vertex(request: Request, state: SimState) -> Response:
        return json_response(vertex_auth.describe())

    async def health(request: Request) -> Response:
        return json_response({"ok": True})

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/openai/models", azure_models, methods=["GET"]),
        Route("/openai/deployments/{deployment}/chat/completions", azure_chat, methods=["POST"]),
        Route("/openai/deployments/{deployment}/embeddings", azure_embeddings, methods=["POST"]),
        Route("/v1/audio/transcriptions", openai(media_format.transcription), methods=["POST"]),
        Route("/v1/audio/translations", openai(media_format.transcription, translate=True), methods=["POST"]),
        Route("/v1/audio/speech", openai(media_format.speech), methods=["POST"]),
        Route("/v1/images/generations", openai(media_format.images), methods=["POST"]),
        Route("/v1/moderations", openai(media_format.moderations), methods=["POST"]),
        Route("/openai/deployments/{deployment}/audio/transcriptions", azure(media_format.transcription),
              methods=["POST"]),
        Route("/openai/deployments/{deployment}/audio/translations",
              azure(media_format.transcription, translate=True), methods=["POST"]),
        Route("/openai/deployments/{deployment}/audio/speech", azure(media_format.speech), methods=["POST"]),
        Route("/openai/deployments/{deployment}/images/generations", azure(media_format.images), methods=["POST"]),
        Route("/_sim/images/{name}.png", media_format.image_file, methods=["GET"]),
        Route("/v1beta/models", gemini_models, methods=["GET"]),
        Route("/v1beta/cachedContents", gemini_cache, methods=["POST"]),
        Route("/v1/cachedContents", gemini_cache, methods=["POST"]),
        Route("/v1beta/models/{target:path}", gemini, methods=["POST"]),
        Route("/v1/models/{target:path}", gemini, methods=["POST"]),
        Route("/model/{model:path}/converse", converse, methods=["POST"]),
        Route("/model/{model:path}/converse-stream", converse_stream, methods=["POST"]),
        Route("/async-invoke", list_async_invokes, methods=["GET"]),
        Route("/model/{model:path}/invoke", invoke, methods=["POST"]),
        Route("/model/{model:path}/invoke-with-response-stream", invoke_stream, methods=["POST"]),
        Route("/v1/projects/{rest:path}", vertex, methods=["POST"]),
        Route("/v1/projects/{rest:path}", vertex_endpoints, methods=["GET"]),
        Route("/v1beta1/projects/{rest:path}", vertex, methods=["POST"]),
        Route("/token", oauth_token, methods=["POST"]),
        Route("/computeMetadata/v1/{rest:path}", gce_metadata, methods=["GET"]),
        Route("/_sim/vertex", _control(state, put_vertex), methods=["PUT"]),
        Route("/_sim/vertex", _control(state, get_vertex), methods=["GET"]),
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/stats", _control(state, stats), methods=["GET"]),
        Route("/_sim/reset", _control(state, reset), methods=["POST"]),
        Route("/_sim/requests", _control(state, requests), methods=["GET"]),
        Route("/_sim/models/{model:path}", _control(state, put_model), methods=["PUT"]),
        Route("/_sim/models/{model:path}", _control(state, get_model), methods=["GET"]),
        Route("/_sim/models/{model:path}", _control(state, delete_model), methods=["DELETE"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(TraceHeaders, state=state)])
    app.state.sim = state
    app.add_middleware(Recording, received=state.received)
    return app

