"""Cost audit: where spend concentrates, and what moving each task to its cheapest good-enough
model would save.

`gateway audit --config FILE (--ledger [--redis-url URL] | --log FILE) [--day D] [--json]`
(wired by the CLI as :func:`audit_main`).

Sources:

* ``--ledger``: the ledger stream settle appends to (``{prefix}:ledger``, read with XRANGE in
  pages); only ``status == settled`` entries are requests with a model and tokens (``searches``,
  ``written``, ``written_1h`` when not 0; absent, as in entries older than them, reads as 0).
  Orphan charges (reservations that expired unsettled) carry a cost but no model or tokens: they
  are counted apart.
* ``--log FILE``: the gateway's JSON log lines; lines with ``event == "request"`` and
  ``status == 200`` are requests (fields model, task, key, cost_micro, tokens_in, tokens_out,
  cached_tokens, cache_write_tokens, cache_write_1h_tokens, web_searches).

Report: cost by task, by model, by key; the share of spend from the top 20% of request types,
where a request type is a (task, model) pair (the top ceil(20% x number of types) types by
cost); and, per task, the estimated saving of moving that task's requests to its cheapest
candidate that meets the quality threshold: the route's chain for the task (``--route``,
default the config's default route) gives candidates (a ``cheapest`` chain: every chat model)
whose configured quality for the task is >= the chain's min_quality; each candidate re-prices
the task's observed tokens (input, cached input, cache writes, output) and web searches at its
own prices (rounded up per request, exactly as settle charges) and the cheapest total wins. Saving = observed cost - that total (negative when
the task today runs on something cheaper than its threshold allows).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

import orjson

from gateway.config import MEDIA_KINDS, Config, ConfigError, Deployment
from gateway.pricing import Usage, cost_micro
from gateway.state.values import as_int, as_text

__all__ = ["Record", "records_from_ledger", "records_from_log", "concentration", "task_savings", "audit",
           "format_audit", "audit_main"]

TOP_SHARE = 0.20


@dataclass(frozen=True, slots=True)
class Record:
    task: str
    model: str
    key: str
    cost_micro: int
    tokens_in: int
    tokens_out: int
    cached: int = 0
    route: str = ""
    day: str = ""
    written: int = 0  # prompt tokens written to the provider's cache
    written_1h: int = 0
    searches: int = 0  # server-side web searches, billed per call


def records_from_ledger(entries: Iterable[Any], day: str | None = None) -> tuple[list[Record], int]:
    """Ledger stream entries (XRANGE rows ``(id, {field: value})`` or plain field dicts) ->
    (settled requests, micro-dollars charged for orphans)."""
    out: list[Record] = []
    orphan = 0
    for entry in entries:
        fields = entry[1] if isinstance(entry, (tuple, list)) else entry
        f = {as_text(k): v for k, v in fields.items()}
        if day and as_text(f.get("day")) != day:
            continue
        status = as_text(f.get("status"))
        if status == "settled":
            out.append(Record(task=as_text(f.get("task")) or "unknown",
                              model=as_text(f.get("model") or f.get("deployment")),
                              key=as_text(f.get("key")) or "-", cost_micro=as_int(f.get("cost")),
                              tokens_in=as_int(f.get("in")), tokens_out=as_int(f.get("out")),
                              cached=as_int(f.get("cached")), route=as_text(f.get("route")),
                              day=as_text(f.get("day")), written=as_int(f.get("written")),
                              written_1h=as_int(f.get("written_1h")), searches=as_int(f.get("searches"))))
        elif status == "orphan":
            orphan += as_int(f.get("cost"))
    return out, orphan


def records_from_log(lines: Iterable[str | bytes], day: str | None = None) -> list[Record]:
    """The gateway's JSON log lines -> served requests (event "request", status 200)."""
    out = []
    for line in lines:
        line = line.strip()
        if not line or line[:1] not in ("{", b"{"):
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or doc.get("event") != "request" or doc.get("status") != 200:
            continue
        if day and not str(doc.get("timestamp", "")).startswith(day):
            continue
        out.append(Record(task=doc.get("task") or "unknown", model=doc.get("model") or "-",
                          key=doc.get("key") or "-", cost_micro=as_int(doc.get("cost_micro")),
                          tokens_in=as_int(doc.get("tokens_in")), tokens_out=as_int(doc.get("tokens_out")),
                          cached=as_int(doc.get("cached_tokens")), route=doc.get("route") or "",
                          written=as_int(doc.get("cache_write_tokens")),
                          written_1h=as_int(doc.get("cache_write_1h_tokens")),
                          searches=as_int(doc.get("web_searches"))))
    return out


# --------------------------------------------------------------------------- analysis

def _group(records: list[Record], attr: str) -> list[dict[str, Any]]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in records:
        a = acc[getattr(r, attr)]
        a[0] += r.cost_micro
        a[1] += 1
        a[2] += r.tokens_in
        a[3] += r.tokens_out
    total = sum(r.cost_micro for r in records) or 1
    rows = [{"name": k, "cost_micro": v[0], "requests": v[1], "tokens_in": v[2], "tokens_out": v[3],
             "share": v[0] / total, "cost_per_request_micro": v[0] / v[1]} for k, v in acc.items()]
    rows.sort(key=lambda r: (-r["cost_micro"], r["name"]))
    return rows


def concentration(records: list[Record], top: float = TOP_SHARE) -> dict[str, Any]:
    """Share of spend from the top `top` of request types ((task, model) pairs), by cost."""
    acc: dict[tuple[str, str], int] = defaultdict(int)
    for r in records:
        acc[(r.task, r.model)] += r.cost_micro
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))
    k = math.ceil(top * len(ranked)) if ranked else 0
    total = sum(acc.values())
    top_cost = sum(c for _, c in ranked[:k])
    return {"types": len(ranked), "top_types": k, "top_fraction": top, "top_cost_micro": top_cost,
            "total_cost_micro": total, "share": (top_cost / total) if total else 0.0,
            "top": [{"task": t, "model": m, "cost_micro": c} for (t, m), c in ranked[:k]]}


def _candidates(config: Config, route_name: str, task: str, kind: str = "chat") -> tuple[list[Deployment], float]:
    """A task's candidates of the same kind as what served it: an embedding request is never
    offered a chat model (or the other way round)."""
    route = config.routes[route_name]
    chain = route.chain_for(task)
    if chain.strategy == "cheapest":
        pool = [d for d in config.deployments.values() if d.kind == kind]
    else:
        pool = [config.deployments[m] for m in chain.models
                if m in config.deployments and config.deployments[m].kind == kind]
    good = [d for d in pool if dict(d.quality).get(task, 0.0 if chain.min_quality else 1.0) >= chain.min_quality]
    return good, chain.min_quality


def reprice(records: Iterable[Record], dep: Deployment) -> int:
    return sum(cost_micro(Usage(prompt_tokens=r.tokens_in, completion_tokens=r.tokens_out, cached_tokens=r.cached,
                                cache_write_tokens=r.written, cache_write_1h_tokens=r.written_1h,
                                web_searches=r.searches),
                          dep.price) for r in records)


def task_savings(records: list[Record], config: Config, route: str | None = None) -> list[dict[str, Any]]:
    """Per task: observed cost, the cheapest candidate meeting the quality threshold, its cost
    for the same tokens and the saving."""
    route = route or config.default_route
    if route not in config.routes:
        raise ConfigError(f"route {route!r} is not in the config")
    by_task: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_task[r.task].append(r)
    rows = []
    for task, recs in by_task.items():
        observed = sum(r.cost_micro for r in recs)
        dep = config.deployments.get(recs[0].model)
        kind = dep.kind if dep else "chat"
        if kind in MEDIA_KINDS:  # priced per minute, character or image: tokens say nothing of their cost
            cands, min_q = [], 0.0
        elif kind == "embedding" and config.embedding_route:
            cands, min_q = _candidates(config, config.embedding_route, task, kind)
        else:
            cands, min_q = _candidates(config, route, task, kind)
        priced = sorted(((reprice(recs, d), d.name) for d in cands))
        best = priced[0] if priced else None
        rows.append({
            "task": task, "requests": len(recs), "cost_micro": observed,
            "models": sorted({r.model for r in recs}), "min_quality": min_q,
            "cheapest": best[1] if best else None,
            "cheapest_quality": dict(config.deployments[best[1]].quality).get(task) if best else None,
            "cheapest_cost_micro": best[0] if best else None,
            "saving_micro": (observed - best[0]) if best else 0,
        })
    rows.sort(key=lambda r: (-r["saving_micro"], r["task"]))
    return rows


def audit(records: list[Record], config: Config, route: str | None = None, orphan_micro: int = 0) -> dict[str, Any]:
    total = sum(r.cost_micro for r in records)
    savings = task_savings(records, config, route)
    saving = sum(max(0, s["saving_micro"]) for s in savings)
    return {
        "requests": len(records), "cost_micro": total, "cost_usd": total / 1e6, "orphan_cost_micro": orphan_micro,
        "by_task": _group(records, "task"), "by_model": _group(records, "model"), "by_key": _group(records, "key"),
        "concentration": concentration(records),
        "route": route or config.default_route,
        "savings": savings, "saving_micro": saving, "saving_share": (saving / total) if total else 0.0,
    }


def _usd(micro: int | float | None) -> str:
    return "-" if micro is None else f"{micro / 1e6:,.6f}"


def format_audit(rep: dict[str, Any]) -> str:
    lines = [f"{rep['requests']} requests, {_usd(rep['cost_micro'])} USD"
             + (f" (+ {_usd(rep['orphan_cost_micro'])} USD orphan charges)" if rep["orphan_cost_micro"] else "")]
    for dim in ("task", "model", "key"):
        head = f"{'by ' + dim:<26} {'cost USD':>14} {'share':>7} {'requests':>9} {'USD/request':>12}"
        lines += ["", head, "-" * len(head)]
        for r in rep[f"by_{dim}"]:
            lines.append(f"{r['name'][:26]:<26} {_usd(r['cost_micro']):>14} {r['share']:>7.1%} {r['requests']:>9} "
                         f"{r['cost_per_request_micro'] / 1e6:>12.8f}")
    c = rep["concentration"]
    lines += ["", f"top 20% of request types ({c['top_types']} of {c['types']} (task, model) pairs) = "
                  f"{c['share']:.1%} of spend: "
                  + ", ".join(f"{t['task']}/{t['model']}" for t in c["top"])]
    head = (f"{'task':<18} {'now USD':>12} {'cheapest good enough':<22} {'min q':>5} {'would cost':>12} "
            f"{'saving USD':>12}")
    lines += ["", f"moving each task to its cheapest candidate meeting its quality threshold (route {rep['route']})",
              head, "-" * len(head)]
    for s in rep["savings"]:
        lines.append(f"{s['task'][:18]:<18} {_usd(s['cost_micro']):>12} {str(s['cheapest'])[:22]:<22} "
                     f"{s['min_quality']:>5.2f} {_usd(s['cheapest_cost_micro']):>12} {_usd(s['saving_micro']):>12}")
    lines.append(f"estimated saving: {_usd(rep['saving_micro'])} USD ({rep['saving_share']:.1%} of spend)")
    return "\n".join(lines)


def audit_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gateway audit", description="Where spend concentrates, and what to move.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ledger", action="store_true", help="read the ledger stream from Redis")
    src.add_argument("--log", metavar="FILE", help="read the gateway's JSON log lines ('-' for stdin)")
    p.add_argument("--config", help="the gateway's config: key prefix, prices, quality scores, routes (default: "
                   "the running gateway's, else $GATEWAY_CONFIG, else configs/demo.yaml)")
    p.add_argument("--url", "--redis-url", dest="url", help="the state engine (default: $REDIS_URL, else the "
                   "running gateway's)")
    p.add_argument("--data-dir", help="the running gateway's data dir (default: $GATEWAY_DATA_DIR, ./.gateway)")
    p.add_argument("--day", help="only this day, YYYY-MM-DD (ledger: the budget day; log: the UTC date of the line)")
    p.add_argument("--route", help="route whose task chains give the candidates (default: the default route)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from gateway.edge import runfile
    from gateway.offline.whatif import load_offline_config

    try:
        if args.ledger:
            path, url = runfile.target(args.config, args.url, args.data_dir)
        else:
            path = args.config or os.environ.get("GATEWAY_CONFIG") or "configs/demo.yaml"
        config = load_offline_config(path)
    except (ConfigError, runfile.NotFound) as exc:
        print(f"gateway audit: {exc}", file=sys.stderr)
        return 2
    orphan = 0
    if args.ledger:
        from gateway.state.ops import open_ops

        async def fetch() -> list:
            async with open_ops(url, config.state, config.state.prefix, timeout_s=10) as ops:
                return await ops.ledger()

        records, orphan = records_from_ledger(asyncio.run(fetch()), args.day)
    else:
        try:
            fh = sys.stdin.buffer if args.log == "-" else open(args.log, "rb")
        except OSError as exc:
            print(f"gateway audit: {args.log}: {exc.strerror}", file=sys.stderr)
            return 2
        with fh:
            records = records_from_log(fh, args.day)
    try:
        rep = audit(records, config, args.route, orphan)
    except ConfigError as exc:
        print(f"gateway audit: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if args.json else format_audit(rep))
    return 0


if __name__ == "__main__":
    sys.exit(audit_main(sys.argv[1:]))
