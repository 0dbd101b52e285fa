#!/usr/bin/env python
"""Per-request classify time over a mixed stream: one-line prompts, the held-out rows (30 to
6,000 characters), agent-shaped requests (Claude Code and Codex bodies from
tests/data/agent_tasks.jsonl, made canonical by the gateway's inbound translators: a 4,000-6,000
character agent prompt around a short request, some with tool steps), application requests (a
short system prompt naming the task and the material, tests/data/app_tasks.jsonl) and
8,000-character prompts.

    python scripts/bench_classifier_mix.py [--n 4000] [--seed 1] [--src DIR]

``--src DIR`` times the classifier of the gateway package in DIR (e.g. ``git archive main gateway``
unpacked there); the requests are still made canonical by this checkout's translators.

Every call is uncached (the memo is cleared before it, outside the timed region); the requests
are drawn at random and timed in that shuffled order, so a change of machine speed hits every
kind alike. Prints median and p99 (wall clock and thread CPU) per kind and overall, and the
reference line ``sum(range(1000))`` before and after: about 10 µs when this shared machine is in
its fast state, about 25 µs in its slow one.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import orjson  # noqa: E402

from bench_classifier import SHORT, load, pct, prompts, reference_us  # noqa: E402
from tests.agent_fixture import labelled  # noqa: E402

ONE_LINERS = ["Say hello to the benchmark.", "what's the capital of peru", "thanks!", "regex for a uk postcode",
              "is 2^31 - 1 prime?"]


def population() -> dict[str, list[list[dict]]]:
    held = ROOT / "tests" / "data" / "heldout_tasks.jsonl"
    app = ROOT / "tests" / "data" / "app_tasks.jsonl"
    agent = labelled()
    return {
        "one-line prompt": [SHORT] + [[{"role": "user", "content": t}] for t in ONE_LINERS],
        "held-out rows": [orjson.loads(x)["messages"] for x in held.read_bytes().splitlines() if x.strip()],
        "agent: Claude Code": [m for m, _, c in agent if c == "claude-code"],
        "agent: Codex": [m for m, _, c in agent if c == "codex"],
        "app: system + material": [orjson.loads(x)["messages"] for x in app.read_bytes().splitlines() if x.strip()],
        "8,000-char prompt": list(prompts(8000).values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="requests timed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--src", default=str(ROOT), help="directory holding the gateway package to time")
    args = ap.parse_args()
    pop = population()
    C = load(args.src)
    classify, cache_clear = C.classify, C.cache_clear
    print(f"classifier: {C.__file__}")
    rng = random.Random(args.seed)
    kinds = list(pop)
    stream = [(k, rng.choice(pop[k])) for k in rng.choices(kinds, weights=[2, 3, 3, 2, 2, 1], k=args.n)]
    for _, msgs in stream[:200]:  # warm-up
        cache_clear()
        classify(msgs)
    print(f"reference: sum(range(1000)) takes {reference_us():.1f} µs now (fast state ~10 µs, slow ~25 µs)")
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    gc.disable()
    for kind, msgs in stream:
        cache_clear()
        c = tt()
        t = pc()
        classify(msgs)
        t2 = pc()
        cpu[kind].append((tt() - c) / 1000)
        wall[kind].append((t2 - t) / 1000)
    gc.enable()
    print(f"reference: sum(range(1000)) takes {reference_us():.1f} µs now")
    for kind in kinds + ["all"]:
        w = wall[kind] if kind != "all" else [x for k in kinds for x in wall[k]]
        c = cpu[kind] if kind != "all" else [x for k in kinds for x in cpu[k]]
        print(f"{kind:>20}: n {len(w):5}  wall p50 {pct(w, .5):6.1f} µs  p99 {pct(w, .99):6.1f} µs | "
              f"cpu p50 {pct(c, .5):6.1f} µs  p99 {pct(c, .99):6.1f} µs")


if __name__ == "__main__":
    main()
