"""Tokens and money are exact, and no client slips past a limit (two replicas, one engine; the
first three cases also on a 3-master cluster). Each case was a way past a limit once:
a reused x-request-id, `n`, token limits charged only the prompt, a refused request whose late
admit stayed reserved, one tenant opening a shared breaker, and a provider's 401 or 429."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import openai
import pytest
import redis

from gateway.state.engine import start_single
from tests.procs import Proc, sim_calls, sim_set, start_gateway, start_simulator, wait_for

KEYS = {name: f"sk-exact-{name}" for name in ("reuse", "other", "tpm", "budget", "tenant", "bystander")}


def config(sim_port: int, prefix: str, bad_port: int | None = None) -> str:
    sha = {name: hashlib.sha256(k.encode()).hexdigest() for name, k in KEYS.items()}
    return f"""
server: {{request_timeout_s: 30, attempt_budget: 4}}
state: {{prefix: {prefix}, timeout_ms: 1000, fold_interval_ms: 50}}
breaker: {{failures: 3, window_s: 60, cooldown_s: 600, max_cooldown_s: 600, probe_lease_s: 60, min_sources: 2}}
housekeeping: {{interval_s: 3600}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
  wrongkey: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.5: {{provider: sim, price: {{input: 5.0, output: 30.0}}}}
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}}}
  fragile: {{provider: sim, upstream: m-fragile, price: {{input: 0.4, output: 1.6}}}}
  sturdy: {{provider: sim, upstream: m-sturdy, price: {{input: 0.4, output: 1.6}}}}
  locked: {{provider: wrongkey, upstream: m-locked, price: {{input: 0.4, output: 1.6}}}}
  busy: {{provider: sim, upstream: m-busy, price: {{input: 0.4, output: 1.6}}}}
routes:
  auto: {{primary: gpt-5.4-mini}}
  shared: {{primary: fragile, fallbacks: [sturdy]}}
  guarded: {{primary: locked, fallbacks: [sturdy]}}
  hot: {{primary: busy}}
  hotchain: {{primary: busy, fallbacks: [sturdy]}}
keys:
  - {{name: reuse, sha256: {sha['reuse']}, rpm: 5, daily_budget_usd: 0.001}}
  - {{name: other, sha256: {sha['other']}}}
  - {{name: tpm, sha256: {sha['tpm']}, tpm: 2000}}
  - {{name: budget, sha256: {sha['budget']}, daily_budget_usd: 0.005}}
  - {{name: tenant, sha256: {sha['tenant']}}}
  - {{name: bystander, sha256: {sha['bystander']}}}
"""


class Fleet:
    def __init__(self, gws: list[Proc], sim: Proc, urls: list[str], prefix: str) -> None:
        self.gws, self.sim, self.prefix = gws, sim, prefix
        self.state = redis.RedisCluster.from_url(urls[0]) if len(urls) > 1 else redis.Redis.from_url(urls[0])

    def spend(self, field: str) -> int:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        return int(self.state.hget(f"{{{self.prefix}}}:spend:{day}", field) or 0)

    def open_reservations(self) -> int:
        return self.state.hlen(f"{{{self.prefix}}}:res")


def _fleet(tmp_path: Path, urls: list[str]) -> Iterator[Fleet]:
    sim = start_simulator(tmp_path)
    prefix = f"ex{time.time_ns()}"
    gws = [start_gateway(tmp_path, config(sim.port, prefix), ",".join(urls)) for _ in range(2)]
    yield Fleet(gws, sim, urls, prefix)
    for gw in gws:
        gw.stop()
    sim.stop()


@pytest.fixture(params=["single", "cluster"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    urls = [request.getfixturevalue("redis_url")] if request.param == "single" \
        else request.getfixturevalue("cluster").urls
    yield from _fleet(tmp_path, urls)


@pytest.fixture
def single(redis_url: str, tmp_path: Path) -> Iterator[Fleet]:
    yield from _fleet(tmp_path, [redis_url])


async def burst(fleet: Fleet, n: int, key: str, body: dict[str, Any], concurrency: int = 64,
                headers: dict[str, str] | None = None) -> list[tuple[int, dict[str, str], Any]]:
    """n requests, `concurrency` at a time, round-robin over the replicas."""
    sem = asyncio.Semaphore(concurrency)
    hdrs = {"authorization": f"Bearer {KEYS[key]}", **(headers or {})}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> tuple[int, dict[str, str], Any]:
            async with sem, session.post(f"{fleet.gws[i % len(fleet.gws)].url}/v1/chat/completions", json=body,
                                         headers=hdrs) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.json()
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def statuses(results: list[tuple[int, dict[str, str], Any]]) -> Counter:
    return Counter(status for status, _, _ in results)


def told_micro(results: list[tuple[int, dict[str, str], Any]]) -> int:
    return sum(round(float(h["x-gateway-cost-usd"]) * 1_000_000) for s, h, _ in results if s == 200)


PING = {"model": "gpt-5.5", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 16}


def test_a_reused_request_id_is_admitted_limited_and_charged_every_time(fleet: Fleet) -> None:
    results = asyncio.run(burst(fleet, 30, "reuse", PING, concurrency=1, headers={"x-request-id": "fixed-id-1"}))
    counts = statuses(results)
    wait_for(lambda: fleet.open_reservations() == 0)
    charged = fleet.spend("cost:key:reuse")
    print(f"30 requests with one x-request-id on 5 rpm / $0.001: {dict(counts)}, told {told_micro(results)} µ$, "
          f"engine {charged} µ$")
    assert 1 <= counts[200] <= 5 and counts[200] + counts[429] == 30
    assert charged == told_micro(results) <= 1000  # every answered request charged, the budget held
    assert all(h["x-request-id"] == "fixed-id-1" for _, h, _ in results)  # still the correlation id
    # another key reusing the same id gets its own admission, not the first key's
    other = asyncio.run(burst(fleet, 3, "other", PING, concurrency=1, headers={"x-request-id": "fixed-id-1"}))
    assert statuses(other) == Counter({200: 3})
    wait_for(lambda: fleet.spend("cost:key:other") == told_micro(other))


def test_n_is_in_the_worst_case(fleet: Fleet) -> None:
    before = sim_calls(fleet.sim).get("gpt-5.5", 0)
    body = {**PING, "n": 128, "max_tokens": 8}
    results = asyncio.run(burst(fleet, 2, "budget", body, concurrency=1))
    assert statuses(results) == Counter({429: 2})
    assert all(doc["error"]["code"] == "budget_exceeded" for _, _, doc in results)
    assert sim_calls(fleet.sim).get("gpt-5.5", 0) == before  # refused before any upstream call
    # n=2 fits the $0.005 budget, and is charged for both choices
    ok = asyncio.run(burst(fleet, 1, "budget", {**body, "n": 2}))
    assert statuses(ok) == Counter({200: 1}) and len(ok[0][2]["choices"]) == 2


def test_tokens_served_stay_within_the_tpm_limit(fleet: Fleet) -> None:
    sim_set(fleet.sim, "gpt-5.4-mini", output_tokens=100)
    try:
        body = {"model": "auto", "messages": [{"role": "user", "content": "Write a long story."}], "max_tokens": 100}
        start = time.monotonic()
        results = asyncio.run(burst(fleet, 300, "tpm", body, concurrency=64))
        elapsed = time.monotonic() - start
    finally:
        sim_set(fleet.sim, "gpt-5.4-mini", output_tokens=16)
    served = sum(doc["usage"]["total_tokens"] for s, _, doc in results if s == 200)
    # GCRA: a full bucket (the limit) plus what refills while the burst runs
    bound = 2000 + 2000 * elapsed / 60
    print(f"300 requests at c=64 on a 2,000 TPM key: {dict(statuses(results))}, {served} tokens served "
          f"in {elapsed:.1f} s (bound {bound:.0f})")
    assert 0 < served <= bound
    assert set(statuses(results)) <= {200, 429}


def test_settled_spend_never_passes_a_hard_budget(single: Fleet) -> None:
    results = asyncio.run(burst(single, 40, "budget", PING, concurrency=64))
    wait_for(lambda: single.open_reservations() == 0)
    settled = single.spend("cost:key:budget")
    print(f"40 requests at c=64 on a $0.005 budget: {dict(statuses(results))}, settled {settled} µ$")
    assert settled == told_micro(results) <= 5000
    assert statuses(results)[200] >= 1


def test_one_tenant_cannot_open_a_shared_breaker(single: Fleet) -> None:
    sim_set(single.sim, "m-fragile", fail_status=500)
    try:
        body = {"model": "shared", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
        flood = asyncio.run(burst(single, 12, "tenant", body, concurrency=4))
        assert statuses(flood) == Counter({200: 12})  # each fell back to `sturdy`
        state = single.state.hget(f"{{{single.prefix}}}:cb:fragile", "state")
        assert state in (None, b"closed")  # one source: not tripped
        # a second key's failures confirm it: now it opens
        asyncio.run(burst(single, 3, "bystander", body, concurrency=1))
        assert single.state.hget(f"{{{single.prefix}}}:cb:fragile", "state") == b"open"
    finally:
        sim_set(single.sim, "m-fragile", fail_status=None)


def test_a_provider_401_falls_back_and_disables_the_deployment(single: Fleet) -> None:
    sim_set(single.sim, "m-locked", fail_status=401)
    client = openai.OpenAI(base_url=f"{single.gws[0].url}/v1", api_key=KEYS["other"], max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]
    raw = client.chat.completions.with_raw_response.create(model="guarded", messages=msgs, max_tokens=16)
    assert raw.headers["x-gateway-model"] == "sturdy" and raw.headers["x-gateway-fallbacks"] == "1"
    assert single.state.hget(f"{{{single.prefix}}}:cb:locked", "state") == b"open"
    before = sim_calls(single.sim).get("m-locked", 0)
    raw = client.chat.completions.with_raw_response.create(model="guarded", messages=msgs, max_tokens=16)
    assert raw.headers["x-gateway-fallbacks"] == "0" and sim_calls(single.sim).get("m-locked", 0) == before
    # alone, it is a 502 that names the gateway's credentials, not the provider's error code
    sim_set(single.sim, "m-busy", fail_status=403)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="hot", messages=msgs, max_tokens=16)
    assert info.value.status_code == 502 and info.value.body["code"] == "provider_auth_failed"
    assert "credentials" in info.value.message and "127.0.0.1" not in info.value.message
    assert any('"provider_rejected_gateway_setup"' in line for gw in single.gws for line in gw.log_lines())


def test_a_provider_429_is_a_hold_not_a_breaker_failure(single: Fleet) -> None:
    sim_set(single.sim, "m-busy", fail_status=None, rate_limit_rate=1.0, retry_after_s=30)
    client = openai.OpenAI(base_url=f"{single.gws[0].url}/v1", api_key=KEYS["other"], max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]
    for _ in range(6):  # more than `failures`: still no open breaker
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="hot", messages=msgs, max_tokens=16)
        assert int(info.value.response.headers["retry-after"]) >= 1
    assert single.state.hget(f"{{{single.prefix}}}:cb:busy", "state") in (None, b"closed")
    calls = sim_calls(single.sim).get("m-busy", 0)
    assert calls == 1  # after the first 429 the deployment is held for its Retry-After
    raw = client.chat.completions.with_raw_response.create(model="hotchain", messages=msgs, max_tokens=16)
    assert raw.headers["x-gateway-model"] == "sturdy"


def test_admits_run_after_a_stall_leave_no_reservation(tmp_path: Path) -> None:
    """SIGSTOP the engine under load: the clients get 503 or degraded answers, and once it runs
    again every admit it ran late took nothing; no reservation is left open."""
    engine = start_single(tmp_path / "engine")
    try:
        for single in _fleet(tmp_path, [engine.url]):
            _stall(single, engine.process.pid)
    finally:
        engine.stop()


def _stall(single: Fleet, pid: int) -> None:
    body = {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}

    async def load() -> list[tuple[int, dict[str, str], Any]]:
        os.kill(pid, signal.SIGSTOP)  # the requests' admits wait in the engine's socket buffers
        try:
            task = asyncio.create_task(burst(single, 200, "budget", body, concurrency=32))
            await asyncio.sleep(4)
        finally:
            os.kill(pid, signal.SIGCONT)
        return await task

    results = asyncio.run(load())
    counts = statuses(results)
    print(f"200 requests through a 4 s engine stall: {dict(counts)}")
    assert counts[503] >= 1  # the hard-budget key failed closed while the engine was stopped
    wait_for(lambda: single.open_reservations() == 0, timeout=20)
