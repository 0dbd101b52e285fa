"""`make soak`: mixed traffic for 20 minutes; RSS per worker at start and end, errors.

Starts the engine, the simulator and the gateway (two workers by default, unpinned) and drives
it with a closed loop of `--concurrency` clients cycling through a mix of JSON and streamed
requests over several routes and models (auto with different tasks, frontier, cheap, a
concrete model). Samples each worker's RSS every `--sample` seconds; the start figure is taken
after the warm-up. The issue's target: RSS per worker flat within 10% over 20 minutes at load.

    python -m bench.soak [--minutes 20] [--concurrency 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import orjson

from bench import stack
from bench.loadgen import DONE, chat_body, install_uvloop
from bench.stack import DEMO_KEY, ROOT

MIX = (  # (model, stream, prompt)
    ("auto", False, "Say hello to the soak test."),
    ("auto", True, "Write a Python function that reverses a linked list."),
    ("auto", False, "Summarize this paragraph: the gateway keeps its shared state in Redis."),
    ("frontier", True, "Prove that the square root of two is irrational, step by step."),
    ("cheap", False, "Translate 'good morning' into French."),
    ("gpt-5.4-mini", True, "Count to five."),
)


async def drive(url: str, seconds: float, concurrency: int, on_sample, sample_s: float) -> dict:
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    bodies = [(chat_body(m, s, prompt=p), s, f"{m}/{'stream' if s else 'json'}") for m, s, p in MIX]
    cycle = itertools.cycle(range(len(bodies)))
    headers = {"content-type": "application/json", "authorization": f"Bearer {DEMO_KEY}"}
    end = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < end:
            body, stream, label = bodies[next(cycle)]
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    data = await resp.read()
                    if resp.status != 200:
                        errors[f"{label}:status_{resp.status}"] += 1
                    elif stream and not data.rstrip().endswith(DONE):
                        errors[f"{label}:stream_no_done"] += 1
                    else:
                        counts[label] += 1
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                errors[f"{label}:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.05)

    async def sampler() -> None:
        while time.monotonic() < end:
            await asyncio.sleep(min(sample_s, max(0.0, end - time.monotonic())))
            on_sample(sum(counts.values()), sum(errors.values()))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(sampler(), *(client(session) for _ in range(concurrency)))
    return {"ok": dict(counts), "errors": dict(errors)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=60.0, help="seconds of load before the start RSS")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sample", type=float, default=60.0, help="seconds between RSS samples")
    p.add_argument("--out", default=str(ROOT / "bench-results"))
    args = p.parse_args(argv)
    install_uvloop()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    engine = stack.start_engine(workdir, cpu=None)
    sim = gw = None
    try:
        sim = stack.start_simulator(workdir, cpu=None)
        config = stack.bench_config(workdir, budget_usd=1_000_000)
        gw = stack.start_gateway(workdir, config, engine.url, sim.port, workers=args.workers, cpu=None)
        pids = stack.worker_pids(gw) if args.workers > 1 else [gw.process.pid]
        samples: list[dict] = []
        t0 = time.monotonic()

        def on_sample(ok: int, errs: int) -> None:
            rss = stack.rss_mb(pids)
            samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_mb": rss, "ok": ok, "errors": errs})
            print(f"soak t+{time.monotonic() - t0:6.0f}s  ok {ok:>8}  errors {errs:>5}  RSS MB "
                  + "  ".join(f"{pid}: {mb}" for pid, mb in rss.items())
                  + f"  load {os.getloadavg()[0]:.2f}", flush=True)

        print(f"soak: {args.minutes:g} min after {args.warmup:g} s warm-up, {args.workers} worker(s) {pids}, "
              f"concurrency {args.concurrency}, mix: {', '.join(m + ('/stream' if s else '/json') for m, s, _ in MIX)}",
              flush=True)
        url = f"{gw.url}/v1/chat/completions"
        warm = asyncio.run(drive(url, args.warmup, args.concurrency, lambda *_: None, args.warmup + 1))
        start_rss = stack.rss_mb(pids)
        t0 = time.monotonic()
        on_sample(0, 0)
        result = asyncio.run(drive(url, args.minutes * 60, args.concurrency, on_sample, args.sample))
        end_rss = stack.rss_mb(pids)
    finally:
        stack.tear_down(workdir, engine, gw, sim)
    growth = {pid: round(100.0 * (end_rss.get(pid, 0) - mb) / mb, 1) for pid, mb in start_rss.items() if mb}
    total_ok, total_err = sum(result["ok"].values()), sum(result["errors"].values())
    report = {"date": stamp, "minutes": args.minutes, "warmup_s": args.warmup, "workers": args.workers,
              "concurrency": args.concurrency, "pids": pids, "rss_mb_start": start_rss, "rss_mb_end": end_rss,
              "rss_growth_pct": growth, "ok": total_ok, "errors": total_err, "by_kind": result,
              "warmup": warm, "samples": samples, "loadavg_end": os.getloadavg()}
    path = out_dir / f"soak-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    print(f"\nsoak: {total_ok} requests OK ({total_ok / (args.minutes * 60):.0f}/s), {total_err} errors "
          f"{result['errors'] or ''}")
    for pid in pids:
        print(f"  worker {pid}: RSS {start_rss.get(pid)} MB -> {end_rss.get(pid)} MB ({growth.get(pid, 0):+.1f}%)")
    flat = all(abs(g) <= 10 for g in growth.values())
    print(f"RSS per worker within 10%: {'yes' if flat else 'NO'}\nresults: {path}")
    return 0 if flat and total_err == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
