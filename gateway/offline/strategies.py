"""The what-if strategies: plan every trace request with the real planner, price it with the real
price function, and compare frontier-only, mid-only, task routing and routing through a provider
outage (see :mod:`gateway.offline.whatif`'s docstring).

Split out of :mod:`gateway.offline.whatif`, which re-exports :func:`simulate` and :class:`StrategyResult`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.config import ApiKey, Config, ConfigError, Deployment
from gateway.errors import GatewayError
from gateway.routing.plan import Planner, per_subject
from gateway.pricing import Usage, cost_micro
from gateway.offline.trace import TraceRequest, trace_span_s

DEFAULT_MID = "gpt-5.4"
SIM_KEY = ApiKey(name="whatif", sha256=b"\0" * 32)


@dataclass(slots=True)
class StrategyResult:
    name: str
    label: str
    requests: int
    served: int
    cost_micro: int  # for the trace as given
    monthly_usd: float
    cost_per_request_usd: float
    model_requests: dict[str, int]
    avg_quality: float | None
    quality_delta: float | None = None  # vs the frontier-only strategy
    rerouted: int = 0  # outage: requests moved off the down provider
    unserved: int = 0
    task_cost_micro: dict[str, int] = field(default_factory=dict)
    scale: float = 1.0  # trace -> month
    search_cost_micro: int = 0  # of cost_micro: the web searches, at each serving model's price.web_search
    unpriced_searches: int = 0  # searches sent to a model whose price.web_search is 0 (counted free)

    def as_dict(self) -> dict[str, Any]:
        n = max(1, self.requests)
        return {
            "name": self.name, "label": self.label, "requests": self.requests, "served": self.served,
            "cost_micro": self.cost_micro, "cost_usd": round(self.cost_micro / 1e6, 6),
            "monthly_usd": round(self.monthly_usd, 6), "cost_per_request_usd": round(self.cost_per_request_usd, 8),
            "model_share": {m: round(c / n, 4) for m, c in self.model_requests.items()},
            "model_requests": dict(self.model_requests),
            "avg_quality": None if self.avg_quality is None else round(self.avg_quality, 4),
            "quality_delta_vs_frontier": None if self.quality_delta is None else round(self.quality_delta, 4),
            "rerouted": self.rerouted, "unserved": self.unserved,
            "task_cost_micro": dict(self.task_cost_micro),
            "task_monthly_usd": {t: round(c * self.scale / 1e6, 6) for t, c in self.task_cost_micro.items()},
            "search_cost_micro": self.search_cost_micro,
            "search_monthly_usd": round(self.search_cost_micro * self.scale / 1e6, 6),
            "unpriced_searches": self.unpriced_searches,
        }


def _usage(r: TraceRequest, searches: int) -> Usage:
    return Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens, cached_tokens=r.cached_tokens,
                 cache_write_tokens=r.cache_write_tokens, cache_write_1h_tokens=r.cache_write_1h_tokens,
                 web_searches=searches)


def _req_cost(r: TraceRequest, dep: Deployment) -> int:
    """What `dep` would charge for the request, at its own prices: cache reads and writes (a
    write costs more than input only where the provider bills it so) and web searches (per call,
    or once per request for `web_search_unit: request`), rounded up as settle charges."""
    return cost_micro(_usage(r, r.web_searches), dep.price)


def _search_cost(r: TraceRequest, dep: Deployment, total: int) -> int:
    """The searches' part of `total` (the request's cost on `dep`): the cost at no search price
    taken off (a chat search model charges its search on every request, counted or not)."""
    if not (r.web_searches or dep.price.web_search_every_request) or not dep.price.web_search:
        return 0
    return total - cost_micro(_usage(r, r.web_searches), replace(dep.price, web_search=0))


def _quality(dep: Deployment, task: str) -> float | None:
    return dict(dep.quality).get(task)


def _result(name: str, label: str, reqs: list[TraceRequest], chosen: list[Deployment | None], scale: float,
            rerouted: int = 0) -> StrategyResult:
    total = searched = unpriced = 0
    counts: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    qsum, qn = 0.0, 0
    for r, dep in zip(reqs, chosen):
        if dep is None:
            continue
        c = _req_cost(r, dep)
        total += c
        searched += _search_cost(r, dep, c)
        unpriced += r.web_searches if not dep.price.web_search else 0
        by_task[r.task] += c
        counts[dep.name] += 1
        q = _quality(dep, r.task)
        if q is not None:
            qsum, qn = qsum + q, qn + 1
    served = sum(counts.values())
    n = len(reqs)
    return StrategyResult(
        name=name, label=label, requests=n, served=served, cost_micro=total,
        monthly_usd=total * scale / 1e6, cost_per_request_usd=(total / n / 1e6) if n else 0.0,
        model_requests=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        avg_quality=(qsum / qn) if qn else None, rerouted=rerouted, unserved=n - served,
        task_cost_micro=dict(sorted(by_task.items(), key=lambda kv: (-kv[1], kv[0]))), scale=scale,
        search_cost_micro=searched, unpriced_searches=unpriced)


def _plan_all(planner: Planner, model: str, reqs: list[TraceRequest]) -> list[tuple[Deployment, ...] | None]:
    """The planner's candidate list for every request (None when the planner refuses it)."""
    out: list[tuple[Deployment, ...] | None] = []
    cache: dict[tuple, tuple[Deployment, ...] | None] = {}
    sticky = per_subject(planner.config, model)
    for i, r in enumerate(reqs):
        # a line without `user` is its own end user, so experiments and pools split at their configured share
        user = r.user or f"line{i}"
        # plans depend on (task, prompt size vs context windows, capabilities needed, the end user
        # when an experiment's arm, a pool's or a cost tie's order depends on it): memoise on those
        ck = (r.task, r.prompt_chars, r.needs, user if sticky else None)
        if ck in cache:
            out.append(cache[ck])
            continue
        try:  # a model lacking what the line needs is skipped as live (routing/needs.py), or refuses it
            deps = planner.plan(model, SIM_KEY, r.prompt_chars, None, r.task, r.confidence, user,
                                needs=r.needs).deployments
        except GatewayError:
            deps = None
        cache[ck] = deps
        out.append(deps)
    return out


def chat_models(config: Config) -> list[Deployment]:
    return [d for d in config.deployments.values() if d.kind == "chat"]


def best_quality(config: Config) -> str:
    """The frontier model by the config's own scores: the highest mean quality over the tasks
    (the more expensive one on a tie)."""
    deps = chat_models(config)
    if not deps:
        raise ConfigError("the config has no chat models")

    def mean(d: Deployment) -> float:
        scores = dict(d.quality)
        return sum(scores.values()) / len(scores) if scores else 0.0

    return max(deps, key=lambda d: (round(mean(d), 6), d.price.input + d.price.output, d.name)).name


def most_expensive(config: Config, reqs: list[TraceRequest]) -> str:
    """The chat deployment that would cost the most for this trace (list prices when it is empty)."""
    deps = chat_models(config)
    if not deps:
        raise ConfigError("the config has no chat models")
    if reqs:
        return max(deps, key=lambda d: (sum(_req_cost(r, d) for r in reqs), d.name)).name
    return max(deps, key=lambda d: (d.price.input + d.price.output, d.name)).name


def simulate(config: Config, reqs: list[TraceRequest], *, days: float = 30.0, frontier: str | None = None,
             mid: str | None = None, route: str = "auto", outage: tuple[str, float, float] | None = None,
             trace_days: float | None = None) -> dict[str, Any]:
    """Run every strategy over the trace; returns a JSON-ready report."""
    if route not in config.routes:
        raise ConfigError(f"route {route!r} is not in the config")
    frontier = frontier or best_quality(config)
    if mid is None:
        mid = DEFAULT_MID if DEFAULT_MID in config.deployments else None
        if mid is None:  # the chat model whose list price is the median
            by_price = sorted(chat_models(config), key=lambda d: (d.price.input + d.price.output, d.name))
            mid = by_price[len(by_price) // 2].name
    for name in (frontier, mid):
        if name not in config.deployments:
            raise ConfigError(f"model {name!r} is not in the config")
    span_s = trace_days * 86_400.0 if trace_days else trace_span_s(reqs)
    scale = days * 86_400.0 / span_s
    planner = Planner(config)

    results: list[StrategyResult] = []
    for name, label, model in (("frontier", f"all on {frontier}", frontier), ("mid", f"all on {mid}", mid)):
        plans = _plan_all(planner, model, reqs)
        results.append(_result(name, label, reqs, [p[0] if p else None for p in plans], scale))

    routed = _plan_all(planner, route, reqs)
    primaries = [p[0] if p else None for p in routed]
    routing = _result("routing", f"task routing ({route})", reqs, primaries, scale)
    results.append(routing)

    # outage: default = provider of the primary of the most expensive task under routing
    by_task_cost: Counter[str] = Counter()
    task_primary: dict[str, Deployment] = {}
    for r, dep in zip(reqs, primaries):
        if dep is not None:
            by_task_cost[r.task] += _req_cost(r, dep)
            task_primary.setdefault(r.task, dep)
    if outage is None:
        if by_task_cost:
            top_task = max(by_task_cost, key=lambda t: (by_task_cost[t], t))
            down = task_primary[top_task].provider.name
        else:
            down = next(iter(config.providers))
        outage = (down, 0.45, 0.55)
    down, f0, f1 = outage
    if reqs:
        t0, t1 = min(r.ts for r in reqs), max(r.ts for r in reqs)
    else:
        t0 = t1 = 0.0
    w0, w1 = t0 + f0 * (t1 - t0), t0 + f1 * (t1 - t0)
    chosen: list[Deployment | None] = []
    moved = 0
    for r, plan in zip(reqs, routed):
        if plan is None:
            chosen.append(None)
            continue
        if w0 <= r.ts <= w1 and plan[0].provider.name == down:
            moved += 1
            chosen.append(next((d for d in plan if d.provider.name != down), None))
        else:
            chosen.append(plan[0])
    out_res = _result("outage", f"routing, {down} down {f0:.0%}-{f1:.0%} of the trace", reqs, chosen, scale, moved)
    results.append(out_res)

    base_q = results[0].avg_quality
    for res in results:
        if base_q is not None and res.avg_quality is not None:
            res.quality_delta = res.avg_quality - base_q

    tasks = Counter(r.task for r in reqs)
    n = len(reqs)
    return {
        "requests": n,
        "span_days": round(span_s / 86_400.0, 6),
        "requests_per_day": round(n / (span_s / 86_400.0), 1) if n else 0.0,
        "days": days,
        "scale": scale,
        "classified": sum(1 for r in reqs if r.classified),
        "task_share": {t: round(c / max(1, n), 4) for t, c in sorted(tasks.items(), key=lambda kv: (-kv[1], kv[0]))},
        "avg_prompt_tokens": round(sum(r.prompt_tokens for r in reqs) / max(1, n), 1),
        "avg_completion_tokens": round(sum(r.completion_tokens for r in reqs) / max(1, n), 1),
        "web_searches": sum(r.web_searches for r in reqs),
        "searching_requests": sum(1 for r in reqs if r.web_searches),
        "needs": dict(sorted(Counter(c for r in reqs for c in r.needs).items())),
        "cached_tokens": sum(r.cached_tokens for r in reqs),
        "cache_write_tokens": sum(r.cache_write_tokens for r in reqs),
        "outcomes": dict(Counter(r.outcome for r in reqs if r.outcome)),
        "frontier": frontier, "mid": mid, "route": route,
        "outage": {"provider": down, "start": f0, "end": f1},
        "strategies": [r.as_dict() for r in results],
    }
