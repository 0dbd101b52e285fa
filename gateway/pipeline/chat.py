"""The request pipeline for POST /v1/chat/completions, top to bottom.

    1 auth → 2 read + parse → 3 classify → 4 plan → 5 admit (one Redis round trip)
    → 6 call upstream, falling back along the chain → 7 respond → 8 settle (one round trip,
    after the response) → 9 log + metrics

Settle never sits on the client's critical path: it runs once the body is sent or the stream has
ended. An unsettled reservation is safe meanwhile, being the worst case.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.edge.asgi import EVENT_STREAM, EventStream, WholeReply, header_map
from gateway.pipeline.record import Call
from gateway.pipeline.request import ChatRequest, check_header_task, parse_chat, read_body
from gateway.config import TASKS, ApiKey, Deployment
from gateway.net.deadlines import Deadlines
from gateway.errors import GatewayError, rate_limited, sse_error, upstream_failed
from gateway.pipeline.failures import client_error, judge, same_fault_twice
from gateway.routing.plan import Plan
from gateway.pricing import Usage, cost_micro, max_cost_micro
from gateway.providers import UpstreamError, adapter_for
from gateway.providers.openai import StreamError
from gateway.pipeline.context import Gateway
from gateway.net.sse import SSEParser
from gateway.pipeline.tokens import chat_prompt_bound
from gateway.state.types import PRIORITY_LEVELS, AdmitRequest, Admission, Candidate

DONE = b"data: [DONE]\n\n"


async def chat_completions(request: Request) -> Answer:
    gw: Gateway = request.app.state.gateway
    headers = header_map(request)
    call = Call.start(headers.get("x-request-id"))
    try:
        key = gw.auth.authenticate(headers.get("authorization"))          # 1 auth
        call.key = key.name
        server = gw.config.server
        chat = parse_chat(await read_body(request, server.max_body_bytes, server.body_read_timeout_s,  # 2 parse
                                          headers.get("content-length")))
        call.model_asked, call.stream = chat.model, chat.stream
        forced = check_header_task(headers.get("x-gateway-task"), TASKS) or key.default_task
        task, confidence = gw.classify(chat.messages, forced)                      # 3 classify
        plan = gw.planner.plan(chat.model, key, chat.prompt_chars, chat.max_tokens,    # 4 plan
                               task, confidence, chat.user)
        call.route, call.task, call.confidence = plan.route, plan.task, plan.confidence
        call.priority, call.experiment, call.task_policy = plan.priority, plan.experiment, plan.task_policy
        call.skipped.extend(plan.skipped)
        max_out = chat.max_tokens or gw.config.server.default_max_output_tokens
        chat.prompt_tokens = chat_prompt_bound(chat.body, gw.token_family(plan.deployments))
        return await serve(gw, call, plan, key, chat.prompt_tokens, max_out,
                           lambda dep, attempt_id, deadline: _attempt(gw, call, chat, dep, attempt_id, deadline),
                           chat.n)
    except GatewayError as err:
        call.fail(err)
        gw.finish(call)
        return err.response(call.headers())


Answer = Response | WholeReply | EventStream
Attempt = Callable[[Deployment, str, float], Awaitable["Answer | UpstreamError"]]


async def serve(gw: Gateway, call: Call, plan: Plan, key: ApiKey, prompt_tokens: int, max_out: int,
                attempt: Attempt, n: int = 1) -> Answer:
    """Admit, call, fall back: the loop shared by chat completions and embeddings.

    Admit reserves the worst case: the prompt bound plus `n` x the output allowance `max_out`
    (capped by each model's own limit), in money and in tokens. On a failure that says so
    (`failures.judge`) the next candidate is tried at once; when the whole chain has failed it
    is retried after a jittered backoff that honours Retry-After. The attempt budget bounds the
    upstream calls of the request across the chain, and its deadline bounds its time.
    """
    server = gw.config.server
    deadline = time.monotonic() + server.request_timeout_s
    candidates = list(plan.deployments)
    failed: list[Deployment] = []
    last: UpstreamError | None = None
    refused: GatewayError | None = None  # a candidate's adapter could not express the request
    last_dep: Deployment | None = None
    seen_5xx: dict[int, str] = {}
    attempts = 0  # upstream calls made
    admits = 0    # every admit has its own id: a repeated id would get the stored decision back
    while attempts < server.attempt_budget:
        if not candidates and not failed:
            break
        if not candidates:
            # The whole chain failed once: retry it after a jittered backoff that honours Retry-After.
            wait = min(2.0, 0.1 * 2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
            if last is not None and last.retry_after_s:
                wait = max(wait, last.retry_after_s)
            if time.monotonic() + wait >= deadline:
                break
            await asyncio.sleep(wait)
            candidates, failed = failed, []
        attempt_id = f"{call.state_id}.{admits}"
        admits += 1
        admission = await gw.state.admit(_admit_request(gw, key, plan, attempt_id, prompt_tokens,  # 5 admit
                                                        max_out, n, candidates), key.daily_budget_micro > 0)
        call.note_admission(admission)
        gw.observe_admission(admission)
        if not admission.ok:
            if last is None and refused is None:
                raise _refusal(admission, gw, plan)
            break
        dep = candidates[admission.index]
        attempts += 1
        call.attempt(dep, admission)
        try:
            result = await attempt(dep, attempt_id, deadline)                            # 6 call
        except GatewayError as err:  # e.g. n > 1 on Anthropic: no call was made; another may serve it
            await gw.settle_failure(call, dep, attempt_id, "neutral")
            call.skipped.append((dep.name, err.code or "unsupported"))
            candidates.remove(dep)
            attempts -= 1
            refused = err
            continue
        except BaseException:  # cancelled or a bug: release the reservation, then let it through
            gw.spawn_release(call, dep, attempt_id)
            raise
        if not isinstance(result, UpstreamError):
            return result                                                               # 7 respond
        last, last_dep = result, dep
        gw.metrics.upstream_errors.inc((dep.name, str(result.upstream_status or result.code)))
        verdict = judge(result, gw.config.breaker)
        repeated = verdict.fall_back and same_fault_twice(result, seen_5xx, dep.name)
        await gw.settle_failure(call, dep, attempt_id, "neutral" if repeated else verdict.outcome, verdict.hold_ms)
        if verdict.outcome == "disabled":
            gw.provider_rejected(dep, result.upstream_status)
        if not verdict.fall_back:
            raise GatewayError(result.status, f"{dep.provider.name}: {result.message}", result.type, result.code)
        candidates.remove(dep)
        if verdict.outcome == "failure" or verdict.outcome == "throttled":
            failed.append(dep)  # may serve when the chain is retried; a disabled one may not
        if repeated or time.monotonic() >= deadline:
            break
    if last is None:
        if refused is not None:
            raise refused
        raise upstream_failed(503, "No deployment could take the request.", "no_deployment_available")
    status, message, type_, code = client_error(last, last_dep.provider.name if last_dep else "-", attempts,
                                                time.monotonic() >= deadline)
    err = upstream_failed(status, message, code)
    err.type = type_
    if status == 429:  # every provider is rate limiting: tell the client when to come back
        err.headers["retry-after"] = str(max(1, round(last.retry_after_s or 1)))
    raise err


def _admit_request(gw: Gateway, key: ApiKey, plan: Plan, attempt_id: str, prompt_tokens: int, max_out: int,
                   n: int, candidates: list[Deployment]) -> AdmitRequest:
    day = gw.budget_day()
    deps, expected = plan.deployments, plan.expected_cost_micro
    if len(candidates) != len(deps) or any(c is not d for c, d in zip(candidates, deps)):
        # a retry of part of the chain; matched by identity (a Deployment's == compares every field)
        by_id = {id(d): e for d, e in zip(deps, expected)}
        expected = tuple(by_id[id(d)] for d in candidates)
    breaker = gw.breaker_params
    return AdmitRequest(
        req_id=attempt_id, key=key.name, key_rpm=key.rpm, key_tpm=key.tpm,
        key_budget_micro=key.daily_budget_micro, global_budget_micro=gw.config.budget.hard_limit_micro,
        day=day, est_tokens=prompt_tokens + n * max_out,
        candidates=tuple(Candidate(d.name, d.rpm, d.tpm,
                                   max_cost_micro(prompt_tokens, n * min(max_out, d.max_output_tokens), d.price),
                                   breaker, e) for d, e in zip(candidates, expected)),
        reservation_ttl_ms=gw.config.server.reservation_ttl_s * 1000,
        priority=PRIORITY_LEVELS[plan.priority], pace=gw.pace_args(day, plan.priority),
        deadline_us=gw.state.admit_deadline_us(),
    )


def _refusal(admission: Admission, gw: Gateway, plan: Plan) -> GatewayError:
    reason = admission.reason
    gw.metrics.refusals.inc((reason,))
    if reason == "key_rate_limited":
        return rate_limited("Rate limit reached for this API key. Retry after the time in Retry-After.",
                            admission.retry_after_ms)
    if reason == "tokens_exceed_limit":
        err = rate_limited("Request too large: its worst case (the prompt plus n x max_tokens) is more tokens "
                           "than the tokens-per-minute limit allows at once. Lower max_tokens or n.", 60_000,
                           code="tokens_exceed_limit")
        err.headers.pop("retry-after", None)  # waiting does not help
        err.headers.pop("retry-after-ms", None)
        return err
    if reason == "budget_exceeded":
        return rate_limited("Daily budget exhausted for this request: no candidate model fits the remaining "
                            "budget.", admission.retry_after_ms or 60_000, code="budget_exceeded")
    if reason == "deployments_rate_limited":
        return rate_limited(f"Every model of '{plan.route}' is at its rate limit.", admission.retry_after_ms)
    if reason in ("state_unavailable", "expired"):
        err = upstream_failed(503, "The gateway's shared state is unreachable and this request's budget "
                                   "fails closed. Retry shortly.", "state_unavailable")
        err.headers["retry-after"] = str(max(1, -(-admission.retry_after_ms // 1000)))
        return err
    err = upstream_failed(503, f"No healthy model for '{plan.route}': circuit breakers are open.",
                          "no_healthy_deployment")
    err.headers["retry-after"] = str(max(1, -(-admission.retry_after_ms // 1000)))
    return err


async def _attempt(gw: Gateway, call: Call, chat: ChatRequest, dep: Deployment, attempt_id: str,
                   deadline: float) -> Answer | UpstreamError:
    adapter = adapter_for(dep.provider.format)
    body = chat.body
    if chat.max_tokens is None:
        # the output allowance admit reserved for is sent as the cap, so the reservation is a bound
        body = {**body, "max_completion_tokens": min(gw.config.server.default_max_output_tokens,
                                                      dep.max_output_tokens)}
    upstream_req = adapter.to_upstream(body, dep, chat.stream)
    opened = await gw.upstream.open(upstream_req, dep.provider.timeouts, deadline, dep.provider.egress)
    if isinstance(opened, UpstreamError):
        return opened
    if opened.status >= 400:
        data = await gw.upstream.read_body(opened, deadline, 1 << 20)
        if isinstance(data, UpstreamError):
            return data
        return adapter.error_from_upstream(opened.status, data, opened.headers)
    if chat.stream:
        return await _open_stream(gw, call, chat, dep, attempt_id, adapter, opened, deadline)
    data = await gw.upstream.read_body(opened, deadline)
    if isinstance(data, UpstreamError):
        return data
    try:
        body, usage = adapter.from_upstream(data, dep)
    except (ValueError, TypeError, KeyError) as exc:
        return UpstreamError(502, f"malformed upstream response: {exc}", "upstream_error", "upstream_malformed",
                             retryable=True)
    if not usage.reported:
        usage.prompt_tokens = chat.prompt_tokens  # unreported: charged at the bound
    call.done(usage, cost_micro(usage, dep.price))
    return WholeReply(orjson.dumps(body), call.headers(), after=lambda: gw.settle(call, dep, attempt_id))


async def _open_stream(gw: Gateway, call: Call, chat: ChatRequest, dep: Deployment, attempt_id: str, adapter: Any,
                       opened: Any, deadline: float) -> EventStream | WholeReply | UpstreamError:
    """Read up to the first frame before answering 200, so a dead upstream can still fail over.

    What has already arrived with it is decoded too (a bad event there still fails over); a
    stream that ended within it is answered in one piece, without the relay's machinery.
    """
    decoder = adapter.StreamDecoder(dep, chat.include_usage)
    parser = SSEParser()
    chunks = opened.chunks()
    first: list[bytes] = []
    failed: BaseException | None = None
    deadlines = Deadlines.of_loop()  # cheaper than asyncio.timeout; fires up to 0.1 s late
    task = deadlines.enter(max(0.001, min(dep.provider.timeouts.first_byte_s, deadline - time.monotonic())))
    try:
        while not first and not decoder.done:
            chunk = await anext(chunks, None)
            if chunk is None:
                break
            for event, data in parser.feed(chunk):
                first.extend(decoder.feed(event, data))
        for chunk in opened.ready() if not decoder.done else ():
            for event, data in parser.feed(chunk):
                first.extend(decoder.feed(event, data))
            if decoder.done:
                break
    except asyncio.CancelledError:
        if not deadlines.expired(task):
            raise
        failed = TimeoutError()
    except (StreamError, ValueError, OSError, Exception) as exc:
        failed = exc
    finally:
        deadlines.leave(task)
    if failed is not None:
        opened.close()
        code = "upstream_timeout" if isinstance(failed, TimeoutError) else "upstream_stream_error"
        return UpstreamError(504 if code == "upstream_timeout" else 502, f"stream failed before its first chunk: "
                             f"{type(failed).__name__}", "upstream_error", code, retryable=True)
    if not first and not decoder.done:
        opened.close()
        return UpstreamError(502, "upstream stream ended before its first chunk", "upstream_error",
                             "upstream_stream_empty", retryable=True)
    call.first_token()
    if decoder.done:
        body = b"".join(first) + b"".join(decoder.finish()) + DONE
        opened.release()
        _count_stream(call, chat, dep, decoder.usage, "success")
        return WholeReply(body, call.headers(), head=EVENT_STREAM, after=lambda: gw.settle(call, dep, attempt_id))
    return EventStream(_relay(gw, call, chat, dep, attempt_id, decoder, parser, chunks, first, opened), call.headers())


def _count_stream(call: Call, chat: ChatRequest, dep: Deployment, usage: Usage, outcome: str) -> None:
    if not usage.reported:
        usage.prompt_tokens = chat.prompt_tokens  # unreported: charged at the bound
    call.done(usage, cost_micro(usage, dep.price), outcome)


async def _relay(gw: Gateway, call: Call, chat: ChatRequest, dep: Deployment, attempt_id: str, decoder: Any,
                 parser: SSEParser, chunks: AsyncIterator[bytes], first: list[bytes], opened: Any) -> AsyncIterator[bytes]:
    outcome = "success"
    finished = False
    try:
        yield b"".join(first)
        while not decoder.done:
            chunk = await anext(chunks, None)
            if chunk is None:
                break
            # every frame decoded from one network read goes to the client in one write
            frames = [frame for event, data in parser.feed(chunk) for frame in decoder.feed(event, data)]
            if frames:
                yield b"".join(frames)
        finished = True
        tail = b"".join(decoder.finish())
        if not decoder.done:
            outcome = "failure"
            call.stream_error("upstream_stream_cut")
            tail += sse_error(upstream_failed(502, "The upstream stream ended early.", "upstream_stream_cut"))
        yield tail + DONE
    except (asyncio.CancelledError, GeneratorExit):  # the client went away: stop the upstream call now
        outcome = "neutral"
        call.stream_error("client_disconnected")
        raise
    except (StreamError, ValueError, TimeoutError, OSError, Exception) as exc:  # noqa: B902 - all end the stream cleanly
        outcome = "failure"
        code = getattr(exc, "code", None) or ("upstream_timeout" if isinstance(exc, TimeoutError)
                                              else "upstream_stream_error")
        call.stream_error(code)
        yield sse_error(upstream_failed(502, f"The upstream stream failed: {exc or type(exc).__name__}", code))
        yield DONE
    finally:
        if decoder.done and outcome == "success":
            opened.release()  # the connection goes back to the pool
        else:
            opened.close()
        if not finished:
            decoder.finish()
        _count_stream(call, chat, dep, decoder.usage, outcome)
        gw.spawn_settle(call, dep, attempt_id)
