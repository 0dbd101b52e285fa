"""POST /v1/audio/transcriptions, /v1/audio/translations, /v1/audio/speech, /v1/images/generations
and /v1/moderations: the embeddings skeleton (auth, body under the cap, plan, admit, call with
fallbacks, settle) around a `MediaAsk` (gateway/pipeline/media_asks.py).

The client names a model, a route or a pool of its kind; `auto` (and, on moderations, no model)
means the route named for the kind (`transcriptions`, `speech`, `images`, `moderations`). Admit
reserves the ask's worst case in money; settle charges what the answer says it cost. Speech is
relayed as its bytes arrive, after the first (so a provider failing before it still falls over).
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import MEDIA_ROUTES, Deployment
from gateway.edge.asgi import EventStream, StreamCut, WholeReply, header_map
from gateway.errors import GatewayError, bad_request
from gateway.net.deadlines import within
from gateway.net.upstream import Opened
from gateway.observe.tracing import begin as begin_trace
from gateway.pipeline.admit import WorstCase
from gateway.pipeline.context import Gateway
from gateway.pipeline.fallback import serve
from gateway.pipeline.media_asks import MediaAsk, image_ask, moderation_ask, speech_ask, transcription_ask
from gateway.pipeline.opening import open_attempt
from gateway.pipeline.record import Call
from gateway.pipeline.request import read_body
from gateway.pricing import estimate_tokens
from gateway.providers import UpstreamError
from gateway.providers.media import media_error

Handler = Callable[[Request], Awaitable[Any]]


class MediaWorst(WorstCase):
    """A media request's worst case: its text's tokens for the token limits, and the ask's own
    price for the money (not tokens at per-million prices)."""

    __slots__ = ("ask",)

    def __init__(self, ask: MediaAsk) -> None:
        super().__init__(estimate_tokens(ask.text_chars) if ask.text_chars else 0, 0)
        self.ask = ask

    def cost_micro(self, dep: Deployment) -> int:
        return self.ask.worst_micro(dep)


def _route(gw: Gateway, ask: MediaAsk) -> str:
    """The model to plan: `auto` is the kind's route, which must exist."""
    if ask.model != "auto":
        return ask.model
    route = MEDIA_ROUTES[ask.kind]
    if route not in gw.config.routes:
        raise GatewayError(404, f"'auto' on this endpoint means the route '{route}', and the gateway has none: "
                                f"name a {ask.kind} model.", "invalid_request_error", "model_not_found", "model")
    return route


def media_endpoint(read: Callable[[dict[str, str], bytes], MediaAsk], api: str) -> Handler:
    """The handler of one media endpoint; `read` turns its headers and body into a `MediaAsk`."""

    async def endpoint(request: Request) -> Response | WholeReply | EventStream:
        gw: Gateway = request.app.state.gateway
        headers = header_map(request)
        call = Call.start(headers.get("x-request-id"))
        call.api = api
        if gw.tracer is not None or "traceparent" in headers:
            begin_trace(call, gw.tracer, headers, request.scope["path"])
        try:
            key = await gw.keyring.authenticate(headers, api)
            call.authenticated(key)
            server = gw.config.server
            raw = await read_body(request, server.max_body_bytes, server.body_read_timeout_s,
                                  headers.get("content-length"))
            ask = read(headers, raw)
            call.model_asked, call.task, call.stream = ask.model, ask.kind, ask.stream
            model = _route(gw, ask)
            if gw.guard is not None and ask.guarded is not None:  # the text a generator is sent
                gw.guard.apply(call, key, model, ask.guarded, embedding=True)
            plan = gw.planner.plan(model, key, ask.text_chars, None, "", 1.0, ask.user, kind=ask.kind)
            call.route, call.priority = plan.route, plan.priority
            call.skipped.extend(plan.skipped)
            return await serve(gw, call, plan, key, MediaWorst(ask), MediaAttempt(gw, call, ask))
        except GatewayError as err:
            call.fail(err)
            gw.observer.finish(call)
            return Response(orjson.dumps(err.body()), err.status, {**err.headers, **call.headers()},
                            media_type="application/json")

    return endpoint


class MediaAttempt:
    """The pipeline's `Attempt` for a media request on one deployment."""

    def __init__(self, gw: Gateway, call: Call, ask: MediaAsk) -> None:
        self.gw, self.call, self.ask = gw, call, ask

    async def __call__(self, dep: Deployment, attempt_id: str, deadline: float) -> WholeReply | EventStream | UpstreamError:
        gw, call, ask = self.gw, self.call, self.ask
        upstream = ask.build(dep)
        opened = await open_attempt(gw.upstream, upstream, dep, deadline, call.trace)
        if isinstance(opened, UpstreamError):
            return opened
        if opened.status >= 400:
            data = await gw.upstream.read_body(opened, deadline, 1 << 20)
            if isinstance(data, UpstreamError):
                return data
            return media_error(opened.status, data, opened.headers)
        head = ((b"content-type", opened.headers.get("content-type", "application/json").encode("latin-1")),)
        if ask.stream:
            return await self._relay(dep, attempt_id, opened, deadline, head)
        data = await gw.upstream.read_body(opened, deadline)
        if isinstance(data, UpstreamError):
            return data
        try:
            usage, cost = ask.charge(dep, data)
        except (ValueError, TypeError, KeyError) as exc:
            return UpstreamError(502, f"malformed upstream response: {exc}", "upstream_error", "upstream_malformed",
                                 retryable=True)
        call.done(usage, cost)
        return WholeReply(data, call.headers(), head=head, after=lambda: gw.settle.served(call, dep, attempt_id))

    async def _relay(self, dep: Deployment, attempt_id: str, opened: Opened, deadline: float,
                     head: tuple[tuple[bytes, bytes], ...]) -> EventStream | UpstreamError:
        """The answer's bytes as they arrive, once the first has (before it, a failure falls over).
        Its cost is known already (characters spoken), so the headers carry it."""
        chunks = opened.chunks()
        try:
            with within(max(0.001, min(dep.provider.timeouts.first_byte_s, deadline - time.monotonic()))):
                first = await anext(chunks, None)
        except (OSError, TimeoutError, Exception) as exc:  # noqa: B902 - a timeout is one of them
            opened.close()
            timeout = isinstance(exc, TimeoutError)
            return UpstreamError(504 if timeout else 502, f"the answer failed before its first byte: "
                                 f"{type(exc).__name__}", "upstream_error",
                                 "upstream_timeout" if timeout else "upstream_stream_error", retryable=True)
        if first is None:
            opened.release()
            return UpstreamError(502, "the provider's answer was empty", "upstream_error", "upstream_stream_empty",
                                 retryable=True)
        self.call.first_token()
        usage, cost = self.ask.charge(dep, b"")
        self.call.done(usage, cost)
        return EventStream(self._rest(dep, attempt_id, opened, chunks, first), self.call.headers(), cut=None,
                           head=head)

    async def _rest(self, dep: Deployment, attempt_id: str, opened: Opened, chunks: AsyncIterator[bytes],
                    first: bytes) -> AsyncIterator[bytes]:
        call, ended = self.call, False
        try:
            yield first
            async for chunk in chunks:
                yield chunk
            ended = True
        except (OSError, TimeoutError, Exception) as exc:  # noqa: B902 - each one cuts the answer short
            call.stream_error("upstream_timeout" if isinstance(exc, TimeoutError) else "upstream_stream_error")
            call.outcome = "failure"
            raise StreamCut() from None
        finally:
            if ended:
                opened.release()
            else:
                opened.close()
                if call.error is None:
                    call.stream_error("client_disconnected")
                    call.outcome = "neutral"
            self.gw.settle.spawn_served(call, dep, attempt_id)


def _transcription(operation: str) -> Callable[[dict[str, str], bytes], MediaAsk]:
    def read(headers: dict[str, str], raw: bytes) -> MediaAsk:
        return transcription_ask(operation, headers.get("content-type"), raw)

    return read


def _json(read: Callable[[bytes], MediaAsk]) -> Callable[[dict[str, str], bytes], MediaAsk]:
    def checked(headers: dict[str, str], raw: bytes) -> MediaAsk:
        if headers.get("content-type", "application/json").split(";", 1)[0].strip().lower().startswith("multipart/"):
            raise bad_request("This endpoint takes a JSON body.", code="unsupported_content_type")
        return read(raw)

    return checked


transcriptions = media_endpoint(_transcription("audio/transcriptions"), "openai.audio.transcriptions")
translations = media_endpoint(_transcription("audio/translations"), "openai.audio.translations")
speech = media_endpoint(_json(speech_ask), "openai.audio.speech")
images = media_endpoint(_json(image_ask), "openai.images.generations")
moderations = media_endpoint(_json(moderation_ask), "openai.moderations")

ROUTES = {"/v1/audio/transcriptions": transcriptions, "/v1/audio/translations": translations,
          "/v1/audio/speech": speech, "/v1/images/generations": images, "/v1/moderations": moderations}
