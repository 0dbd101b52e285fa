"""What-if: replay a trace of requests under several routing strategies and compare cost.

`gateway whatif [--trace FILE] [--config FILE] [--json] [--days 30]` (wired by the CLI as
:func:`whatif_main`; `gateway simulate` is its old name, still accepted with a deprecation line).
Without `--trace` it replays the built-in sample trace (`gateway.offline.sample_trace`: 20,000
requests standing for a fifth of a day at 100,000 requests a day).

A trace is JSON Lines, one request a line::

    {"ts": 1767225600.0, "messages": [{"role": "user", "content": "..."}]}
    {"ts": 1767225600.9, "prompt_tokens": 150, "completion_tokens": 40, "task": "code_generation"}

* ``ts`` (unix seconds) is required; ``user`` (the end user, for the route's sticky experiments;
  a line without one is its own end user, so an experiment takes its configured share) and
  ``outcome`` (what happened in production; counted and reported, never used to drop a line) are
  optional.
* With ``messages`` the task comes from the REAL classifier (:func:`gateway.routing.classify.classify`),
  unless the line also names a ``task``; prompt tokens are the line's ``prompt_tokens`` or the
  gateway's own estimate (about four characters a token).
* With only token counts the task is the line's ``task`` (``simple_chat`` when absent: what the
  classifier says of a request with no text).
* Completion tokens are the line's ``completion_tokens``; when absent they are estimated per task
  with :data:`DEFAULT_OUTPUT_TOKENS`.
* ``cached_tokens``, ``cache_write_tokens``, ``cache_write_1h_tokens`` (parts of the prompt) and
  ``web_searches`` are optional (0): each strategy prices them at the serving model's own
  ``cached_input``, ``cache_write``/``cache_write_1h`` and ``web_search`` (per call, or once a
  request for ``web_search_unit: request``); the report says how much of each month is searches.
* What a line needs a model to take (``models.<name>.supports``) is read as on a live request
  (:func:`gateway.routing.needs.request_needs`: image, audio and file parts in ``messages``, tool
  turns, a line's ``tools`` or json_schema ``response_format``), plus ``web_search`` for a line
  with ``web_searches``: the planner skips a model lacking one, and a strategy (a named model, or
  a route) with no capable model leaves the line unserved.

Every request is planned by the REAL planner (:class:`gateway.routing.plan.Planner`) with the config, and
priced by the REAL price function (:func:`gateway.pricing.cost_micro`, integer micro-dollars,
rounded up per request, exactly like settle). Strategies:

* ``frontier``: everything on the frontier model (``--frontier``; default the chat deployment
  with the highest mean quality score in the config);
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

Module layout: this module is the CLI, the report and the offline config loader; traces are read in
`gateway.offline.trace` and the strategies run in `gateway.offline.strategies` (names re-exported here).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from gateway.config import Config, ConfigError, load_config
from gateway.offline.strategies import DEFAULT_MID, StrategyResult, simulate
from gateway.offline.trace import DEFAULT_OUTPUT_TOKENS, TraceRequest, parse_trace_line, read_trace, trace_span_s

__all__ = ["DEFAULT_OUTPUT_TOKENS", "TraceRequest", "StrategyResult", "load_offline_config", "read_trace",
           "parse_trace_line", "simulate", "format_report", "simulate_main", "whatif_main", "trace_span_s"]


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
    return load_config(path, _OfflineEnv(os.environ), need_keys=False)


# --------------------------------------------------------------------------- report and CLI

def parse_outage(text: str) -> tuple[str, float, float]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise ValueError("--outage is PROVIDER:START_FRACTION:END_FRACTION, e.g. anthropic:0.45:0.55")
    start, end = float(parts[1]), float(parts[2])
    if not 0 <= start < end <= 1:
        raise ValueError("--outage fractions need 0 <= START < END <= 1")
    return parts[0], start, end


def savings_line(rep: dict[str, Any]) -> str:
    """Routing against all-frontier and all-mid-tier, in one sentence."""
    s = {x["name"]: x for x in rep["strategies"]}
    routing = s["routing"]["monthly_usd"]

    def vs(name: str) -> str:
        other = s[name]["monthly_usd"]
        if not other:
            return f"{rep[name]}: -"
        change = (routing - other) / other
        return f"{'saves' if change < 0 else 'costs'} {abs(change):.0%} against all on {rep[name]}"

    return f"task routing ({rep['route']}): {vs('frontier')}, {vs('mid')}"


def pricing_notes(rep: dict[str, Any]) -> list[str]:
    """What beyond plain tokens the trace carries, and how each strategy prices it."""
    out = []
    if rep["cached_tokens"] or rep["cache_write_tokens"]:
        out.append(f"cache: {rep['cached_tokens']:,} read and {rep['cache_write_tokens']:,} written prompt tokens, "
                   "at each model's cached_input / cache_write prices (the same counts assumed on every model)")
    if rep["web_searches"]:
        out.append(f"web searches: {rep['web_searches']:,} in {rep['searching_requests']:,} requests, at each "
                   "model's price.web_search (per call, or once a request for web_search_unit: request)")
        for s in rep["strategies"]:
            free = f"; {s['unpriced_searches']:,} on models with no search price, counted free" \
                if s["unpriced_searches"] else ""
            out.append(f"  {s['name']:<9} searches {s['search_monthly_usd']:,.2f} USD/month{free}")
    if rep["needs"]:
        out.append("capabilities needed: " + ", ".join(f"{c} {n:,}" for c, n in rep["needs"].items())
                   + " requests; a model whose `supports` lacks one is skipped, as live (unserved if none is left)")
    return out


def format_report(rep: dict[str, Any]) -> str:
    lines = [
        f"trace: {rep['requests']} requests over {rep['span_days']:g} days "
        f"({rep['requests_per_day']:,.0f}/day), avg {rep['avg_prompt_tokens']:g} in / "
        f"{rep['avg_completion_tokens']:g} out tokens; monthly = {rep['days']:g} days",
        "tasks: " + ", ".join(f"{t} {s:.1%}" for t, s in rep["task_share"].items()),
    ]
    if rep["outcomes"]:
        lines.append("outcomes in the trace: " + ", ".join(f"{k} {v}" for k, v in rep["outcomes"].items()))
    lines += pricing_notes(rep)
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
    lines += ["", savings_line(rep), ""]
    lines.append("USD/month by task")
    for s in rep["strategies"]:
        lines.append(f"{s['name']:<9} " + ", ".join(f"{t} {v:,.2f}" for t, v in s["task_monthly_usd"].items()))
    return "\n".join(lines)


SAMPLE = (100_000, 0.2, 1)  # requests a day, days, seed: 20,000 lines, about 2 s to replay


def whatif_main(argv: list[str], prog: str = "gateway whatif") -> int:
    p = argparse.ArgumentParser(prog=prog,
                                description="Replay a trace under several routing strategies and compare cost.")
    p.add_argument("--trace", help="JSON Lines trace (see docs/cost.md; default: the built-in sample trace, "
                   "100,000 short requests a day)")
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
        reqs = read_trace(args.trace) if args.trace else sample_requests()
        outage = parse_outage(args.outage) if args.outage else None
        rep = simulate(config, reqs, days=args.days, frontier=args.frontier, mid=args.mid, route=args.route,
                       outage=outage, trace_days=args.trace_days)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if not args.trace and not args.json:
        print("trace: the built-in sample (gateway/offline/sample_trace.py); --trace FILE replays yours")
    print(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if args.json else format_report(rep))
    return 0


def sample_requests() -> list[TraceRequest]:
    from gateway.offline.sample_trace import generate

    return [parse_trace_line(line, f"sample:{i + 1}") for i, line in enumerate(generate(*SAMPLE))]


def simulate_main(argv: list[str]) -> int:
    """`gateway simulate`, the old name: one deprecation line on stderr, then `gateway whatif`."""
    print("gateway: `gateway simulate` is now `gateway whatif` (the old name goes in a later release)",
          file=sys.stderr)
    return whatif_main(argv, prog="gateway simulate")


if __name__ == "__main__":
    sys.exit(whatif_main(sys.argv[1:]))
