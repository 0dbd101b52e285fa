"""Profile the gateway's hot path under load with py-spy (`pip install -e '.[bench]'`).

Starts the same stack as bench/run.py (engine, zero-latency simulator, gateway with one worker
pinned to core 0), drives JSON requests at concurrency 64 (wrk when installed, else the Python
generator), and samples the worker with `py-spy record --format raw` meanwhile (idle frames
excluded, so the samples are where the CPU goes). Prints the top functions by self time (the
leaf frame of each sample) and by total time, and keeps the collapsed stacks (open them in
speedscope, or render with inferno/flamegraph.pl) and, with --svg, py-spy's flame graph.

    python -m bench.profile [--seconds 15] [--top 10] [--stream] [--svg]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import stack
from bench.loadgen import chat_body, run_load
from bench.stack import DEMO_KEY, LOADGEN_CPU, ROOT
from bench.wrk import available as wrk_available
from bench.wrk import run_wrk

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    try:
        return str(Path(file).resolve().relative_to(ROOT))
    except ValueError:
        return file


def _name(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m['func']} ({_short(m['file'])})"


def top_functions(collapsed: str, n: int = 10) -> tuple[list[tuple[str, int, float]], list[tuple[str, int, float]], int]:
    """(self-time top, total-time top, samples) from py-spy's raw/collapsed output.

    Each line is `frame;frame;...;leaf count` with frames `func (file:line)`; self time is the
    count of samples whose leaf is the function (lines merged), total time the count of samples
    where one of the gateway's own functions appears anywhere in the stack (once per sample).
    A leaf of `Runner.run` is time in the event loop's C code (uvloop: polling, socket I/O).
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack_text.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            if "(gateway/" in name:  # inclusive time: the gateway's own functions only
                total[name] += count
    pct = lambda c: round(100.0 * c / samples, 1) if samples else 0.0  # noqa: E731
    return ([(f, c, pct(c)) for f, c in own.most_common(n)], [(f, c, pct(c)) for f, c in total.most_common(n)],
            samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--svg", action="store_true", help="also record a flame graph SVG (a second run)")
    p.add_argument("--out", default=str(ROOT / "bench-results"))
    args = p.parse_args(argv)
    spy = py_spy()
    if not spy:
        print("py-spy not found: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    if stack.can_pin():
        stack.pin_pid(os.getpid(), LOADGEN_CPU)
    engine = stack.start_engine(workdir)
    sim = gw = None
    try:
        sim = stack.start_simulator(workdir)
        gw = stack.start_gateway(workdir, stack.bench_config(workdir), engine.url, sim.port, workers=1)
        url, headers = f"{gw.url}/v1/chat/completions", {"authorization": f"Bearer {DEMO_KEY}"}
        body = chat_body("auto", args.stream)
        load_s = args.seconds + 3
        result: dict = {}

        def load() -> None:
            if wrk_available():
                r = run_wrk(url, body, headers, concurrency=args.concurrency, duration=load_s, warmup=0,
                            stream=args.stream, cpu=LOADGEN_CPU if stack.can_pin() else None)
            else:
                r = asyncio.run(run_load(url, body, headers, concurrency=args.concurrency, duration=load_s,
                                         warmup=0, stream=args.stream))
            result["load"] = r.to_dict()

        worker = stack.worker_pids(gw)[0]  # the worker serving requests, not the supervisor above it
        runs = [("raw", out_dir / f"profile-{stamp}.collapsed")]
        if args.svg:
            runs.append(("flamegraph", out_dir / f"profile-{stamp}.svg"))
        for fmt, path in runs:
            thread = threading.Thread(target=load)
            thread.start()
            time.sleep(1.5)  # connections open, steady state
            cmd = [spy, "record", "--pid", str(worker),  "--duration", str(args.seconds), "--rate",
                   str(args.rate), "--format", fmt, "--output", str(path), "--nonblocking"]
            spy_run = subprocess.run(cmd, capture_output=True, text=True)
            thread.join()
            if spy_run.returncode != 0 or not path.exists():
                print(f"py-spy failed ({spy_run.returncode}): {spy_run.stderr[-1500:]}", file=sys.stderr)
                return 1
            print(f"load during the {fmt} profile: {result['load']['rps']} req/s, errors "
                  f"{result['load']['errors']}, load average {os.getloadavg()[0]:.2f}", flush=True)
        own, total, samples = top_functions(runs[0][1].read_text(), args.top)
        print(f"\n{samples} samples at {args.rate} Hz over {args.seconds} s, "
              f"{'stream' if args.stream else 'JSON'} at concurrency {args.concurrency}")
        print("\n| # | function (file) | self samples | self % |\n|---|---|---|---|")
        for i, (name, count, pct) in enumerate(own, 1):
            print(f"| {i} | `{name}` | {count} | {pct} |")
        print("\nthe gateway's own functions by total (inclusive) time:")
        print("\n| # | function (file) | total samples | total % |\n|---|---|---|---|")
        for i, (name, count, pct) in enumerate(total, 1):
            print(f"| {i} | `{name}` | {count} | {pct} |")
        print(f"\ncollapsed stacks: {runs[0][1]}" + (f"\nflame graph: {runs[1][1]}" if args.svg else ""))
        return 0
    finally:
        stack.tear_down(workdir, engine, gw, sim)


if __name__ == "__main__":
    sys.exit(main())
