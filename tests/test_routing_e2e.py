"""The routing brain through the running gateway: task chains, breakers, the attempt budget,
stream failover, and pace downgrade over a simulated day of spend."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import openai
import pytest
import redis

from tests.procs import (ADMIN_KEY, ADMIN_KEY_SHA, DEMO_KEY, DEMO_KEY_SHA, Proc, quality_models, sim_calls, sim_reset,
                         sim_set, start_gateway)


def budget_timezone() -> str:
    """An Etc/GMT zone where it is about 06:00 now, so about a quarter of the budget day has passed."""
    offset = (6 - datetime.now(timezone.utc).hour + 12) % 24 - 12  # hours east of UTC, -12..11
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def config(sim_port: int, prefix: str) -> str:
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 3}}
state: {{prefix: {prefix}, timeout_ms: 1000}}
budget: {{daily_usd: 100, hard_limit_usd: 150, timezone: {budget_timezone()}, pace: {{burst_share: 0}}}}
breaker: {{failures: 2, window_s: 60, cooldown_s: 600, max_cooldown_s: 600, min_sources: 1}}
{quality_models(sim_port)}
routes:
  auto:
    primary: gpt-5.4-mini
    tasks:
      code_generation: {{primary: claude-opus-4.7, fallbacks: [gpt-5.5], min_quality: 0.95, priority: high}}
      simple_chat: {{primary: gpt-5.5, fallbacks: [deepseek-v4-pro], priority: low}}
      summarization: {{primary: gpt-5.5, fallbacks: [deepseek-v4-pro], priority: normal}}
      complex_reasoning: {{primary: gpt-5.5, fallbacks: [deepseek-v4-pro], priority: critical}}
  chain3: {{primary: gpt-5.5, fallbacks: [claude-opus-4.7, gpt-5.4-mini]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
admin_key_sha256: {ADMIN_KEY_SHA}
"""


@pytest.fixture
def gateway(sim: Proc, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Proc]:
    sim_reset(sim)
    prefix = f"route-{time.time_ns()}"
    with start_gateway(tmp_path, config(sim.port, prefix), redis_url) as proc:
        proc.prefix = prefix  # type: ignore[attr-defined]
        yield proc


def client_for(gw: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0)


CODE = [{"role": "user", "content": "Write a Python function that parses an ISO-8601 date string and "
                                    "returns a datetime, with unit tests using pytest."}]
HELLO = [{"role": "user", "content": "hi there! how are you doing today?"}]


def test_code_prompt_reaches_the_code_routes_primary(gateway: Proc) -> None:
    with client_for(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=CODE)
    assert raw.headers["x-gateway-task"] == "code_generation"
    assert raw.headers["x-gateway-model"] == "claude-opus-4.7"
    with client_for(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.headers["x-gateway-task"] == "simple_chat"
    assert raw.headers["x-gateway-model"] == "gpt-5.5"


def test_open_breaker_sends_traffic_to_the_fallback(gateway: Proc, sim: Proc) -> None:
    sim_set(sim, "claude-opus-4.7", fail_status=503)
    with client_for(gateway) as client:
        for _ in range(2):  # two failures trip the breaker (failures: 2)
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=CODE)
            assert raw.headers["x-gateway-model"] == "gpt-5.5"
        before = sim_calls(sim).get("claude-opus-4.7", 0)
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=CODE)
    assert raw.headers["x-gateway-model"] == "gpt-5.5"
    assert raw.headers["x-gateway-fallbacks"] == "0"  # the open breaker skipped it without a call
    assert sim_calls(sim).get("claude-opus-4.7", 0) == before
    req = urllib.request.Request(f"{gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert json.loads(urllib.request.urlopen(req).read())["breakers"]["claude-opus-4.7"]["state"] == "open"


def test_attempt_budget_bounds_a_failing_chain(gateway: Proc, sim: Proc) -> None:
    for model in ("gpt-5.5", "claude-opus-4.7", "gpt-5.4-mini"):
        sim_set(sim, model, fail_status=503)  # an outage everywhere: every candidate is worth a try
    with client_for(gateway) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="chain3", messages=HELLO, extra_headers={"x-gateway-task": "simple_chat"})
    assert "(3)" in info.value.message  # attempt_budget: 3
    calls = sim_calls(sim)
    assert sum(calls.get(m, 0) for m in ("gpt-5.5", "claude-opus-4.7", "gpt-5.4-mini")) == 3


def test_the_same_500_on_two_deployments_stops_the_retries(gateway: Proc, sim: Proc) -> None:
    """A 500 that two providers give to the same request is probably the request's doing: the
    third candidate is not tried, and the second failure does not count against its breaker."""
    for model in ("gpt-5.5", "claude-opus-4.7", "gpt-5.4-mini"):
        sim_set(sim, model, fail_status=500)
    with client_for(gateway) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="chain3", messages=HELLO, extra_headers={"x-gateway-task": "simple_chat"})
    assert "(2)" in info.value.message and "HTTP 500" in info.value.message
    calls = sim_calls(sim)
    assert sum(calls.get(m, 0) for m in ("gpt-5.5", "claude-opus-4.7", "gpt-5.4-mini")) == 2


def test_stream_whose_primary_fails_before_first_byte_is_served_by_fallback(gateway: Proc, sim: Proc) -> None:
    sim_set(sim, "gpt-5.5", stream_cut_after=0)
    with client_for(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(model="chain3", messages=HELLO, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert raw.headers["x-gateway-model"] == "claude-opus-4.7"
    assert text


def set_spend(gw_prefix: str, redis_url: str, day: str, usd: float) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(f"{{{gw_prefix}}}:spend:{day}", "cost:total", int(usd * 1_000_000))
    client.close()


def test_over_pace_spend_downgrades_low_then_normal_never_critical(gateway: Proc, redis_url: str) -> None:
    prefix = gateway.prefix  # type: ignore[attr-defined]
    day = datetime.now(ZoneInfo(budget_timezone())).strftime("%Y-%m-%d")

    def ask(task: str) -> tuple[str, str | None]:
        with client_for(gateway) as client:
            raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO,
                                                                   extra_headers={"x-gateway-task": task})
        return raw.headers["x-gateway-model"], raw.headers.get("x-gateway-downgraded")

    assert ask("simple_chat") == ("gpt-5.5", None)  # on pace: nothing moves
    set_spend(prefix, redis_url, day, 30.0)  # about a quarter of the day gone: 30 of a ~25 allowance
    assert ask("simple_chat") == ("deepseek-v4-pro", "pace")     # low moves to its cheaper candidate
    assert ask("summarization") == ("gpt-5.5", None)             # normal not yet
    set_spend(prefix, redis_url, day, 90.0)  # far over pace: normal moves too
    assert ask("summarization") == ("deepseek-v4-pro", "pace")
    assert ask("complex_reasoning") == ("gpt-5.5", None)         # critical never
    set_spend(prefix, redis_url, day, 100.0)  # the daily budget is spent
    with client_for(gateway) as client:
        with pytest.raises(openai.RateLimitError) as info:  # low: refuse at the limit
            client.chat.completions.create(model="auto", messages=HELLO, extra_headers={"x-gateway-task": "simple_chat"})
    assert info.value.body["code"] == "budget_exceeded"
    assert ask("complex_reasoning") == ("deepseek-v4-pro", "budget_limit")  # critical: cheapest, to the hard limit
