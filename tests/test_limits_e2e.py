"""Rate limits and budgets through the running gateway, with the openai SDK."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import openai
import pytest
import redis

from tests.procs import ADMIN_KEY, DEMO_KEY, Proc, config_yaml, start_gateway, wait_for

MESSAGES = [{"role": "user", "content": "Hello!"}]


def client_for(proc: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proc.url}/v1", api_key=DEMO_KEY, max_retries=0)


def test_key_rate_limit_gives_429_with_retry_after(sim: Proc, redis_url: str, tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, config_yaml(sim.port, "rl1", key_rpm=3), redis_url)
    try:
        with client_for(gw) as client:
            for _ in range(3):
                client.chat.completions.create(model="auto", messages=MESSAGES)
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="auto", messages=MESSAGES)
        assert info.value.body["code"] == "rate_limit_exceeded"
        assert int(info.value.response.headers["retry-after"]) >= 1
    finally:
        gw.stop()


def test_budget_moves_to_a_cheaper_model_then_refuses(sim: Proc, redis_url: str, tmp_path: Path) -> None:
    # Worst case on gpt-5.4-mini with the default 4,096 output tokens is about $0.0066, over the
    # key's $0.004: the chain's cheaper deepseek (about $0.0012 worst case) takes it instead.
    gw = start_gateway(tmp_path, config_yaml(sim.port, "bud1", key_budget_usd=0.004), redis_url)
    try:
        with client_for(gw) as client:
            resp = client.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
            assert resp.headers["x-gateway-model"] == "deepseek-v4-pro"
            assert float(resp.headers["x-gateway-budget-remaining-usd"]) < 0.004
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="auto", messages=MESSAGES, max_tokens=20_000)
        assert info.value.body["code"] == "budget_exceeded"
    finally:
        gw.stop()


def test_gateway_on_a_three_master_cluster(sim: Proc, cluster, tmp_path: Path) -> None:
    """The same limits hold with the state on Redis Cluster (REDIS_URL lists the seeds)."""
    gw = start_gateway(tmp_path, config_yaml(sim.port, "clu1", key_rpm=3), ",".join(cluster.urls), workers=2)
    try:
        with client_for(gw) as client:
            ok = 0
            for _ in range(6):
                try:
                    for _ in client.chat.completions.create(model="auto", messages=MESSAGES, stream=True):
                        pass
                    ok += 1
                except openai.RateLimitError:
                    pass
        assert ok == 3
    finally:
        gw.stop()


def test_budget_remaining_header_falls_with_each_request(sim: Proc, redis_url: str, tmp_path: Path) -> None:
    """x-gateway-budget-remaining-usd is the key's budget less what it has spent, this request
    included: it falls with every answer (the worst-case reservation would make it jump back up).
    A stream's headers usually leave before its cost is known: then it is the budget before the
    stream (a short stream that arrived whole before its first byte was relayed has its cost)."""
    budget_usd = 1.0
    prefix = f"budrem{time.time_ns()}"
    gw = start_gateway(tmp_path, config_yaml(sim.port, prefix, key_budget_usd=budget_usd), redis_url)
    state = redis.Redis.from_url(redis_url)
    try:
        req = urllib.request.Request(f"{gw.url}/admin/budget", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        day = json.loads(urllib.request.urlopen(req).read())["day"]
        spend_key = f"{{{prefix}}}:spend:{day}"

        def settled_spend_micro() -> int:
            """The key's spend in Redis once no reservation of it is left (settle runs after the answer)."""
            wait_for(lambda: int(state.hget(spend_key, "reserved:key:demo") or 0) == 0)
            return int(state.hget(spend_key, "cost:key:demo") or 0)

        seen: list[float] = []
        with client_for(gw) as client:
            for i in range(5):  # prompts of different lengths: different worst cases
                msgs = [{"role": "user", "content": "Hello! " * (1 + 7 * (i % 3))}]
                resp = client.chat.completions.with_raw_response.create(model="auto", messages=msgs)
                left = float(resp.headers["x-gateway-budget-remaining-usd"])
                assert float(resp.headers["x-gateway-cost-usd"]) > 0
                assert left == pytest.approx(budget_usd - settled_spend_micro() / 1e6, abs=1e-9)
                seen.append(left)
            assert all(a > b for a, b in zip(seen, seen[1:])), seen
            before = settled_spend_micro()
            with client.chat.completions.with_streaming_response.create(
                    model="auto", messages=MESSAGES, stream=True) as stream:
                left = float(stream.headers["x-gateway-budget-remaining-usd"])
                known_cost = float(stream.headers.get("x-gateway-cost-usd", "0"))
                for _ in stream.iter_lines():
                    pass
            assert left == pytest.approx(budget_usd - before / 1e6 - known_cost, abs=1e-9)
            assert settled_spend_micro() > before
    finally:
        state.close()
        gw.stop()
