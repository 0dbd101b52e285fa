"""Three gateway processes with two workers each share one state engine (a single engine, then a
3-master cluster) and agree exactly: rate limits, hard budgets, breakers and the half-open probe.
One request costs one EVALSHA before the upstream call and one after."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest
import redis

from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_set, start_gateway, start_simulator, wait_for

BUDGET_KEY = "sk-cross-budget"
OPEN_KEY = "sk-cross-open"


def config(sim_port: int, prefix: str) -> str:
    budget_sha = hashlib.sha256(BUDGET_KEY.encode()).hexdigest()
    open_sha = hashlib.sha256(OPEN_KEY.encode()).hexdigest()
    # gpt-5.4-mini, 16-token answers to short prompts, max_tokens 100: a worst case of 168 µ$
    # (a prompt bound of 19 tokens for 'hello' with its framing, 100 output tokens)
    # reserved, a real cost of about 27 µ$; the budget key may spend $0.002.
    return f"""
server: {{request_timeout_s: 30, attempt_budget: 1}}
state: {{prefix: {prefix}, timeout_ms: 3000, fold_interval_ms: 0}}
breaker: {{failures: 2, window_s: 60, cooldown_s: 2, max_cooldown_s: 600, probe_lease_s: 60, min_sources: 1}}
housekeeping: {{interval_s: 3600}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
  flaky: {{provider: sim, upstream: m-flaky, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: gpt-5.4-mini}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}, rpm: 50}}
  - {{name: budget, sha256: {budget_sha}, daily_budget_usd: 0.002}}
  - {{name: open, sha256: {open_sha}}}
"""


@pytest.fixture(params=["single", "cluster"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[list[Proc], Proc, list[str], str]]:
    urls = [request.getfixturevalue("redis_url")] if request.param == "single" \
        else request.getfixturevalue("cluster").urls
    sim = start_simulator(tmp_path)
    prefix = f"x{time.time_ns()}"
    gws = [start_gateway(tmp_path, config(sim.port, prefix), ",".join(urls), workers=2) for _ in range(3)]
    yield gws, sim, urls, prefix
    for gw in gws:
        gw.stop()
    sim.stop()


def engine_clients(urls: list[str]) -> list[redis.Redis]:
    return [redis.Redis.from_url(u) for u in urls]


async def burst(gws: list[Proc], n: int, key: str, model: str = "auto", max_tokens: int = 100) -> Counter:
    """n concurrent requests spread round-robin over the replicas; counts by status."""
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens}
    headers = {"authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> int:
            async with session.post(f"{gws[i % len(gws)].url}/v1/chat/completions", json=body,
                                    headers=headers) as resp:
                await resp.read()
                return resp.status
        return Counter(await asyncio.gather(*(one(i) for i in range(n))))


def test_replicas_agree_on_limits_budgets_breakers_and_round_trips(fleet) -> None:
    gws, sim, urls, prefix = fleet
    clients = engine_clients(urls)
    cluster = len(urls) > 1
    state = redis.RedisCluster.from_url(urls[0]) if cluster else clients[0]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    spend_key = f"{{{prefix}}}:spend:{day}"

    def engine_us() -> int:
        sec, usec = clients[0].time()
        return sec * 1_000_000 + usec

    # 1. 300 concurrent requests over 3 replicas x 2 workers against a key allowed 50 a minute:
    # exactly 50, plus one per 1.2 s the burst took (the GCRA refills one request every 60/50 s).
    start = engine_us()
    statuses = asyncio.run(burst(gws, 300, DEMO_KEY))
    refills = (engine_us() - start) // 1_200_000
    print(f"300 requests, key allowed 50/min: {dict(statuses)}, burst took {refills} refill periods")
    assert 50 <= statuses[200] <= 50 + refills and statuses[200] + statuses[429] == 300, (statuses, refills)

    # 2. One round trip before the upstream call and one after.
    def evalsha_calls() -> int:
        return sum(int(c.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)) for c in clients)

    # (one ledger entry per settle; the config turns the background fold off, so every
    # EVALSHA here is the request's own)
    ledger = f"{{{prefix}}}:ledger"
    wait_for(lambda: state.xlen(ledger) == statuses[200])
    before = evalsha_calls()
    assert asyncio.run(burst(gws[:1], 1, OPEN_KEY)) == Counter({200: 1})
    wait_for(lambda: state.xlen(ledger) == statuses[200] + 1)
    assert evalsha_calls() - before == 2

    # 3. A hard budget: the spend that settles never exceeds it; no reservation stays.
    statuses = asyncio.run(burst(gws, 120, BUDGET_KEY))
    print(f"120 requests on a $0.002 budget: {dict(statuses)}")
    # at least what fits the budget all at once (2,000 // 168 = 11); more as reservations settle
    assert statuses[200] >= 11 and statuses[200] + statuses[429] == 120
    wait_for(lambda: int(state.hget(spend_key, "reserved:total") or 0) == 0)
    settled = int(state.hget(spend_key, "cost:key:budget"))
    print(f"settled on the $0.002 budget: {settled} micro-dollars")
    assert settled <= 2000
    assert int(state.hget(spend_key, "reserved:key:budget") or 0) == 0
    assert state.hlen(f"{{{prefix}}}:res") == 0

    # 4. A breaker opened by failures seen on one replica is respected by all.
    sim_set(sim, "m-flaky", fail_status=503)
    assert asyncio.run(burst(gws[:1], 1, OPEN_KEY, model="flaky")) == Counter({502: 1})
    assert asyncio.run(burst(gws[:1], 1, OPEN_KEY, model="flaky")) == Counter({502: 1})
    assert sim_calls(sim)["m-flaky"] == 2  # failures: 2 -> open
    assert asyncio.run(burst(gws[1:], 30, OPEN_KEY, model="flaky")) == Counter({503: 30})
    assert sim_calls(sim)["m-flaky"] == 2  # nobody called it

    # 5. Once the cooldown has passed (engine clock), exactly one probe goes upstream cluster-wide.
    breaker = f"{{{prefix}}}:cb:flaky"

    def cooled_down() -> bool:
        opened, cooldown = (int(x) for x in state.hmget(breaker, "opened_us", "cooldown_ms"))
        sec, usec = clients[0].time()
        return sec * 1_000_000 + usec >= opened + cooldown * 1000

    wait_for(cooled_down)
    statuses = asyncio.run(burst(gws, 40, OPEN_KEY, model="flaky"))
    assert statuses == Counter({503: 39, 502: 1})
    assert sim_calls(sim)["m-flaky"] == 3
    assert state.hget(breaker, "state") == b"open"  # the probe failed: open again
    for c in clients:
        c.close()
