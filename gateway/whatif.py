"""What-if simulator: replay a trace of requests under several routing strategies and compare cost.

`gateway simulate --trace FILE --config FILE [--json] [--days 30]` (wired by the CLI as
:func:`simulate_main`).

A trace is JSON Lines, one request a line::

    {"ts": 1767225600.0, "messages": [{"role": "user", "content": "..."}]}
    {"ts": 1767225600.9, "prompt_tokens": 150, "completion_tokens": 40, "task": "code_generation"}

* ``ts`` (unix seconds) is required; ``user`` (the end user, for the route's sticky experiments;
  a line without one is its own end user, so an experiment takes its configured share) and
  ``outcome`` (what happened in production; counted and reported, never used to drop a line) are
  optional.
* With ``messages`` the task comes from the REAL classifier (:func:`gateway.classify.classify`),
  unless the line also names a ``task``; prompt tokens are the line's ``prompt_tokens`` or the
  gateway's own estimate (about four characters a token).
* With only token counts the task is the line's ``task`` (``simple_chat`` when absent: what the
  classifier says of a request with no text).
* Completion tokens are the line's ``completion_tokens``; when absent they are estimated per task
  with :data:`DEFAULT_OUTPUT_TOKENS`.

Every request is planned by the REAL planner (:class:`gateway.plan.Planner`) with the config, and
priced by the REAL price function (:func:`gateway.pricing.cost_micro`, integer micro-dollars,
rounded up per request, exactly like settle). Strategies:

* ``frontier``: everything on the frontier model (``--frontier``; default the chat deployment
  that would cost the most for this trace);
* ``mid``: everything on one mid model (``--mid``; default ``gpt-5.4`` when configured);
* ``routing``: the route's (``--route``, default ``auto``) per-task chain, first candidate;
* ``outage``: the same, with one provider down for a window of the trace (``--outage
  PROVIDER:START:END`` as fractions of the trace's time range; default the provider of the
  primary of the most expensive task, for the middle 10%): a request whose primary is on that
  provider goes to the first candidate of its chain on another provider (unserved when none).

Monthly cost scales the trace's span to ``--days`` (30). The span of n requests from t0 to t1 is
(t1 - t0) * n / (n - 1), so n evenly spaced requests over a day count as exactly one day; a trace
whose requests all share one timestamp counts as one day (``--trace-days`` overrides both).

Quality impact: the configured quality score of the model that served the request, for the
request's task, averaged over served requests; shown against the frontier-only average.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway.config import ApiKey, Config, ConfigError, Deployment, parse_config
from gateway.config.parse import expand_env
from gateway.errors import GatewayError
from gateway.plan import Planner
from gateway.pricing import Usage, cost_micro, estimate_tokens

__all__ = ["DEFAULT_OUTPUT_TOKENS", "TraceRequest", "StrategyResult", "load_offline_config", "read_trace",
           "parse_trace_line", "simulate", "format_report", "simulate_main", "trace_span_s"]

# Completion tokens assumed when a trace line has messages but no completion_tokens (typical
# answer lengths per task; override a line by giving completion_tokens).
DEFAULT_OUTPUT_TOKENS: dict[str, int] = {
    "simple_chat": 150,
    "summarization": 250,
    "code_generation": 600,
    "complex_reasoning": 800,
}
FALLBACK_OUTPUT_TOKENS = 300  # a task not in the table above
DEFAULT_MID = "gpt-5.4"
SIM_KEY = ApiKey(name="whatif", sha256=b"\0" * 32)


# --------------------------------------------------------------------------- config (offline)

class _OfflineEnv(dict):
    """Environment for reading a config without serving: unset variables read as a placeholder."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        value = super().get(name)
        if value is not None:
            return value
        return default if default is not None else "offline"


def load_offline_config(path: str | Path) -> Config:
    """Load a gateway config for offline tools (audit, simulate): provider API keys and other
    ${VARS} need not be set, since nothing is called."""
    source = str(path)
    env = _OfflineEnv(os.environ)
    try:
        text = expand_env(Path(path).read_text(), env, source)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    return parse_config(doc, source, env)


# --------------------------------------------------------------------------- trace

@dataclass(frozen=True, slots=True)
class TraceRequest:
    ts: float
    task: str
    confidence: float
    prompt_tokens: int
    completion_tokens: int
    prompt_chars: int
    user: str | None = None
    outcome: str | None = None
    classified: bool = False  # the task came from the classifier


def _chars(messages: list[Any]) -> int:
    n = 0
    for m in messages:
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            n += len(c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    n += len(part["text"])
                elif isinstance(part, str):
                    n += len(part)
        if m.get("tool_calls") is not None:
            n += len(orjson.dumps(m["tool_calls"]))
    return n


def _int_field(doc: dict, name: str, where: str) -> int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError(f"{where}: {name} must be a non-negative number")
    return int(v)


def parse_trace_line(doc: Any, where: str = "trace") -> TraceRequest:
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object")
    ts = doc.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ValueError(f"{where}: ts (unix seconds) is required")
    messages = doc.get("messages")
    task = doc.get("task")
    if task is not None and (not isinstance(task, str) or not task):
        raise ValueError(f"{where}: task must be a non-empty string")
    prompt = _int_field(doc, "prompt_tokens", where)
    completion = _int_field(doc, "completion_tokens", where)
    confidence, classified = 1.0, False
    if messages is not None:
        if not isinstance(messages, list):
            raise ValueError(f"{where}: messages must be an array")
        chars = _chars(messages)
        if task is None:
            from gateway.classify import classify

            c = classify(messages)
            task, confidence, classified = c.task, c.confidence, True
        if prompt is None:
            prompt = estimate_tokens(chars)
    else:
        if prompt is None:
            raise ValueError(f"{where}: give messages or prompt_tokens")
        chars = prompt * 4
        task = task or "simple_chat"
    if completion is None:
        completion = DEFAULT_OUTPUT_TOKENS.get(task, FALLBACK_OUTPUT_TOKENS)
    user = doc.get("user")
    outcome = doc.get("outcome")
    return TraceRequest(ts=float(ts), task=task, confidence=confidence, prompt_tokens=prompt,
                        completion_tokens=completion, prompt_chars=chars,
                        user=user if isinstance(user, str) else None,
                        outcome=outcome if isinstance(outcome, str) else None, classified=classified)


def read_trace(path: str | Path) -> list[TraceRequest]:
    out = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{i}: invalid JSON: {exc}") from None
            out.append(parse_trace_line(doc, f"{path}:{i}"))
    return out


def trace_span_s(reqs: list[TraceRequest]) -> float:
    """Seconds the trace stands for: (t1 - t0) * n / (n - 1); one day when there is no spread."""
    if len(reqs) < 2:
        return 86_400.0
    t0 = min(r.ts for r in reqs)
    t1 = max(r.ts for r in reqs)
    if t1 <= t0:
        return 86_400.0
    return (t1 - t0) * len(reqs) / (len(reqs) - 1)


# --------------------------------------------------------------------------- strategies

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
        }


def _req_cost(r: TraceRequest, dep: Deployment) -> int:
    return cost_micro(Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens), dep.price)


def _quality(dep: Deployment, task: str) -> float | None:
    return dict(dep.quality).get(task)


def _result(name: str, label: str, reqs: list[TraceRequest], chosen: list[Deployment | None], scale: float,
            rerouted: int = 0) -> StrategyResult:
    total = 0
    counts: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    qsum, qn = 0.0, 0
    for r, dep in zip(reqs, chosen):
        if dep is None:
            continue
        c = _req_cost(r, dep)
        total += c
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
        task_cost_micro=dict(sorted(by_task.items(), key=lambda kv: (-kv[1], kv[0]))), scale=scale)


def _plan_all(planner: Planner, model: str, reqs: list[TraceRequest]) -> list[tuple[Deployment, ...] | None]:
    """The planner's candidate list for every request (None when the planner refuses it)."""
    out: list[tuple[Deployment, ...] | None] = []
    cache: dict[tuple, tuple[Deployment, ...] | None] = {}
    route = planner.config.routes.get(model)
    sticky = route is not None and bool(route.experiments)
    for i, r in enumerate(reqs):
        # a line without `user` is its own end user, so experiments split at their configured share
        user = r.user or f"line{i}"
        # plans depend on (task, prompt size vs context windows, experiment arm): memoise on those
        ck = (r.task, r.prompt_chars, user if sticky else None)
        if ck in cache:
            out.append(cache[ck])
            continue
        try:
            deps = planner.plan(model, SIM_KEY, r.prompt_chars, None, r.task, r.confidence, user).deployments
        except GatewayError:
            deps = None
        cache[ck] = deps
        out.append(deps)
    return out


def chat_models(config: Config) -> list[Deployment]:
    return [d for d in config.deployments.values() if d.kind == "chat"]


def most_expensive(config: Config, reqs: list[TraceRequest]) -> str:
    """The chat deployment that would cost the most for this trace (list prices when it is empty)."""
    deps = chat_models(config)
    if not deps:
        raise ConfigError("the config has no chat models")
    if reqs:
        return max(deps, key=lambda d: (sum(_req_cost(r, d) for r in reqs), d.name)).name
    return max(deps, key=lambda d: (d.price.input + d.price.output, d.name)).name


def parse_outage(text: str) -> tuple[str, float, float]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise ValueError("--outage is PROVIDER:START_FRACTION:END_FRACTION, e.g. anthropic:0.45:0.55")
    start, end = float(parts[1]), float(parts[2])
    if not 0 <= start < end <= 1:
        raise ValueError("--outage fractions need 0 <= START < END <= 1")
    return parts[0], start, end


def simulate(config: Config, reqs: list[TraceRequest], *, days: float = 30.0, frontier: str | None = None,
             mid: str | None = None, route: str = "auto", outage: tuple[str, float, float] | None = None,
             trace_days: float | None = None) -> dict[str, Any]:
    """Run every strategy over the trace; returns a JSON-ready report."""
    if route not in config.routes:
        raise ConfigError(f"route {route!r} is not in the config")
    frontier = frontier or most_expensive(config, reqs)
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
        "outcomes": dict(Counter(r.outcome for r in reqs if r.outcome)),
        "frontier": frontier, "mid": mid, "route": route,
        "outage": {"provider": down, "start": f0, "end": f1},
        "strategies": [r.as_dict() for r in results],
    }


def format_report(rep: dict[str, Any]) -> str:
    lines = [
        f"trace: {rep['requests']} requests over {rep['span_days']:g} days "
        f"({rep['requests_per_day']:,.0f}/day), avg {rep['avg_prompt_tokens']:g} in / "
        f"{rep['avg_completion_tokens']:g} out tokens; monthly = {rep['days']:g} days",
        "tasks: " + ", ".join(f"{t} {s:.1%}" for t, s in rep["task_share"].items()),
    ]
    if rep["outcomes"]:
        lines.append("outcomes in the trace: " + ", ".join(f"{k} {v}" for k, v in rep["outcomes"].items()))
    head = f"{'strategy':<44} {'USD/month':>11} {'USD/request':>12} {'quality':>8} {'vs frontier':>11}"
    lines += ["", head, "-" * len(head)]
    for s in rep["strategies"]:
        q = "-" if s["avg_quality"] is None else f"{s['avg_quality']:.4f}"
        d = "-" if s["quality_delta_vs_frontier"] is None else f"{s['quality_delta_vs_frontier']:+.4f}"
        lines.append(f"{s['label'][:44]:<44} {s['monthly_usd']:>11,.2f} {s['cost_per_request_usd']:>12.8f} "
                     f"{q:>8} {d:>11}")
    lines.append("")
    for s in rep["strategies"]:
        share = ", ".join(f"{m} {v:.1%}" for m, v in s["model_share"].items())
        extra = ""
        if s["rerouted"]:
            extra += f"; {s['rerouted']} rerouted"
        if s["unserved"]:
            extra += f"; {s['unserved']} unserved"
        lines.append(f"{s['name']:<9} {share}{extra}")
    lines.append("")
    lines.append("USD/month by task")
    for s in rep["strategies"]:
        lines.append(f"{s['name']:<9} " + ", ".join(f"{t} {v:,.2f}" for t, v in s["task_monthly_usd"].items()))
    return "\n".join(lines)


def simulate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway simulate",
                                description="Replay a trace under several routing strategies and compare cost.")
    p.add_argument("--trace", required=True, help="JSON Lines trace (see docs/cost.md)")
    p.add_argument("--config", default=os.environ.get("GATEWAY_CONFIG") or "configs/demo.yaml")
    p.add_argument("--days", type=float, default=30.0, help="days in a month (default 30)")
    p.add_argument("--trace-days", type=float, help="days the trace stands for (default: from its timestamps)")
    p.add_argument("--frontier", help="frontier model (default: the chat model costing the most for the trace)")
    p.add_argument("--mid", help=f"mid model (default {DEFAULT_MID} when configured)")
    p.add_argument("--route", default="auto", help="route whose per-task chains 'task routing' uses")
    p.add_argument("--outage", help="PROVIDER:START:END fractions of the trace (default: see docs/cost.md)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        config = load_offline_config(args.config)
        reqs = read_trace(args.trace)
        outage = parse_outage(args.outage) if args.outage else None
        rep = simulate(config, reqs, days=args.days, frontier=args.frontier, mid=args.mid, route=args.route,
                       outage=outage, trace_days=args.trace_days)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"gateway simulate: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if args.json else format_report(rep))
    return 0


if __name__ == "__main__":
    sys.exit(simulate_main(sys.argv[1:]))
