"""A pool of two equivalent deployments through the running gateway, with the openai SDK: users
spread over both members, one conversation stays on one member, the pool is named in the headers,
the log and GET /v1/models, and a member whose provider fails is spilled over to the other."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import openai
import pytest

from tests.procs import (ADMIN_KEY_SHA, DEMO_KEY, DEMO_KEY_SHA, Proc, sim_calls, sim_reset, sim_set, start_gateway,
                         wait_for)

POOL = "gpt-5.4-any"
MEMBERS = {"gpt-east": "gpt-5.4-east", "gpt-west": "gpt-5.4-west"}  # deployment -> the simulator's model


def config(sim_port: int, prefix: str) -> str:
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 3}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
breaker: {{failures: 2, window_s: 60, cooldown_s: 600, max_cooldown_s: 600, min_sources: 1}}
providers:
  openai: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
  azure: {{format: azure, base_url: http://127.0.0.1:{sim_port}, api_key_env: SIMULATOR_API_KEY,
          api_version: "2024-10-21"}}
models:
  gpt-east: {{provider: openai, upstream: gpt-5.4-east, price: {{input: 2.5, output: 15}}}}
  gpt-west: {{provider: azure, upstream: gpt-5.4-west, price: {{input: 2.5, output: 15}}}}
  gpt-5.4-mini: {{provider: openai, price: {{input: 0.4, output: 1.6}}}}
pools:
  {POOL}: {{members: [gpt-east, gpt-west]}}
routes:
  auto: {{primary: {POOL}, fallbacks: [gpt-5.4-mini]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
admin_key_sha256: {ADMIN_KEY_SHA}
"""


@pytest.fixture
def gateway(sim: Proc, redis_url: str, tmp_path: Path) -> Iterator[Proc]:
    sim_reset(sim)
    with start_gateway(tmp_path, config(sim.port, f"pools-{time.time_ns()}"), redis_url) as proc:
        yield proc


def conversation(user: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a travel agent."},
            {"role": "user", "content": f"Plan a weekend for traveller {user}."}]


def ask(client: openai.OpenAI, user: int, model: str = POOL, turns: int = 0) -> dict[str, str]:
    messages = conversation(user)
    for t in range(turns):  # later turns of the same conversation
        messages += [{"role": "assistant", "content": f"Answer {t}."}, {"role": "user", "content": f"And {t}?"}]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, user=f"user-{user}")
    assert raw.parse().choices[0].message.content
    return dict(raw.headers)


def test_users_spread_over_the_pool_and_conversations_stay_put(gateway: Proc, sim: Proc) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        first = {u: ask(client, u) for u in range(12)}
        served = Counter(h["x-gateway-model"] for h in first.values())
        assert set(served) == set(MEMBERS)  # both members serve
        assert all(h["x-gateway-pool"] == POOL and h["x-gateway-route"] == POOL for h in first.values())
        for u, h in first.items():  # each conversation's later turns, asked directly or through the route
            assert ask(client, u, turns=1)["x-gateway-model"] == h["x-gateway-model"]
            via_route = ask(client, u, "auto", turns=2)
            assert via_route["x-gateway-model"] == h["x-gateway-model"]
            assert via_route["x-gateway-route"] == "auto" and via_route["x-gateway-pool"] == POOL
        listed = [m.id for m in client.models.list().data]
        assert POOL in listed and client.models.retrieve(POOL).owned_by == "gateway-pool"
    calls = sim_calls(sim)
    assert {m: calls.get(up, 0) for m, up in MEMBERS.items()} == {m: 3 * n for m, n in served.items()}
    wait_for(lambda: sum('"request"' in line for line in gateway.log_lines()) >= 36)
    logged = [json.loads(x) for x in gateway.log_lines() if x.startswith("{") and '"request"' in x]
    assert {r["pool"] for r in logged} == {POOL} and {r["route"] for r in logged} == {POOL, "auto"}


def test_a_failing_member_spills_over_to_the_other(gateway: Proc, sim: Proc) -> None:
    sim_set(sim, MEMBERS["gpt-east"], fail_status=503)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        answers = [ask(client, u) for u in range(12)]
    assert {h["x-gateway-model"] for h in answers} == {"gpt-west"}  # every request answered, by the healthy member
    # the users whose first choice was the failing member were moved, by a failed attempt (or,
    # once its breaker opened, without one); the others went straight to gpt-west
    assert any(h["x-gateway-fallbacks"] == "1" for h in answers)
    assert sim_calls(sim).get(MEMBERS["gpt-east"], 0) >= 1
    assert all(h["x-gateway-pool"] == POOL for h in answers)
