"""Runtime keys of one team under load: how many answers are not 200, and which.

    python -m bench.keys_load [--concurrency 64] [--duration 20] [--replicas 1] [--workers 2]

Starts a real engine, the provider simulator and `gateway serve` (configs/demo.yaml: the state
timeout of 250 ms, a global hard budget), makes a team with roomy limits and `--keys` runtime keys
in it through the admin API, then runs `--concurrency` closed-loop clients for `--duration`
seconds, each request with the next key on the next replica. It prints the count of every
(status, error code) pair, the gateway's own failure log lines and the load average before and
after (`os.getloadavg`, as `uptime` shows it). A check of failures, not a speed figure: the
throughput it prints depends on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench.loadgen import chat_body
from bench.stack import (bench_config, gateway_failures, http_send, start_engine, start_gateway,
                         start_simulator)

ADMIN = {"authorization": "Bearer sk-gateway-admin"}


def make_keys(url: str, n: int) -> list[str]:
    """A team (no budget reachable, no rate limit) and `n` keys in it; their secrets."""
    status, _, body = http_send("POST", f"{url}/admin/teams", {"id": "load", "daily_budget_usd": 1000,
                                                               "monthly_budget_usd": 10000}, ADMIN)
    if status != 201:
        raise RuntimeError(f"team: {status} {body[:200]!r}")
    secrets = []
    for i in range(n):
        status, _, body = http_send("POST", f"{url}/admin/keys", {"name": f"load-{i}", "team": "load",
                                                                  "daily_budget_usd": 100}, ADMIN)
        if status != 201:
            raise RuntimeError(f"key: {status} {body[:200]!r}")
        secrets.append(json.loads(body)["key"])
    return secrets


async def hammer(urls: list[str], keys: list[str], concurrency: int, duration: float) -> Counter[str]:
    """Closed-loop clients, round-robin over replicas and keys: count of `status code`."""
    counts: Counter[str] = Counter()
    body = chat_body()
    end = time.monotonic() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def client(c: int) -> None:
            i = c
            while time.monotonic() < end:
                headers = {"authorization": f"Bearer {keys[i % len(keys)]}", "content-type": "application/json"}
                try:
                    async with session.post(f"{urls[i % len(urls)]}/v1/chat/completions", data=body,
                                            headers=headers) as resp:
                        text = await resp.read()
                        code = ""
                        if resp.status != 200:
                            try:
                                code = json.loads(text)["error"]["code"] or ""
                            except (ValueError, KeyError, TypeError):
                                code = "?"
                        counts[f"{resp.status} {code}".strip()] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    counts[type(exc).__name__] += 1
                i += 1
        await asyncio.gather(*(client(c) for c in range(concurrency)))
    return counts


def _script_shas() -> dict[str, str]:
    from gateway.state.scripts import ENTRY_SCRIPTS, Scripts

    return {name: s.sha for name, s in Scripts(None).scripts.items() if name in ENTRY_SCRIPTS}


def _command_name(command: bytes, scripts: dict[str, str]) -> str:
    words = command.split()
    if words[0].upper() == b"EVALSHA" and len(words) > 1:
        return scripts.get(words[1].decode(), "script?")
    return words[0].decode()


def engine_watch(url: str, start: bool) -> None:
    """The engine's own view: its latency monitor (events over 50 ms) and slow log (over 10 ms),
    so a stall inside the engine is told apart from a client that did not read its reply."""
    import redis

    r = redis.Redis.from_url(url, socket_timeout=5)
    try:
        if start:
            r.config_set("latency-monitor-threshold", 50)
            r.config_set("slowlog-log-slower-than", 10_000)
            r.latency_reset()
            r.slowlog_reset()
            return
        print("engine latency events over 50 ms (event, last at, last ms, max ms):",
              r.execute_command("LATENCY", "LATEST") or "none")
        slow = sorted(r.slowlog_get(128), key=lambda e: -e["duration"])
        scripts = {sha: name for name, sha in _script_shas().items()}
        kinds = Counter(_command_name(e["command"], scripts) for e in slow)
        print(f"engine commands over 10 ms (the last {len(slow)} at most 128): {dict(kinds)}; the longest:",
              [(e["duration"] // 1000, _command_name(e["command"], scripts)) for e in slow[:5]], "ms")
    finally:
        r.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.keys_load", description=__doc__.split("\n")[0])
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--keys", type=int, default=3)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="keys-load-"))
    engine = start_engine(work, cpu=None)
    sim = start_simulator(work, cpu=None)
    gws = []
    try:
        config = bench_config(work)
        gws = [start_gateway(work, config, engine.url, sim.port, workers=args.workers, cpu=None)
               for _ in range(args.replicas)]
        keys = make_keys(gws[0].url, args.keys)
        engine_watch(engine.url, True)
        before = os.getloadavg()
        counts = asyncio.run(hammer([g.url for g in gws], keys, args.concurrency, args.duration))
        after = os.getloadavg()
        total = sum(counts.values())
        print(f"{total} requests in {args.duration:.0f} s at c={args.concurrency} over {args.replicas} replica(s) "
              f"x {args.workers} workers, {args.keys} runtime keys of one team")
        for what, n in counts.most_common():
            print(f"  {what:40s} {n}")
        print(f"not 200: {total - counts.get('200', 0)}")
        print("load average before: %.2f %.2f %.2f; after: %.2f %.2f %.2f" % (*before, *after))
        for g in gws:
            failures = gateway_failures(g)
            if failures:
                print(f"{g.url} logged: {failures}")
        engine_watch(engine.url, False)
    finally:
        for g in gws:
            g.stop()
        sim.stop()
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
