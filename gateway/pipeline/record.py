"""One request's record: what was asked, what was decided, what it cost.

The pipeline fills it step by step; it becomes the decision headers, the log line and the
settle call, so the three always agree.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.observe.log import clip
from gateway.pricing import Usage

if TYPE_CHECKING:
    from gateway.config import ApiKey, Deployment
    from gateway.errors import GatewayError
    from gateway.observe.tracing import RequestTrace
    from gateway.guard.apply import Verdict
    from gateway.guard.policy import GuardPolicy
    from gateway.routing.plan import Plan

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
# Request ids: a random 64-bit prefix per process and a counter, so ids stay unique across workers
# and replicas without a system call for randomness on every request.
_ID_PREFIX = "req_" + secrets.token_hex(8)
_ids = itertools.count(1)


@dataclass(slots=True)
class Call:
    request_id: str              # the correlation id: the client's x-request-id if safe, else state_id
    started: float
    state_id: str = ""           # the gateway's own id, the idempotency key of admit and settle
    key: str = "-"
    api: str = "openai.chat"     # the client-facing API (gateway.inbound.base.Inbound.name)
    key_tpm: int = 0             # the key's tokens/min, which settle corrects by the real count
    team: str = ""
    runtime_key: bool = False    # a key from Redis: its spend is counted by month as well
    model_asked: str = ""
    route: str = ""
    task: str = ""
    confidence: float = 0.0
    stream: bool = False
    priority: str = "normal"
    experiment: str = ""
    task_policy: str = ""  # the route's on_uncertain policy, when it chose the chain
    downgraded: str = ""
    adapted: tuple[str, ...] = ()  # what the serving adapter changed (UpstreamRequest.adapted)
    degraded: bool = False
    deployment: str = ""
    provider: str = ""
    pool: str = ""               # the pool the serving deployment was chosen from, if any
    pool_of: tuple[tuple[str, str], ...] = ()  # the plan's (deployment, pool) pairs
    attempts: int = 0
    breaker_gen: int = 0
    status: int = 200
    error: str | None = None
    outcome: str = "success"
    usage: Usage = field(default_factory=Usage)
    cost_micro: int = 0
    budget_remaining_micro: int = -1
    ttft_s: float | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cache: str = ""              # hit | miss | skip while the response cache is on (pipeline/cache.py)
    trace: "RequestTrace | None" = None  # while tracing is on (gateway/observe/tracing/)
    trace_id: str = ""           # for the log line: the trace's, or (tracing off) a client traceparent's
    guardrail: "Verdict | None" = None  # what a guardrail policy found (gateway/guard/), if anything
    output_policy: "GuardPolicy | None" = None  # the applying policy's `output`: the relay reads the answer
    output_guardrail: "Verdict | None" = None   # what it found in the answer, if anything

    @classmethod
    def start(cls, incoming_id: str | None) -> "Call":
        """Admit and settle are keyed by an id the gateway makes, never by the client's: a reused
        x-request-id is a new request, admitted, limited and charged like any other."""
        own = f"{_ID_PREFIX}{next(_ids):08x}"
        rid = incoming_id if incoming_id and _SAFE_ID.match(incoming_id) else own
        return cls(request_id=rid, started=time.perf_counter(), state_id=own)

    def authenticated(self, key: "ApiKey") -> None:
        self.key, self.key_tpm, self.team, self.runtime_key = key.name, key.tpm, key.team, key.key_id != "-"

    def planned(self, plan: "Plan") -> None:
        self.route, self.task, self.confidence = plan.route, plan.task, plan.confidence
        self.priority, self.experiment, self.task_policy = plan.priority, plan.experiment, plan.task_policy
        self.skipped.extend(plan.skipped)
        self.pool_of = plan.pools

    def note_admission(self, admission: Any) -> None:
        self.skipped.extend(admission.skipped)
        self.degraded = self.degraded or admission.degraded
        if admission.budget_remaining_micro >= 0:
            self.budget_remaining_micro = admission.budget_remaining_micro

    def attempt(self, dep: "Deployment", admission: Any) -> None:
        self.downgraded = admission.downgraded
        self.attempts += 1
        self.deployment, self.provider = dep.name, dep.provider.name
        self.pool = next((pool for name, pool in self.pool_of if name == dep.name), "")
        self.breaker_gen = admission.breaker_gen
        if self.trace is not None:
            self.trace.attempt_started(dep)

    def served_from_cache(self, deployment: str, provider: str) -> None:
        """A hit: the model that first answered it, no attempt, nothing billed."""
        self.deployment, self.provider = deployment, provider

    def first_token(self) -> None:
        self.ttft_s = time.perf_counter() - self.started

    def done(self, usage: Usage, cost: int, outcome: str = "success") -> None:
        """The answer has been read whole (a stream: it has ended)."""
        self.usage, self.cost_micro, self.outcome = usage, cost, outcome
        if self.trace is not None:
            self.trace.attempt_ended(self.error or "" if outcome != "success" else "", served=True)

    def stream_error(self, code: str) -> None:
        self.error = code

    def fail(self, err: "GatewayError") -> None:
        self.status, self.error, self.outcome = err.status, err.code or err.type, "error"

    @property
    def fallbacks(self) -> int:
        return max(0, self.attempts - 1)

    def headers(self) -> dict[str, str]:
        headers = {"x-request-id": self.request_id}
        if self.task:
            headers["x-gateway-task"] = self.task
            headers["x-gateway-task-confidence"] = f"{self.confidence:.2f}"
            if self.task_policy:
                headers["x-gateway-task-policy"] = self.task_policy
        if self.route:
            headers["x-gateway-route"] = self.route
        if self.experiment:
            headers["x-gateway-experiment"] = self.experiment
        if self.downgraded:
            headers["x-gateway-downgraded"] = self.downgraded
        if self.degraded:
            headers["x-gateway-degraded"] = "state"
        if self.deployment:
            headers["x-gateway-model"] = self.deployment
            headers["x-gateway-provider"] = self.provider
            headers["x-gateway-fallbacks"] = str(self.fallbacks)
            if self.pool:
                headers["x-gateway-pool"] = self.pool
        if self.adapted:
            headers["x-gateway-adapted"] = ",".join(self.adapted)
        if self.cache:
            headers["x-gateway-cache"] = self.cache
        if self.guardrail is not None:
            headers["x-gateway-guardrail"] = self.guardrail.outcome
        if self.output_guardrail is not None:  # a whole answer's (a stream's headers leave before its text)
            headers["x-gateway-guardrail-output"] = self.output_guardrail.outcome
        if self.usage.reported or self.cost_micro or self.cache == "hit":
            headers["x-gateway-cost-usd"] = f"{self.cost_micro / 1_000_000:.6f}"
        if self.budget_remaining_micro >= 0:
            headers["x-gateway-budget-remaining-usd"] = f"{self.budget_left_micro() / 1_000_000:.6f}"
        return headers

    def budget_left_micro(self) -> int:
        """The budget left after this request: as admit found it before this request's reservation,
        less the real cost when it is known (a JSON answer; a stream's headers leave before its
        cost, so there it is the budget left before the request). Sequential requests of one key
        see it fall; the worst-case reservation would make it jump back up."""
        return max(0, self.budget_remaining_micro - self.cost_micro)

    def log_fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "state_id": self.state_id, "key": self.key, "api": self.api,
            "model_asked": clip(self.model_asked), "route": self.route, "pool": self.pool or None,
            "task": self.task, "task_confidence": round(self.confidence, 3),
            "task_policy": self.task_policy or None, "priority": self.priority,
            "experiment": self.experiment or None, "downgraded": self.downgraded or None,
            "adapted": ",".join(self.adapted) or None,
            "degraded": self.degraded or None, "model": self.deployment or None,
            "provider": self.provider or None, "stream": self.stream, "status": self.status, "error": clip(self.error) if self.error else None,
            "outcome": self.outcome, "attempts": self.attempts, "fallbacks": self.fallbacks,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 2),
            "ttft_ms": round(self.ttft_s * 1000, 2) if self.ttft_s is not None else None,
            "tokens_in": self.usage.prompt_tokens, "tokens_out": self.usage.completion_tokens,
            "cached_tokens": self.usage.cached_tokens, "cache_write_tokens": self.usage.cache_write_tokens,
            "cache_write_1h_tokens": self.usage.cache_write_1h_tokens, "usage_reported": self.usage.reported,
            "web_searches": self.usage.web_searches or None,
            "cost_micro": self.cost_micro, "cost_usd": round(self.cost_micro / 1_000_000, 6),
            "skipped": [f"{name}:{why}" for name, why in self.skipped] or None,
            "cache": self.cache or None,
            "guardrail": self.guardrail.log_field() if self.guardrail is not None else None,
            "guardrail_output": self.output_guardrail.log_field() if self.output_guardrail is not None else None,
        }

    def trace_fields(self, fields: dict[str, Any]) -> None:
        """The trace's ids in the log line, when there is a trace (docs/operations.md, Tracing)."""
        fields["trace_id"] = self.trace_id
        trace = self.trace
        if trace is not None and trace.sampled:
            fields["span_id"] = trace.span_id
