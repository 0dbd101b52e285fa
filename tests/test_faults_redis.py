"""Redis faults with real processes: the engine is killed (SIGKILL) and paused (SIGSTOP) under
load. Every request gets an answer or a clean error, and once the engine is back the spend in
Redis equals the sum of the logged per-request costs to the micro-dollar, with no reservation
left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Iterator

import openai
import pytest
import redis

from gateway.state.engine import Engine, free_port
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, start_gateway, start_simulator, wait_for

BUDGET_KEY = "sk-budgeted-key"


def config(sim_port: int, journal: Path) -> str:
    budget_sha = hashlib.sha256(BUDGET_KEY.encode()).hexdigest()
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 2}}
state: {{prefix: faults, timeout_ms: 150, journal_dir: {journal}}}
providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}, rpm: 100000}}
routes:
  auto: {{primary: gpt-5.4-mini}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}, rpm: 100000}}
  - {{name: budgeted, sha256: {budget_sha}, daily_budget_usd: 5}}
"""


@pytest.fixture
def persistent_engine(tmp_path: Path) -> Iterator[Engine]:
    # as `gateway serve` runs its own: written before each reply, fsync'd every second from outside
    # (`appendfsync always` made every reply wait for the disk: a busy one timed out the first admits)
    eng = Engine(data_dir=tmp_path / "engine", port=free_port(), persistent=True).start()
    yield eng
    if eng.process and eng.process.poll() is None:
        os.kill(eng.process.pid, signal.SIGCONT)
    eng.stop()


def restart(eng: Engine) -> None:
    eng.process = None
    eng.start()


def logged_costs(gw: Proc) -> list[dict]:
    out = []
    for line in gw.log_lines():
        if line.startswith("{") and '"event":"request"' in line:
            out.append(json.loads(line))
    return out


def readyz(gw: Proc) -> dict:
    return json.loads(urllib.request.urlopen(f"{gw.url}/readyz").read())


def spend_in_redis(eng: Engine) -> tuple[int, int, int]:
    r = redis.Redis.from_url(eng.url)
    day = next(k for k in r.keys("{faults}:spend:*")).decode()
    cost, reserved, reqs = r.hmget(day, "cost:total", "reserved:total", "req:total")
    r.close()
    return int(cost or 0), int(reserved or 0), int(reqs or 0)


def run(client: openai.OpenAI, n: int, stream: bool = False) -> list[str | None]:
    """n requests; each must succeed; returns the x-gateway-degraded header of each."""
    seen = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"question {i}"}]
        if stream:
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=msgs, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        else:
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=msgs)
            assert raw.parse().choices[0].message.content
        seen.append(raw.headers.get("x-gateway-degraded"))
    return seen


def test_engine_killed_and_paused_under_load_loses_no_spend(persistent_engine: Engine, tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    gw = start_gateway(tmp_path, config(sim.port, tmp_path / "journal"), persistent_engine.url, workers=2)
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client, \
                openai.OpenAI(base_url=f"{gw.url}/v1", api_key=BUDGET_KEY, max_retries=0) as budgeted:
            assert run(client, 6) == [None] * 6
            assert budgeted.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])

            persistent_engine.process.kill()                      # SIGKILL the engine
            persistent_engine.process.wait()
            assert set(run(client, 8) + run(client, 4, stream=True)) == {"state"}
            with pytest.raises(openai.InternalServerError) as info:  # a hard budget fails closed
                budgeted.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
            assert info.value.status_code == 503 and info.value.body["code"] == "state_unavailable"
            assert readyz(gw)["status"] == "degraded"

            restart(persistent_engine)                            # back, with its AOF
            wait_for(lambda: readyz(gw)["status"] == "ready" and readyz(gw)["journal_pending"] == 0, 20)
            # /readyz answered from one worker; the client's connection may be held by the other,
            # which leaves degraded mode on its own recovery tick: wait until Redis decides there
            probes = []
            wait_for(lambda: probes.append(run(client, 1)[0]) or probes[-1] is None, 20)
            extra = len(probes)
            assert run(client, 3) == [None] * 3  # the journal is replayed; Redis decides again

            os.kill(persistent_engine.process.pid, signal.SIGSTOP)  # paused past the timeout
            try:
                assert set(run(client, 5)) == {"state"}
            finally:
                os.kill(persistent_engine.process.pid, signal.SIGCONT)
            wait_for(lambda: readyz(gw)["journal_pending"] == 0, 20)
            run(client, 2)

        wait_for(lambda: len(logged_costs(gw)) == 6 + 1 + 12 + 1 + extra + 3 + 5 + 2)
        logged = logged_costs(gw)
        served = [r for r in logged if r["status"] == 200]
        assert len(served) == 6 + 1 + 12 + extra + 3 + 5 + 2
        # the request count is folded from the ledger every 100 ms: wait for both
        want = (sum(r["cost_micro"] for r in served), len(served))
        try:
            wait_for(lambda: spend_in_redis(persistent_engine)[::2] == want, 20)
        except AssertionError:  # say what differs: cost, reserved, request count against the log
            r = redis.Redis.from_url(persistent_engine.url)
            day = {k.decode(): v.decode() for k, v in r.hgetall(next(iter(r.keys("{faults}:spend:*")))).items()
                   if k.endswith((b":total",))}
            r.close()
            raise AssertionError(f"Redis day totals {day}, logged (cost, requests) {want}, readyz {readyz(gw)}") from None
        cost, reserved, requests = spend_in_redis(persistent_engine)
        assert reserved == 0
        assert requests == len(served)
    finally:
        gw.stop()
        sim.stop()
