"""Validating routes (per-task chains, quality thresholds, experiments) and the budget's pace rules."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config.model import (EXPERIMENT_PRIORITIES, PRIORITIES, TASKS, UNCERTAIN_BELOW, UNCERTAIN_POLICIES, Budget, Chain, Deployment,
                                  Experiment, Pace, Pool, Route)
from gateway.config.guardrails import guardrail_name
from gateway.config.reader import Reader, usd_to_micro
from gateway.guard.policy import GuardPolicy

CHAIN_FIELDS = {"primary", "fallbacks", "min_quality", "priority", "strategy"}


def parse_chain(r: Reader, path: str, doc: dict[str, Any], deployments: dict[str, Deployment],
                task: str | None, default_priority: str = "normal", pools: dict[str, Pool] | None = None) -> Chain:
    """A chain names models and pools (`pools`, gateway/config/pools.py); a pool is kept by name
    and expanded per request by the planner."""
    pools = pools or {}
    strategy = r.string(doc, "strategy", path, "ordered", choices=("ordered", "cheapest"))
    primary = doc.get("primary")
    if primary is None and strategy == "ordered":
        raise r.fail(f"{path}.primary", primary, "is required unless strategy is 'cheapest'")
    if primary is not None:
        primary = r.string(doc, "primary", path)
    fallbacks = r.strings(doc, "fallbacks", path)
    min_quality = r.number(doc, "min_quality", path, 0.0)
    if min_quality > 1:
        raise r.fail(f"{path}.min_quality", min_quality, "must be between 0 and 1")
    for i, model in enumerate(((primary,) if primary else ()) + fallbacks):
        where = f"{path}.primary" if primary and i == 0 else f"{path}.fallbacks[{i - (1 if primary else 0)}]"
        if model not in deployments and model not in pools:
            raise r.fail(where, model, f"unknown model or pool; defined: {sorted(deployments)}, pools: {sorted(pools)}")
        for member in pools[model].members if model in pools else (model,):
            score = dict(deployments[member].quality).get(task or "")
            if task and min_quality and i == 0 and primary and score is not None and score < min_quality:
                raise r.fail(where, member,
                             f"its {task} quality {score} is below the route's min_quality {min_quality}")
    if strategy == "cheapest" and task and not any(
            dict(d.quality).get(task, 0.0) >= min_quality for d in deployments.values() if d.kind == "chat"):
        raise r.fail(f"{path}.min_quality", min_quality, f"no model's {task} quality reaches it")
    named = tuple(dict.fromkeys(pools[m] for m in ((primary,) if primary else ()) + fallbacks if m in pools))
    return Chain(primary=primary, fallbacks=fallbacks, min_quality=min_quality,
                 priority=r.string(doc, "priority", path, default_priority, choices=PRIORITIES), strategy=strategy,
                 pools=named)


def parse_route(r: Reader, name: str, doc: Any, deployments: dict[str, Deployment],
                pools: dict[str, Pool] | None = None, guardrails: dict[str, GuardPolicy] | None = None) -> Route:
    path = f"routes.{name}"
    doc = r.mapping(doc, path, required=True)
    r.known(doc, path, CHAIN_FIELDS | {"tasks", "experiments", "on_uncertain", "uncertain_below", "guardrail"})
    tdoc = r.mapping(doc.get("tasks"), f"{path}.tasks")
    if "primary" not in doc and doc.get("strategy") != "cheapest" and not tdoc:
        raise r.fail(f"{path}.primary", None, "is required (or give per-task chains under 'tasks')")
    default_priority = doc.get("priority", "normal")
    tasks: dict[str, Chain] = {}
    for task, chain_doc in tdoc.items():
        where = f"{path}.tasks.{task}"
        if task not in TASKS:
            raise r.fail(where, task, f"unknown task; expected one of {list(TASKS)}")
        chain_doc = r.mapping(chain_doc, where, required=True)
        r.known(chain_doc, where, CHAIN_FIELDS)
        tasks[task] = parse_chain(r, where, chain_doc, deployments, task, default_priority, pools)
    if "primary" in doc or doc.get("strategy") == "cheapest":
        default = parse_chain(r, path, {k: v for k, v in doc.items() if k in CHAIN_FIELDS}, deployments, None,
                              pools=pools)
    else:  # no default chain: unknown tasks use the most demanding task's chain (safe side)
        default = tasks.get("complex_reasoning") or next(iter(tasks.values()))
    experiments = []
    edoc = doc.get("experiments") or []
    if not isinstance(edoc, list):
        raise r.fail(f"{path}.experiments", edoc, "expected a list")
    for i, exp in enumerate(edoc):
        where = f"{path}.experiments[{i}]"
        exp = r.mapping(exp, where, required=True)
        r.known(exp, where, CHAIN_FIELDS | {"name", "weight", "task", "priorities"})
        task = exp.get("task")
        if task is not None and task not in TASKS:
            raise r.fail(f"{where}.task", task, f"expected one of {list(TASKS)}")
        weight = r.number(exp, "weight", where)
        if weight > 1:
            raise r.fail(f"{where}.weight", weight, "is a share of traffic between 0 and 1")
        priorities = r.strings(exp, "priorities", where) or EXPERIMENT_PRIORITIES
        for p in priorities:
            if p not in PRIORITIES:
                raise r.fail(f"{where}.priorities", p, f"expected priorities from {list(PRIORITIES)}")
        chain = parse_chain(r, where, {k: v for k, v in exp.items() if k in CHAIN_FIELDS}, deployments, task,
                            pools=pools)
        experiments.append(Experiment(name=r.string(exp, "name", where), weight=weight, chain=chain, task=task,
                                      priorities=frozenset(priorities)))
    on_uncertain = r.string(doc, "on_uncertain", path, choices=UNCERTAIN_POLICIES) if "on_uncertain" in doc else ""
    uncertain_below = r.number(doc, "uncertain_below", path, UNCERTAIN_BELOW)
    if uncertain_below > 1:
        raise r.fail(f"{path}.uncertain_below", uncertain_below, "is a confidence between 0 and 1")
    return Route(name=name, default=default, tasks=tasks, experiments=tuple(experiments),
                 on_uncertain=on_uncertain, uncertain_below=uncertain_below,
                 guardrail=guardrail_name(r, doc, path, guardrails or {}))


def parse_budget(r: Reader, doc: Any) -> Budget:
    bdoc = r.mapping(doc, "budget")
    r.known(bdoc, "budget", {"daily_usd", "timezone", "hard_limit_usd", "pace", "at_limit"})
    tz = r.string(bdoc, "timezone", "budget", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("budget.timezone", tz, "unknown IANA timezone") from None
    daily = usd_to_micro(r.number(bdoc, "daily_usd", "budget", 0.0))
    hard = usd_to_micro(r.number(bdoc, "hard_limit_usd", "budget", daily / 1_000_000))
    if daily and hard < daily:
        raise r.fail("budget.hard_limit_usd", hard / 1_000_000, "must be at least daily_usd")
    pdoc = r.mapping(bdoc.get("pace"), "budget.pace")
    r.known(pdoc, "budget.pace", {"burst_share", "enter", "normal_enter", "exit"})
    base = Pace()
    pace = Pace(**{f: r.number(pdoc, f, "budget.pace", getattr(base, f)) for f in ("burst_share", "enter",
                                                                                  "normal_enter", "exit")})
    if not pace.exit < pace.enter <= pace.normal_enter:
        raise r.fail("budget.pace", f"exit={pace.exit} enter={pace.enter} normal_enter={pace.normal_enter}",
                     "needs exit < enter <= normal_enter")
    adoc = r.mapping(bdoc.get("at_limit"), "budget.at_limit")
    at_limit = dict(Budget().at_limit)
    for priority, policy in adoc.items():
        if priority not in PRIORITIES:
            raise r.fail(f"budget.at_limit.{priority}", priority, f"expected one of {list(PRIORITIES)}")
        at_limit[priority] = r.string(adoc, priority, "budget.at_limit", choices=("refuse", "cheapest"))
    return Budget(daily_micro=daily, timezone=tz, hard_limit_micro=hard, pace=pace, at_limit=tuple(at_limit.items()))
