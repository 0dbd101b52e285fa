"""The chat pipeline, top to bottom, for every client API that asks for a chat answer.

    1 auth → 2 read + parse (the inbound translator) → (guardrails, when a policy applies: redact or
    refuse the prompt) → 3 classify → 4 plan → (the response cache,
    when on: one round trip, a hit answered at once) → 5 admit (one Redis round trip) → 6 call
    upstream, falling back along the chain → 7 respond → 8 settle (one round trip, after the
    response) → 9 log + metrics

Settle never sits on the client's critical path: it runs once the body is sent or the stream has
ended. An unsettled reservation is safe meanwhile, being the worst case.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway.config import TASKS, ApiKey
from gateway.edge.asgi import header_map
from gateway.errors import GatewayError
from gateway.inbound.base import Inbound
from gateway.observe.tracing import begin as begin_trace
from gateway.pipeline import cache
from gateway.pipeline.cache_reply import cached_answer
from gateway.pipeline.admit import WorstCase
from gateway.pipeline.context import Gateway
from gateway.pipeline.fallback import Answer, serve
from gateway.pipeline.record import Call
from gateway.pipeline.relay import ChatAttempt
from gateway.pipeline.request import check_header_task, read_body
from gateway.pipeline.searches import declared_searches
from gateway.pipeline.tokens import chat_prompt_bound
from gateway.providers.base import NATIVE, native_only
from gateway.routing.needs import NO_NEEDS, request_needs

Handler = Callable[..., Awaitable[Answer]]


def chat_endpoint(inbound: Inbound) -> Handler:
    """The handler of one client API: the same nine steps, the client's own formats. An API whose
    request is also in its path (Gemini: the model, the method) passes a translator made for
    the request, and the headers it has read (a key given as a query parameter)."""
    default_recall = getattr(inbound, "recall", None)  # inbound.base.Remembers

    async def handle(request: Request, inbound: Inbound = inbound, headers: dict[str, str] | None = None,
                     key: ApiKey | None = None) -> Answer:
        """`key`: the caller is already known (a batch line runs as its batch's owner, in process)."""
        gw: Gateway = request.app.state.gateway
        if headers is None:
            headers = header_map(request)
            recall = default_recall
        else:
            recall = getattr(inbound, "recall", None)
        call = Call.start(headers.get("x-request-id"))
        call.api = inbound.name
        if gw.tracer is not None or "traceparent" in headers:
            begin_trace(call, gw.tracer, headers, request.scope["path"])
        try:
            if key is None:
                key = await gw.keyring.authenticate(headers, inbound.name)                       # 1
            call.authenticated(key)
            server = gw.config.server
            chat = inbound.parse(await read_body(request, server.max_body_bytes, server.body_read_timeout_s,  # 2
                                                 headers.get("content-length")), headers)
            call.model_asked, call.stream = chat.model, chat.stream
            if recall is not None:
                await recall(gw, key.name, chat)
            if gw.guard is not None:  # 2½: redact (or refuse) before anything reads the prompt
                gw.guard.apply(call, key, chat.model, chat.body)
            forced = check_header_task(headers.get("x-gateway-task"), TASKS) or key.default_task
            task, confidence = classify(gw, chat.messages, forced)                                    # 3
            plan = gw.planner.plan(chat.model, key, chat.prompt_chars, chat.max_tokens, task, confidence,  # 4
                                   chat.user, only=native_only(chat.body) if NATIVE in chat.body else None,
                                   needs=request_needs(chat.body) if gw.planner.checks_needs else NO_NEEDS,
                                   conversation=chat.messages)
            call.planned(plan)
            want = cache.intent(gw.config.cache, headers, chat, key)
            if want is not None and (entry := await gw.cache.lookup(call, want)) is not None:   # a hit: no 5-8
                return await cached_answer(gw, call, entry, chat, inbound)
            chat.prompt_tokens = chat_prompt_bound(chat.body, gw.families.of(plan.deployments))
            worst = WorstCase(chat.prompt_tokens, chat.max_tokens or server.default_max_output_tokens, chat.n,
                              declared_searches(chat.body))
            return await serve(gw, call, plan, key, worst, ChatAttempt(gw, call, chat, inbound, want))     # 5-8
        except GatewayError as err:
            call.fail(err)
            gw.observer.finish(call)                                                              # 9
            return Response(inbound.error_body(err), err.status, {**err.headers, **call.headers()},
                            media_type="application/json")

    return handle


def classify(gw: Gateway, messages: list[dict[str, Any]], forced: str | None) -> tuple[str, float]:
    """The task and the classifier's confidence; a task forced by header or key is certain."""
    if forced:
        return forced, 1.0
    result = gw.classifier(messages)
    return result.task, result.confidence
