#!/usr/bin/env python
"""Benchmark gateway.routing.classify.classify: p50/p99 per call.

Prompts of 8,000 characters (prose with a pasted ticket, code with a stack trace, a
multi-turn conversation with a system prompt, and CJK text), a one-line prompt, plus the
held-out rows.

The headline figures are for the *uncached* path: the classifier memoises exact repeats of a
request, so the memo is cleared before every timed call (outside the timed region). The
"memo hit" column is what an identical request costs the second time. The "noise" line times a
fixed workload with the same median as the 8,000-character calls: on a shared machine its p99
shows how much of the classifier's p99 is the machine rather than the code.

    python scripts/bench_classifier.py [--n 3000] [--chars 8000] [--src DIR] [--stages]

``--stages`` adds, per 8,000-character request, the median thread-CPU time of each stage of an
uncached call (memo key, features of the last user turn, of the other messages, all features,
scoring), to show where a request's time goes. The stages are timed separately, so they do not
add up exactly to the call.

``--src`` benchmarks the ``gateway`` package found in another directory (e.g. a
``git worktree`` of an older commit), so before/after runs share one machine state.
``--compare DIR`` times the package in DIR ("before") and the ``--src`` one ("after") in this one
process, alternating call by call, so a change in machine load hits both alike; on a shared
machine whose speed drifts during a run, that is the fairer before/after.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent

SHORT = [{"role": "user", "content": "Say hello to the benchmark."}]


def _fill(seed: str, n: int) -> str:
    return (seed * (n // len(seed) + 1))[:n]


def prompts(chars: int) -> dict[str, list[dict]]:
    prose = (
        "Customer: Since the update our label printers freeze for forty seconds and then show an error. "
        "Agent: Thanks, which model and on how many stations does it happen? Customer: All four stations. "
    )
    code = (
        "def handler(event, context):\n    items = [normalize(x) for x in event['Records']]\n"
        "    return {'statusCode': 200, 'body': json.dumps(items)}\n"
        'Traceback (most recent call last):\n  File "/app/h.py", line 3, in handler\nKeyError: \'Records\'\n'
    )
    cjk = "昨日のリリース後、ラベルプリンターが四十秒止まってからエラーを表示します。全ての端末で起きています。"
    instr = "\n\nCan you summarize this ticket in three bullets?"
    return {
        "prose+ticket": [{"role": "user", "content": _fill(prose, chars - len(instr)) + instr}],
        "code+trace": [{"role": "user", "content": "Fix this please:\n" + _fill(code, chars - 17)}],
        "multi-turn": [
            {"role": "system", "content": "You are a helpful assistant for Quillpad support agents."},
            {"role": "user", "content": "I'll paste a ticket next."},
            {"role": "assistant", "content": "Sure, go ahead."},
            {"role": "user", "content": [{"type": "text", "text": _fill(prose, chars)}]},
        ],
        "cjk": [{"role": "user", "content": _fill(cjk, chars - 20) + "\n\n要約してください。"}],
    }


def agent_prompts() -> dict[str, list[dict]]:
    """Two agent-shaped requests of tests/data/agent_tasks.jsonl, canonical: Claude Code's first
    request (a 4,600-character prompt, a reminder block and the sub-agent list around a one-line
    request) and a Codex request with a tool step (instructions, AGENTS.md, environment)."""
    sys.path.insert(0, str(ROOT))
    from tests.agent_fixture import labelled

    rows = labelled()
    cc = next(m for m, _, c in rows if c == "claude-code" and len(m) == 3)
    codex = next(m for m, _, c in rows if c == "codex" and any(x["role"] == "tool" for x in m))
    return {"agent: Claude Code": cc, "agent: Codex + tool": codex}


def bench(classify: Callable, clear: Callable[[], None], messages: list[dict], n: int) -> tuple[list[float], list[float], list[float]]:
    """Per-call wall time and thread CPU time of uncached calls (the latter ignores time spent
    descheduled, which dominates wall-clock p99 on a shared, oversubscribed machine), and
    wall time of memo hits."""
    for _ in range(50):
        clear()
        classify(messages)
    wall, cpu, hit = [], [], []
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    for _ in range(n):
        clear()
        c = tt()
        t = pc()
        classify(messages)
        t2 = pc()
        cpu.append((tt() - c) / 1000)
        wall.append((t2 - t) / 1000)
        t = pc()
        classify(messages)  # the same request again
        hit.append((pc() - t) / 1000)
    return wall, cpu, hit


def reference_us() -> float:
    """A fixed pure-Python workload, to put the figures in context (about 8-10 µs on an
    idle modern x86 core)."""
    import timeit

    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def noise_floor(median_us: float, n: int) -> tuple[list[float], list[float], int]:
    """A fixed pure-Python workload (``sum(range(k))``) calibrated to the given median and timed
    like the classifier: its p99 is what this machine's noise alone does to a call that long."""
    k = 1000
    for _ in range(3):
        _, c, _ = bench(lambda _m, k=k: sum(range(k)), lambda: None, [], 500)
        k = max(1, int(k * median_us / pct(c, 0.5)))
    w, c, _ = bench(lambda _m: sum(range(k)), lambda: None, [], n)
    return w, c, k


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def line(name: str, wall: list[float], cpu: list[float], hit: list[float] | None = None) -> str:
    s = (
        f"{name:>26}: wall p50 {pct(wall, .5):7.1f} µs  p99 {pct(wall, .99):7.1f} µs | "
        f"cpu p50 {pct(cpu, .5):7.1f} µs  p99 {pct(cpu, .99):7.1f} µs"
    )
    if hit:
        s += f" | memo hit p50 {pct(hit, .5):5.1f} µs"
    return s


STAGE_ROUNDS = 2000


def stages(C, messages: list[dict]) -> str:
    """Median thread-CPU µs of each stage of an uncached call (the functions it is made of,
    called on their own; missing ones, e.g. in an older ``--src``, are left out)."""
    g = C.extract_features.__globals__  # the feature module of this copy of the package
    msgs = [m for m in messages if isinstance(m, dict)]
    last = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
    text = g["_content_text"](msgs[last].get("content")) if last >= 0 else ""
    model = C._MODEL
    strong, weak = C.extract_features(messages)
    fns: dict[str, Callable[[], object]] = {}
    if hasattr(C, "_cache_key"):
        fns["memo key"] = lambda: C._cache_key(messages)
    fns["last turn"] = lambda: g["_last_turn"](text, set())
    if len(msgs) > 1:
        ctx, roles = g["_context"], [m.get("role") for m in msgs]
        if "roles" in inspect.signature(ctx).parameters:  # since issue #18's agent view
            fns["other messages"] = lambda: ctx(msgs, roles, last, set(), set())
        else:
            fns["other messages"] = lambda: ctx(msgs, last, set(), set())
    fns["all features"] = lambda: C.extract_features(messages)
    fns["scoring"] = lambda: model.scores(strong, weak)
    tt = time.thread_time_ns
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(STAGE_ROUNDS):
        for k, f in fns.items():  # interleaved, so load changes affect every stage alike
            t = tt()
            f()
            times[k].append((tt() - t) / 1000)
    return "  ".join(f"{k} {pct(v, .5):.1f}" for k, v in times.items())


def load(src: str):
    """``gateway.routing.classify`` of the package in ``src``. A copy loaded before is dropped from
    ``sys.modules`` first; its functions keep working, so two copies can be timed side by side."""
    import importlib

    for k in [k for k in sys.modules if k == "gateway" or k.startswith("gateway.")]:
        del sys.modules[k]
    sys.path.insert(0, str(Path(src).resolve()))
    try:
        return importlib.import_module("gateway.routing.classify")
    finally:
        del sys.path[0]


def compare(before, after, cases: dict[str, list[dict]], n: int) -> None:
    """Uncached calls of two classifier copies, alternating (the order swaps every call)."""
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    for name, msgs in cases.items():
        res = {before: ([], []), after: ([], [])}
        for C in (before, after):
            for _ in range(50):
                C.cache_clear()
                C.classify(msgs)
        for i in range(n):
            for C in (before, after) if i % 2 else (after, before):
                w, c = res[C]
                C.cache_clear()
                c0 = tt()
                t = pc()
                C.classify(msgs)
                t2 = pc()
                c.append((tt() - c0) / 1000)
                w.append((t2 - t) / 1000)
        (bw, bc), (aw, ac) = res[before], res[after]
        print(
            f"{name:>26}: before p50 {pct(bw, .5):6.1f} p99 {pct(bw, .99):6.1f} | after p50 {pct(aw, .5):6.1f} "
            f"p99 {pct(aw, .99):6.1f} µs wall | cpu p99 before {pct(bc, .99):6.1f} after {pct(ac, .99):6.1f} | "
            f"after/before p50 {pct(aw, .5) / pct(bw, .5):.2f}, p99 {pct(aw, .99) / pct(bw, .99):.2f}, "
            f"cpu p99 {pct(ac, .99) / pct(bc, .99):.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--chars", type=int, default=8000)
    ap.add_argument("--src", default=str(ROOT), help="directory holding the gateway package to benchmark")
    ap.add_argument("--stages", action="store_true", help="also time each stage of a call (median thread-CPU µs)")
    ap.add_argument("--compare", metavar="DIR", help="time the package in DIR and --src's alternately, call by call")
    args = ap.parse_args()
    if args.compare:
        before = load(args.compare)
        C = load(args.src)
        print(f"before: {before.__file__}\nafter:  {C.__file__}")
        gc.disable()
        print(f"reference: sum(range(1000)) takes {reference_us():.1f} µs on this machine now")
        cases = {f"{k} ({args.chars} chars)": v for k, v in prompts(args.chars).items()}
        compare(before, C, cases | agent_prompts() | {"short one-line prompt": SHORT}, args.n)
        print(f"reference: sum(range(1000)) takes {reference_us():.1f} µs on this machine now")
        gc.enable()
        return
    C = load(args.src)

    classify = C.classify
    clear = getattr(C, "cache_clear", lambda: None)  # older versions had no memo
    print(f"classifier: {C.__file__}")
    gc.disable()  # measure the classifier, not collector pauses triggered by others
    print(f"reference: sum(range(1000)) takes {reference_us():.1f} µs on this machine now")
    all_w: list[float] = []
    all_c: list[float] = []
    for name, msgs in prompts(args.chars).items():
        w, c, h = bench(classify, clear, msgs, args.n)
        all_w += w
        all_c += c
        print(line(f"{name} ({args.chars} chars)", w, c, h) + f"  -> {classify(msgs)}")
    print(line(f"all {args.chars}-char prompts", all_w, all_c))
    if args.stages:
        for name, msgs in prompts(args.chars).items():
            print(f"{'stages of ' + name:>26}: {stages(C, msgs)} µs")
    w, c, k = noise_floor(pct(all_c, 0.5), args.n)
    print(line(f"(noise: sum(range({k})))", w, c) + "  <- same median, fixed work: the machine's own tail")
    w, c, h = bench(classify, clear, SHORT, args.n)
    print(line("short one-line prompt", w, c, h) + f"  -> {classify(SHORT)}")
    for name, msgs in agent_prompts().items():
        w, c, h = bench(classify, clear, msgs, args.n)
        print(line(name, w, c, h) + f"  -> {classify(msgs)}")
    held = ROOT / "tests" / "data" / "heldout_tasks.jsonl"
    if held.exists():
        import orjson

        rows = [orjson.loads(x) for x in held.read_bytes().splitlines() if x.strip()]
        ws, cs = [], []
        pc, tt = time.perf_counter_ns, time.thread_time_ns
        for _ in range(max(1, args.n // len(rows))):
            for r in rows:
                clear()
                c0 = tt()
                t = pc()
                classify(r["messages"])
                ws.append((pc() - t) / 1000)
                cs.append((tt() - c0) / 1000)
        print(line("held-out mix", ws, cs) + f" | mean wall {statistics.mean(ws):.1f} µs")
    gc.enable()


if __name__ == "__main__":
    main()
