"""`gateway classifier eval FILE.jsonl`: how well the task classifier routes a labelled set, in
the route's own terms.

Each line of FILE is ``{"messages": [...], "label": "<task>"}`` (the task-routing data format).
The report gives macro-F1, precision / recall / F1 per task and the confusion matrix, then what
the errors cost under a config's route: each request is planned twice with the gateway's own
planner, once with the task the classifier gave it (and its confidence, so the route's
``on_uncertain`` policy applies) and once with its true task, and the first model of each plan
is compared:

* under quality: the model chosen has a quality for the true task below that task's
  ``min_quality`` (a missing quality counts as 0, as for ``strategy: cheapest``);
* dearer than needed: the model chosen has a higher expected cost than the true task's model;
  the report sums the difference (config prices, prompt estimate plus the default output
  length), and also how much cheaper the under-quality requests were.

Rows that carry a ``source`` (the dataset they came from) are also counted per source and
true task, since a total hides a writing style the classifier has not learnt.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.routing.classify import TASKS, classify, weights_info
from gateway.config import ApiKey, Config, ConfigError
from gateway.errors import GatewayError
from gateway.routing.plan import Planner

SHORT = {"simple_chat": "chat", "code_generation": "code", "summarization": "summ", "complex_reasoning": "reason"}
_KEY = ApiKey(name="classifier-eval", sha256=b"\0" * 32)


@dataclass
class Report:
    cm: list[list[int]] = field(default_factory=lambda: [[0] * 4 for _ in range(4)])
    under_quality: int = 0
    under_saved_micro: int = 0  # what the under-quality requests cost less than the right model
    dearer: int = 0
    dearer_extra_micro: int = 0
    cost_micro: int = 0  # expected cost as classified
    oracle_micro: int = 0  # expected cost had every request been classified right
    policy_applied: int = 0
    skipped: int = 0  # lines without a known label or messages
    by_source: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (source, task) -> [right, n]

    @property
    def n(self) -> int:
        return sum(map(sum, self.cm))

    def prf(self) -> list[tuple[float, float, float]]:
        out = []
        for k in range(4):
            tp, col, row = self.cm[k][k], sum(r[k] for r in self.cm), sum(self.cm[k])
            p, r = (tp / col if col else 0.0), (tp / row if row else 0.0)
            out.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
        return out

    def macro_f1(self) -> float:
        return sum(f for _, _, f in self.prf()) / 4


def _prompt_chars(messages: list) -> int:
    total = 0
    for m in messages:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str):
            total += len(c)
        elif isinstance(c, list):
            total += sum(len(p.get("text") or "") for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
    return total


def source_name(source: str) -> str:
    """The dataset's name without its licence and locator: "Dolly (CC BY-SA 3.0) [x:1]" -> "Dolly"."""
    return source.split(" (", 1)[0].split(" [", 1)[0].strip() or "?"


def _source_order(item: tuple[tuple[str, str], list[int]]) -> tuple[str, int]:
    (src, task), _ = item
    return src, TASKS.index(task)


def evaluate(rows: list[dict], config: Config, route: str = "auto") -> Report:
    planner = Planner(config)
    rep = Report()
    for row in rows:
        gold, messages = row.get("label"), row.get("messages")
        if gold not in TASKS or not isinstance(messages, list):
            rep.skipped += 1
            continue
        got = classify(messages)
        rep.cm[TASKS.index(gold)][TASKS.index(got.task)] += 1
        if isinstance(row.get("source"), str):
            tally = rep.by_source.setdefault((source_name(row["source"]), gold), [0, 0])
            tally[0] += got.task == gold
            tally[1] += 1
        chars = _prompt_chars(messages)
        try:
            plan = planner.plan(route, _KEY, chars, None, got.task, got.confidence)
            right = planner.plan(route, _KEY, chars, None, gold, 1.0)
        except GatewayError:  # e.g. longer than every context window: not a routing error
            continue
        rep.policy_applied += bool(plan.task_policy)
        chosen = plan.deployments[0]
        cost, oracle = plan.expected_cost_micro[0], right.expected_cost_micro[0]
        rep.cost_micro += cost
        rep.oracle_micro += oracle
        floor = config.routes[right.route].chain_for(gold).min_quality if right.route in config.routes else 0.0
        if dict(chosen.quality).get(gold, 0.0) < floor:
            rep.under_quality += 1
            rep.under_saved_micro += max(0, oracle - cost)
        elif cost > oracle:
            rep.dearer += 1
            rep.dearer_extra_micro += cost - oracle
    return rep


def format_report(rep: Report, route: str, source: str) -> str:
    usd = lambda micro: f"${micro / 1_000_000:.4f}"  # noqa: E731
    w = weights_info()
    lines = [f"classifier weights {w['version']} ({w['hash']}); route '{route}' of {source}; {rep.n} requests"
             + (f" ({rep.skipped} lines skipped: no known label or messages)" if rep.skipped else ""),
             "", f"macro-F1 {rep.macro_f1():.4f}   accuracy {sum(rep.cm[k][k] for k in range(4)) / max(1, rep.n):.4f}",
             "", f"{'task':<18} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>5}"]
    for k, (p, r, f) in enumerate(rep.prf()):
        lines.append(f"{TASKS[k]:<18} {p:>9.3f} {r:>7.3f} {f:>6.3f} {sum(rep.cm[k]):>5}")
    lines += ["", "confusion (rows: true task, columns: classified as)",
              f"{'':<18}" + "".join(f"{SHORT[t]:>8}" for t in TASKS)]
    lines += [f"{TASKS[k]:<18}" + "".join(f"{x:>8}" for x in rep.cm[k]) for k in range(4)]
    lines += ["", "cost of the errors on this route (first model of each plan, config prices):",
              f"  sent to a model under the task's min_quality: {rep.under_quality} requests "
              f"({usd(rep.under_saved_micro)} cheaper than the right model)",
              f"  sent to a dearer model than needed:           {rep.dearer} requests, {usd(rep.dearer_extra_micro)} extra",
              f"  expected cost as classified {usd(rep.cost_micro)}, if every task were right {usd(rep.oracle_micro)}",
              f"  on_uncertain policy applied: {rep.policy_applied} requests"]
    if rep.by_source:
        lines += ["", "right per source and true task"]
        lines += [f"  {src[:40]:<40} {SHORT[task]:<7} {right:>5}/{n:<5} {right / n:.3f}"
                  for (src, task), (right, n) in sorted(rep.by_source.items(), key=_source_order)]
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    """`gateway classifier eval FILE`."""
    e = sub.add_parser("eval", help="macro-F1, per-task P/R/F1, confusion and the cost of errors on a labelled set")
    e.add_argument("file", help='JSON Lines: {"messages": [...], "label": "<task>"} per line')
    e.add_argument("--config", default=os.environ.get("GATEWAY_CONFIG") or "configs/demo.yaml")
    e.add_argument("--route", default="auto", help="route (or model alias) whose chains price the errors")


def run(args: argparse.Namespace) -> int:
    from gateway.offline.whatif import load_offline_config

    try:
        config = load_offline_config(args.config)
    except ConfigError as exc:
        print(f"gateway: {exc}")
        return 2
    try:
        rows = [orjson.loads(line) for line in Path(args.file).read_bytes().splitlines() if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"gateway: cannot read {args.file}: {exc}")
        return 2
    route = config.default_route if args.route == "auto" else args.route
    if route not in config.routes:
        print(f"gateway: no route '{route}' in {args.config}; routes: {sorted(config.routes)}")
        return 2
    rep = evaluate(rows, config, route)
    if not rep.n:
        print(f"gateway: no labelled requests in {args.file} (each line needs messages and a known label)")
        return 2
    print(format_report(rep, route, args.config))
    return 0
