"""Steps 5-7 as one loop: admit, call, fall back along the chain, retry it with backoff.

Shared by every endpoint: what differs (building the upstream call, reading its answer) is the
endpoint's `Attempt`. On a failure that says so (`failures.judge`) the next candidate is tried at
once; when the whole chain has failed it is retried after a jittered backoff that honours
Retry-After, each deployment at most its provider's `max_retries` times more. The attempt budget
bounds the upstream calls of a request across the chain, and the request deadline its time.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from starlette.responses import Response

from gateway.config import ApiKey, Deployment
from gateway.edge.asgi import EventStream, WholeReply
from gateway.errors import GatewayError, upstream_failed
from gateway.pipeline.admit import WorstCase
from gateway.pipeline.context import Gateway
from gateway.pipeline.failures import client_error, judge, same_fault_twice
from gateway.pipeline.record import Call
from gateway.providers import UpstreamError
from gateway.routing.plan import Plan

Answer = Response | WholeReply | EventStream


class Attempt(Protocol):
    """One upstream call of the request on `dep`: an answer, or a failure to judge."""

    async def __call__(self, dep: Deployment, attempt_id: str, deadline: float) -> Answer | UpstreamError: ...


@dataclass(slots=True)
class Chain:
    """Where the loop stands: who is left, who failed once and may serve a retry of the chain."""

    candidates: list[Deployment]
    failed: list[Deployment] = field(default_factory=list)
    last: UpstreamError | None = None
    last_dep: Deployment | None = None
    refused: GatewayError | None = None  # a candidate's adapter could not express the request
    seen_5xx: dict[int, str] = field(default_factory=dict)
    attempts: int = 0  # upstream calls made
    calls: dict[str, int] = field(default_factory=dict)  # upstream calls per deployment
    admits: int = 0    # every admit has its own id: a repeated id would get the stored decision back

    def backoff_s(self) -> float:
        wait = min(2.0, 0.1 * 2 ** (self.attempts - 1)) * random.uniform(0.5, 1.5)
        if self.last is not None and self.last.retry_after_s:
            wait = max(wait, self.last.retry_after_s)
        return wait


async def serve(gw: Gateway, call: Call, plan: Plan, key: ApiKey, worst: WorstCase, attempt: Attempt) -> Answer:
    server = gw.config.server
    deadline = time.monotonic() + server.request_timeout_s
    chain = Chain(list(plan.deployments))
    while chain.attempts < server.attempt_budget:
        if not chain.candidates:
            if not chain.failed:
                break
            wait = chain.backoff_s()  # the whole chain failed once: retry it
            if time.monotonic() + wait >= deadline:
                break
            await asyncio.sleep(wait)
            chain.candidates, chain.failed = chain.failed, []
        attempt_id = f"{call.state_id}.{chain.admits}"
        chain.admits += 1
        admission = await gw.admit(attempt_id, key, plan, worst, chain.candidates)        # 5 admit
        call.note_admission(admission)
        if not admission.ok:
            if chain.last is None and chain.refused is None:
                raise gw.admit.refusal(admission, plan.route)
            break
        dep = chain.candidates[admission.index]
        chain.attempts += 1
        call.attempt(dep, admission)
        try:
            result = await attempt(dep, attempt_id, deadline)                            # 6 call
        except GatewayError as err:  # e.g. n > 1 on Anthropic: no call was made; another may serve it
            if call.trace is not None:
                call.trace.attempt_dropped()
            await gw.settle.failed(call, dep, attempt_id, "neutral")
            call.skipped.append((dep.name, err.code or "unsupported"))
            chain.candidates.remove(dep)
            chain.attempts -= 1
            chain.refused = err
            continue
        except BaseException:  # cancelled or a bug: release the reservation, then let it through
            if call.trace is not None:
                call.trace.attempt_ended("cancelled")
            gw.settle.spawn_release(call, dep, attempt_id)
            raise
        if not isinstance(result, UpstreamError):
            return result                                                               # 7 respond
        if await _fall_back(gw, call, chain, dep, attempt_id, result) or time.monotonic() >= deadline:
            break
    raise _final_error(chain, time.monotonic() >= deadline)


async def _fall_back(gw: Gateway, call: Call, chain: Chain, dep: Deployment, attempt_id: str,
                     result: UpstreamError) -> bool:
    """Settle a failed attempt as `judge` sees it and take `dep` out of this round; True when the
    loop must stop (the same fault twice in a row), a GatewayError when it must not fall back."""
    chain.last, chain.last_dep = result, dep
    gw.observer.upstream_error(dep, str(result.upstream_status or result.code))
    if call.trace is not None:
        call.trace.attempt_ended(result.code or result.type)
    verdict = judge(result, gw.config.breaker)
    repeated = verdict.fall_back and same_fault_twice(result, chain.seen_5xx, dep.name)
    await gw.settle.failed(call, dep, attempt_id, "neutral" if repeated else verdict.outcome, verdict.hold_ms)
    if verdict.outcome == "disabled":
        gw.observer.provider_rejected(dep, result.upstream_status, gw.settle.auth_cooldown_s)
    if not verdict.fall_back:
        raise GatewayError(result.status, f"{dep.provider.name}: {result.message}", result.type, result.code)
    chain.candidates.remove(dep)
    calls = chain.calls[dep.name] = chain.calls.get(dep.name, 0) + 1
    if verdict.outcome in ("failure", "throttled") and calls <= dep.provider.max_retries:
        chain.failed.append(dep)  # may serve when the chain is retried; a disabled one may not
    return repeated


def _final_error(chain: Chain, past_deadline: bool) -> GatewayError:
    last = chain.last
    if last is None:
        if chain.refused is not None:
            return chain.refused
        return upstream_failed(503, "No deployment could take the request.", "no_deployment_available")
    provider = chain.last_dep.provider.name if chain.last_dep else "-"
    status, message, type_, code = client_error(last, provider, chain.attempts, past_deadline)
    err = upstream_failed(status, message, code)
    err.type = type_
    if status == 429:  # every provider is rate limiting: tell the client when to come back
        err.headers["retry-after"] = str(max(1, round(last.retry_after_s or 1)))
    return err
