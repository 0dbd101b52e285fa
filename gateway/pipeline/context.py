"""The per-worker runtime: config, state store, upstream session, metrics and logger in one object.

Created in the app's lifespan; the pipeline reaches it through `request.app.state.gateway`.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import Any, Callable
from zoneinfo import ZoneInfo

from gateway.ops.admin_auth import AdminGuard
from gateway.auth import Authenticator
from gateway.pipeline.record import Call
from gateway.config import Config, Deployment
from gateway.observe.log import RequestLog, get_logger
from gateway.observe.metrics import Metrics
from gateway.observe.metrics_share import MetricsShare
from gateway.routing.plan import Planner
from gateway.state.guard import GuardedState
from gateway.state.types import BreakerParams, PaceArgs, SettleRequest
from gateway.pipeline.tokens import family_of
from gateway.routing.tokstats import TokenStats
from gateway.net.upstream import Upstream

Classifier = Callable[[list[dict[str, Any]]], Any]


def _default_classifier() -> Classifier | None:
    try:
        from gateway.routing.classify import classify
    except ImportError:
        return None
    return classify


class Gateway:
    def __init__(self, config: Config, state: GuardedState, upstream: Upstream,
                 classifier: Classifier | None = None) -> None:
        self.config = config
        self.state = state
        self.upstream = upstream
        self.auth = Authenticator(config.keys, config.admin_key_sha256)
        self.admin_guard = AdminGuard(self.auth, state, config.admin)
        self.metrics = Metrics(config.metrics.per_key)
        self.metrics_share = MetricsShare.from_env(self.metrics)
        self.log = get_logger("gateway.request")
        self.request_log = RequestLog(os.environ.get("GATEWAY_LOG_LEVEL", "info"))
        self.classifier = classifier or _default_classifier()
        self.tokstats = TokenStats()
        self.planner = Planner(config, self.tokstats)
        self._tz = ZoneInfo(config.budget.timezone)
        b = config.breaker
        self.breaker_params = BreakerParams(b.failures, b.window_ms, b.cooldown_ms, b.max_cooldown_ms,
                                            b.probe_lease_ms, b.min_sources)
        self._tasks: set[asyncio.Task[None]] = set()
        self._day_bounds: dict[str, tuple[int, int]] = {}
        self._pace_cache: dict[tuple[str, str], PaceArgs] = {}
        self._day, self._day_ends = "", 0.0
        self._key_tpms = {k.name: k.tpm for k in config.keys}
        self._families: dict[tuple[str, ...], str] = {}

    def budget_day(self) -> str:
        """Today in the budget's timezone; recomputed only when the cached day has ended."""
        now = time.time()
        if now >= self._day_ends:
            local = datetime.fromtimestamp(now, self._tz)
            self._day = local.strftime("%Y-%m-%d")
            tomorrow = datetime.combine(local.date() + timedelta(days=1), dt_time(), self._tz)
            self._day_ends = tomorrow.timestamp()
        return self._day

    def pace_args(self, day: str, priority: str) -> PaceArgs | None:
        """The budget's pace rule for the script: the day's bounds in its timezone (a DST day is
        23 or 25 hours long), thresholds in permille, and this priority's at-limit policy."""
        budget = self.config.budget
        if not budget.daily_micro:
            return None
        cached = self._pace_cache.get((day, priority))
        if cached is not None:
            return cached
        bounds = self._day_bounds.get(day)
        if bounds is None:
            start = datetime.combine(date.fromisoformat(day), dt_time(), self._tz)
            end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), dt_time(), self._tz)
            bounds = self._day_bounds[day] = (int(start.timestamp() * 1e6), int((end - start).total_seconds() * 1e6))
            if len(self._day_bounds) > 8:
                self._day_bounds.pop(next(iter(self._day_bounds)))
        p = budget.pace
        args = PaceArgs(budget.daily_micro, bounds[0], bounds[1], round(p.burst_share * budget.daily_micro),
                        round(p.enter * 1000), round(p.normal_enter * 1000), round(p.exit * 1000),
                        budget.policy_at_limit(priority) == "cheapest")
        if len(self._pace_cache) > 32:
            self._pace_cache.clear()
        self._pace_cache[(day, priority)] = args  # the same object each time: admit's command cache keys on it
        return args

    def token_family(self, deployments: tuple[Deployment, ...]) -> str:
        """The tokenizer family the prompt bound must cover for a chain (one family, else all)."""
        names = tuple(d.name for d in deployments)
        family = self._families.get(names)
        if family is None:
            found = {family_of(d.provider.format, d.provider.base_url) for d in deployments}
            family = found.pop() if len(found) == 1 else "any"
            if len(self._families) > 1024:
                self._families.clear()
            self._families[names] = family
        return family

    def classify(self, messages: list[dict[str, Any]], forced: str | None) -> tuple[str, float]:
        if forced:
            return forced, 1.0
        if self.classifier is None:
            return "", 0.0
        result = self.classifier(messages)
        return result.task, result.confidence

    # -- settle: one round trip after the response, off the client's critical path --

    def _settle_request(self, call: Call, dep: Deployment, attempt_id: str, outcome: str, cost: int,
                        tokens_in: int, tokens_out: int, cached: int, hold_ms: int = 0) -> SettleRequest:
        latency_ms = int((time.perf_counter() - call.started) * 1000)
        return SettleRequest(
            req_id=attempt_id, key=call.key, deployment=dep.name, provider=dep.provider.name,
            model=dep.name, task=call.task or "unknown", route=call.route or dep.name, day=self.budget_day(),
            cost_micro=cost, tokens_in=tokens_in, tokens_out=tokens_out, cached_tokens=cached, outcome=outcome,
            breaker_gen=call.breaker_gen, latency_ms=latency_ms, tpm=dep.tpm, key_tpm=self._key_tpm(call.key),
            arm=call.experiment,
            # admitted in-process while Redis was unreachable: Redis holds no reservation for it,
            # so the settle must count the spend directly (a no-op for an id Redis already knows)
            force=call.degraded, hold_ms=hold_ms,
        )

    def _key_tpm(self, name: str) -> int:
        return self._key_tpms.get(name, 0)

    async def settle(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        usage = call.usage
        request = self._settle_request(call, dep, attempt_id, call.outcome, call.cost_micro, usage.prompt_tokens,
                                       usage.completion_tokens, usage.cached_tokens)
        try:
            await self.state.settle(request)
        except Exception as exc:  # the reservation stays, and is charged at its worst case when it expires
            self.log.error("settle_failed", request_id=call.request_id, error=type(exc).__name__)
        self.finish(call)

    def spawn_settle(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.settle(call, dep, attempt_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle_failure(self, call: Call, dep: Deployment, attempt_id: str, outcome: str,
                             hold_ms: int = 0) -> None:
        """A failed attempt releases its reservation (money and tokens) and tells the breaker what
        `failures.judge` made of it, before the next admit."""
        request = self._settle_request(call, dep, attempt_id, outcome, 0, 0, 0, 0, hold_ms)
        try:
            await self.state.settle(request)
        except Exception as exc:
            self.log.error("settle_failed", request_id=call.request_id, error=type(exc).__name__)

    def provider_rejected(self, dep: Deployment, status: int) -> None:
        """The provider refused the gateway's own set-up (credentials or model name): the operator
        must act, so it is a log line and a metric, and the breaker keeps the deployment open."""
        self.metrics.provider_rejected.inc((dep.name, dep.provider.name, str(status)))
        self.log.error("provider_rejected_gateway_setup", deployment=dep.name, provider=dep.provider.name,
                       upstream_status=status, cooldown_s=self.config.breaker.auth_cooldown_ms // 1000,
                       fix="provider API key" if status in (401, 403) else "upstream model name")

    def spawn_release(self, call: Call, dep: Deployment, attempt_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.settle_failure(call, dep, attempt_id, "neutral"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for settles still running (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- observe --

    def observe_admission(self, admission: Any) -> None:
        m = self.metrics
        m.degraded.set((), 1.0 if admission.degraded else 0.0)
        if admission.degraded:
            return
        m.budget_spent.set((), admission.spent_micro / 1_000_000)
        if admission.budget_remaining_micro >= 0:
            m.budget_remaining.set((), admission.budget_remaining_micro / 1_000_000)
        m.pace_mode.set((), admission.pace_mode)

    def finish(self, call: Call) -> None:
        fields = call.log_fields()
        m = self.metrics
        m.requests.inc((call.route or "-", call.deployment or "-", call.provider or "-", str(call.status)))
        m.latency.observe((call.route or "-", call.deployment or "-"), fields["latency_ms"] / 1000)
        if call.ttft_s is not None:
            m.ttft.observe((call.deployment,), call.ttft_s)
        if call.deployment:
            m.tokens.inc((call.deployment, "in"), call.usage.prompt_tokens)
            m.tokens.inc((call.deployment, "out"), call.usage.completion_tokens)
            labels = (call.deployment, call.provider, call.task or "-")
            m.cost.inc(labels + (call.key,) if m.per_key else labels, call.cost_micro / 1_000_000)
            if call.fallbacks:
                m.fallbacks.inc((call.deployment,), call.fallbacks)
        fields["worker"] = m.worker
        self.request_log.write(fields)
