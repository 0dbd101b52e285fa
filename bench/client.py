"""The upstream client alone: CPU per call and calls/s of `gateway.net.http1` against aiohttp.

Each measurement is a child process (uvloop, like the gateway's workers) that makes `--calls`
POSTs of a small chat completion to the provider simulator, `--concurrency` at a time, after a
warm-up, and reports its own CPU time per call (what the client costs the worker) and calls/s.
Kinds alternate round by round. `--base DIR` adds the same measurement with the `gateway` package
of another tree (e.g. `git archive main | tar -x -C DIR`), to show that a change to the client
costs nothing on the direct path.

    python -m bench.client [--calls 3000] [--concurrency 1,32] [--rounds 5] [--base DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hello"}]}).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sim-local-key"}


async def measure(kind: str, url: str, calls: int, concurrency: int) -> dict[str, float]:
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as resp:
                await resp.read()
                assert resp.status == 200

        close = session.close
    else:
        from gateway.net.http1 import Client

        client = Client()

        async def one() -> None:
            resp = await client.request("POST", url, HEADERS, BODY, connect_timeout=5, head_timeout=30)
            await resp.read(time.monotonic() + 30, 30, 1 << 24)
            resp.release()
            assert resp.status == 200

        async def close() -> None:
            client.close()

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    await asyncio.gather(*(worker(max(1, calls // 10 // concurrency)) for _ in range(concurrency)))  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await close()
    done = calls // concurrency * concurrency
    return {"cpu_us_per_call": cpu / done * 1e6, "calls_per_s": done / wall}


def child(args: argparse.Namespace) -> int:
    import uvloop

    import gateway

    result = uvloop.run(measure(args.child, args.url, args.calls, args.concurrency))
    result["gateway_package"] = str(Path(gateway.__file__).parent)
    print(json.dumps(result))
    return 0


def run_one(kind: str, tree: Path | None, url: str, calls: int, concurrency: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "aiohttp" if kind == "aiohttp" else "http1",
           "--url", url, "--calls", str(calls), "--concurrency", str(concurrency)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"{kind}: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    expected = (tree or ROOT) / "gateway"
    if kind != "aiohttp" and Path(result["gateway_package"]) != expected.resolve():
        raise RuntimeError(f"{kind} ran {result['gateway_package']}, not {expected}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--concurrency", default="1,32")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--base", type=Path, default=None, help="a tree whose gateway.net.http1 to compare")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.concurrency = int(args.concurrency)
        return child(args)
    sys.path.insert(0, str(ROOT))
    from bench.stack import start_simulator

    kinds: list[tuple[str, Path | None]] = [("http1", None), ("aiohttp", None)]
    if args.base:
        kinds.insert(1, ("http1 (base)", args.base.resolve()))
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        sim = start_simulator(Path(tmp), cpu=None)
        url = f"{sim.url}/v1/chat/completions"
        try:
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                results: dict[str, list[dict[str, float]]] = {kind: [] for kind, _ in kinds}
                for r in range(args.rounds):
                    order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]  # rotated: no kind always first
                    for kind, tree in order:
                        results[kind].append(run_one(kind, tree, url, args.calls, concurrency))
                print(f"\nconcurrency {concurrency}, {args.calls} calls x {args.rounds} rounds (median [min-max])")
                print(f"{'client':<16}{'CPU µs/call':>28}{'calls/s':>26}")
                for kind, rows in results.items():
                    cpu = [x["cpu_us_per_call"] for x in rows]
                    rate = [x["calls_per_s"] for x in rows]
                    print(f"{kind:<16}{statistics.median(cpu):>12.1f} [{min(cpu):.1f}-{max(cpu):.1f}]"
                          f"{statistics.median(rate):>12,.0f} [{min(rate):,.0f}-{max(rate):,.0f}]")
        finally:
            sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
