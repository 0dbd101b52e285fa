"""Step 5, admit: one round trip that reserves a request's worst case on the first candidate
of its chain that may serve it, or a refusal the client can act on.

`Admit` builds the script's arguments (the worst case in money and tokens per candidate, the
budget's day and pace rule, the breaker thresholds), sends them through the state API and maps
a refusal to the client's error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.config import ApiKey, Config, Deployment
from gateway.errors import GatewayError, rate_limited, unauthorized, upstream_failed
from gateway.pricing import max_cost_micro
from gateway.routing.plan import Plan
from gateway.state.types import PRIORITY_LEVELS, AdmitRequest, Admission, BreakerParams, Candidate, PaceArgs

if TYPE_CHECKING:
    from gateway.observe.request import RequestObserver
    from gateway.pipeline.keyring import Keyring
    from gateway.state.guard import GuardedState


@dataclass(slots=True)
class WorstCase:
    """What admit reserves: the prompt bound plus `n` times the output allowance per choice
    (capped by each model's own output limit), and the web searches it may run at each model's
    price for them (gateway.pipeline.searches)."""

    prompt_tokens: int
    max_out: int
    n: int = 1
    searches: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.n * self.max_out

    def cost_micro(self, dep: Deployment) -> int:
        return max_cost_micro(self.prompt_tokens, self.n * min(self.max_out, dep.max_output_tokens), dep.price,
                              self.searches)


class BudgetClock:
    """The budget's day in its timezone, and that day's pace arguments, cached until it ends."""

    def __init__(self, config: Config) -> None:
        self._budget = config.budget
        self._tz = ZoneInfo(config.budget.timezone)
        self._day, self._day_ends = "", 0.0
        self._day_bounds: dict[str, tuple[int, int]] = {}
        self._pace_cache: dict[tuple[str, str], PaceArgs] = {}

    def day(self) -> str:
        """Today in the budget's timezone; recomputed only when the cached day has ended."""
        now = time.time()
        if now >= self._day_ends:
            local = datetime.fromtimestamp(now, self._tz)
            self._day = local.strftime("%Y-%m-%d")
            tomorrow = datetime.combine(local.date() + timedelta(days=1), dt_time(), self._tz)
            self._day_ends = tomorrow.timestamp()
        return self._day

    def pace_args(self, day: str, priority: str) -> PaceArgs | None:
        """The pace rule for the script: the day's bounds in its timezone (a DST day is 23 or 25
        hours long), thresholds in permille, and this priority's at-limit policy."""
        budget = self._budget
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


def breaker_params(config: Config) -> BreakerParams:
    b = config.breaker
    return BreakerParams(b.failures, b.window_ms, b.cooldown_ms, b.max_cooldown_ms, b.probe_lease_ms, b.min_sources)


class Admit:
    def __init__(self, config: Config, state: "GuardedState", clock: BudgetClock, observer: "RequestObserver",
                 keyring: "Keyring | None" = None) -> None:
        self.config = config
        self.state = state
        self.clock = clock
        self.observer = observer
        self.keyring = keyring
        self.breaker = breaker_params(config)

    async def __call__(self, attempt_id: str, key: ApiKey, plan: Plan, worst: WorstCase,
                       candidates: list[Deployment]) -> Admission:
        hard = key.daily_budget_micro > 0 or key.monthly_budget_micro > 0 or bool(key.team)
        admission = await self.state.admit(self.request(attempt_id, key, plan, worst, candidates), hard)
        if admission.reason == "stale" and self.keyring is not None:
            # the key's record changed since this worker cached it: refetch, admit again (a stale
            # admit wrote nothing, so the same id is fresh)
            fresh = await self.keyring.refresh(key)
            if fresh is None:
                raise unauthorized("This API key was revoked or has expired.")
            admission = await self.state.admit(self.request(attempt_id, fresh, plan, worst, candidates), hard)
        if admission.reason == "key_revoked":
            if self.keyring is not None:
                self.keyring.forget(key)
            raise unauthorized("This API key was revoked or has expired.")
        self.observer.admission(admission)
        return admission

    def request(self, attempt_id: str, key: ApiKey, plan: Plan, worst: WorstCase,
                candidates: list[Deployment]) -> AdmitRequest:
        day = self.clock.day()
        deps, expected = plan.deployments, plan.expected_cost_micro
        if len(candidates) != len(deps) or any(c is not d for c, d in zip(candidates, deps)):
            # a retry of part of the chain; matched by identity (a Deployment's == compares every field)
            by_id = {id(d): e for d, e in zip(deps, expected)}
            expected = tuple(by_id[id(d)] for d in candidates)
        return AdmitRequest(
            req_id=attempt_id, key=key.name, key_rpm=key.rpm, key_tpm=key.tpm,
            key_budget_micro=key.daily_budget_micro, global_budget_micro=self.config.budget.hard_limit_micro,
            day=day, est_tokens=worst.tokens,
            candidates=tuple(Candidate(d.name, d.rpm, d.tpm, worst.cost_micro(d), self.breaker, e)
                             for d, e in zip(candidates, expected)),
            reservation_ttl_ms=self.config.server.reservation_ttl_s * 1000,
            priority=PRIORITY_LEVELS[plan.priority], pace=self.clock.pace_args(day, plan.priority),
            deadline_us=self.state.admit_deadline_us(), key_id=key.key_id, key_version=key.version,
            key_old=key.old, team=key.team, key_monthly_micro=key.monthly_budget_micro,
        )

    def refusal(self, admission: Admission, route: str) -> GatewayError:
        self.observer.refused(admission.reason)
        return refusal(admission, route)


def refusal(admission: Admission, route: str) -> GatewayError:
    """A refused admit as the client's error: what happened, and when to come back if that helps."""
    reason = admission.reason
    if reason == "key_rate_limited":
        return rate_limited("Rate limit reached for this API key. Retry after the time in Retry-After.",
                            admission.retry_after_ms)
    if reason == "team_rate_limited":
        return rate_limited("Rate limit reached for this API key's team. Retry after the time in Retry-After.",
                            admission.retry_after_ms)
    if reason == "tokens_exceed_limit":
        err = rate_limited("Request too large: its worst case (the prompt plus n x max_tokens) is more tokens "
                           "than the tokens-per-minute limit allows at once. Lower max_tokens or n.", 60_000,
                           code="tokens_exceed_limit")
        err.headers.pop("retry-after", None)  # waiting does not help
        err.headers.pop("retry-after-ms", None)
        err.headers["x-should-retry"] = "false"  # the openai and anthropic SDKs then raise at once
        return err
    if reason == "budget_exceeded":
        err = rate_limited("Daily budget exhausted for this request: no candidate model fits the remaining "
                           "budget.", admission.retry_after_ms or 60_000, code="budget_exceeded")
        # Retry-After stays a hint (a settling reservation may free room), but an SDK's automatic
        # retries (two, 60 s apart) would only hold the app two minutes before the same error.
        err.headers["x-should-retry"] = "false"
        return err
    if reason == "deployments_rate_limited":
        return rate_limited(f"Every model of '{route}' is at its rate limit.", admission.retry_after_ms)
    if reason == "stale":  # the key's record changed twice within this request
        err = upstream_failed(503, "This API key was changed while the request was admitted. Retry.", "key_changed")
    elif reason in ("state_unavailable", "expired"):
        err = upstream_failed(503, "The gateway's shared state is unreachable and this request's budget "
                                   "fails closed. Retry shortly.", "state_unavailable")
    else:
        err = upstream_failed(503, f"No healthy model for '{route}': circuit breakers are open.",
                              "no_healthy_deployment")
    err.headers["retry-after"] = str(max(1, -(-admission.retry_after_ms // 1000)))
    return err
