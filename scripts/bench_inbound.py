#!/usr/bin/env python
"""Time the request path before the upstream call, stage by stage, for agent-sized bodies: an
Anthropic Messages body as Claude Code sends it late in a session (~50 kB, 121 messages, 15 tools,
`scripts/agent_bodies.py`), the same conversation as an OpenAI chat body and as a Responses body.

Stages (each timed alone, median of `--n` calls after a warm-up, in µs):

* `json`: `parse_json` (orjson), `depth`: `check_depth` (the nesting bound),
* `translate`: the inbound translator to the canonical body (Anthropic, Responses),
* `validate`: `chat_request` (the canonical checks and the prompt's size in characters),
* `parse`: the inbound's whole `parse` (the stages above, as the pipeline calls it),
* `bound`: `chat_prompt_bound` for the chain's family ("anthropic", "o200k") and for "any", its
  memo of long texts cleared before each call (an agent session's first turn),
* `bound_next`: the same on a body parsed afresh (new string objects) with the memo holding the
  previous turn's texts: what a later turn of the session pays,
* `classify`: the task classifier, its memo cleared before each call (every turn is new),
* `path`: parse + bound (family) + classify, what one request pays before admit on a later turn
  (the bound's memo warm, the classifier's cleared: the last turn is new).

    python scripts/bench_inbound.py [--n 300] [--src DIR]
    python scripts/bench_inbound.py --compare BEFORE_DIR [--rounds 4]

`--src DIR` times the `gateway` package in DIR (e.g. `git archive main | tar -x -C DIR`).
`--compare BEFORE_DIR` alternates runs of BEFORE_DIR's package and this checkout's, each in its
own process, `--rounds` times, and prints every run, so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("json", "depth", "translate", "validate", "parse", "bound", "bound_any", "bound_next", "classify",
          "path")


def median_us(fn: Callable[[], Any], n: int) -> float:
    for _ in range(max(5, n // 10)):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(n: int) -> dict[str, dict[str, float]]:
    import orjson

    import agent_bodies
    from gateway.inbound.anthropic import AnthropicMessages
    from gateway.inbound.anthropic.request import to_canonical
    from gateway.inbound.openai_chat import OpenAIChat
    from gateway.inbound.responses import Responses
    from gateway.inbound.responses.request import canonical_body
    from gateway.pipeline.request import chat_request, parse_json
    from gateway.pipeline.schema import check_depth
    from gateway.pipeline import tokens
    from gateway.pipeline.tokens import chat_prompt_bound
    from gateway.routing.classify import cache_clear, classify

    cases = (("anthropic", agent_bodies.claude_code(), AnthropicMessages(), to_canonical, "anthropic"),
             ("openai chat", agent_bodies.openai_chat(), OpenAIChat(), None, "o200k"),
             ("responses", agent_bodies.responses(), Responses(), canonical_body, "o200k"))
    out: dict[str, dict[str, float]] = {}
    for name, body, inbound, translate, family in cases:
        raw = orjson.dumps(body)
        parsed = parse_json(raw)
        canonical = translate(parsed) if translate else parsed
        chat = inbound.parse(raw)

        def uncached() -> Any:
            cache_clear()
            return classify(chat.messages)

        memo = getattr(tokens, "MEMO", None)  # absent before the memo (--compare with older code)

        def first_turn(fam: str = family) -> Any:
            if memo is not None:
                memo.clear()
            return chat_prompt_bound(chat.body, fam)

        fresh = [inbound.parse(raw).body for _ in range(n + max(5, n // 10))]

        def next_turn() -> Any:
            return chat_prompt_bound(fresh.pop(), family)

        def path() -> None:
            c = inbound.parse(raw)
            chat_prompt_bound(c.body, family)
            cache_clear()
            classify(c.messages)

        row = {"bytes": float(len(raw)), "json": median_us(lambda: parse_json(raw), n),
               "depth": median_us(lambda: check_depth(raw, parsed), n)}
        if translate:
            row["translate"] = median_us(lambda: translate(parsed), n)
        row["validate"] = median_us(lambda: chat_request(canonical), n)
        row["parse"] = median_us(lambda: inbound.parse(raw), n)
        row["bound"] = median_us(first_turn, n)
        row["bound_any"] = median_us(lambda: first_turn("any"), n)
        chat_prompt_bound(chat.body, family)  # the previous turn's texts
        row["bound_next"] = median_us(next_turn, n)
        row["classify"] = median_us(uncached, n)
        row["path"] = median_us(path, n)
        out[name] = row
    return out


def table(label: str, results: dict[str, dict[str, float]]) -> str:
    lines = [f"{label}", f"  {'body':<12}{'bytes':>7}" + "".join(f"{s:>10}" for s in STAGES)]
    for name, row in results.items():
        cells = "".join(f"{row[s]:>10.0f}" if s in row else f"{'-':>10}" for s in STAGES)
        lines.append(f"  {name:<12}{row['bytes']:>7.0f}{cells}")
    return "\n".join(lines)


def run_in(src: Path, n: int) -> dict[str, dict[str, float]]:
    out = subprocess.run([sys.executable, __file__, "--src", str(src), "--n", str(n), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="calls per stage (median)")
    parser.add_argument("--src", default=str(ROOT), help="directory holding the gateway package to time")
    parser.add_argument("--compare", metavar="BEFORE_DIR", help="alternate runs of BEFORE_DIR and this checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        for r in range(args.rounds):
            for label, src in (("before", Path(args.compare)), ("after", ROOT)):
                print(table(f"round {r + 1} {label} ({src}), median µs per request", run_in(src, args.n)), flush=True)
        return
    sys.path[:0] = [str(Path(args.src).resolve()), str(ROOT / "scripts")]
    results = measure(args.n)
    print(json.dumps(results) if args.json else table(f"{args.src}: median µs per request", results))


if __name__ == "__main__":
    main()
