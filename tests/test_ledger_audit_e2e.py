"""The ledger carries what the cost was priced from, so `gateway audit --ledger` and `gateway audit
--log` agree on the same traffic, and both agree with the spend counters: real requests through
the gateway (the anthropic SDK) to the simulator, with web searches (Claude's search tool) and
prompt-cache writes (a cache-marked system prompt on Bedrock Converse), then both audits."""

from __future__ import annotations

import time
from typing import Any, Iterator

import anthropic
import openai
import orjson
import pytest
import redis

from gateway.offline.audit import audit_main
from tests.procs import DEMO_KEY, DEMO_KEY_SHA, Proc, sim_reset, start_gateway, wait_for

PREFIX = "ledgaudit"
SEARCH: Any = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
SYSTEM: Any = [{"type": "text", "text": "You answer questions about the weather, tersely. " * 200,
                "cache_control": {"type": "ephemeral"}}]


def config(sim: Proc) -> str:
    # three candidates with different search and cache-write prices, so re-pricing each task on
    # them differs when a count is missing
    return f"""
server: {{request_timeout_s: 20, attempt_budget: 1}}
state: {{prefix: {PREFIX}, timeout_ms: 1000}}
breaker: {{failures: 1000}}
providers:
  anthropic: {{format: anthropic, base_url: {sim.url}, api_key_env: SIMULATOR_API_KEY}}
  bedrock: {{format: bedrock, base_url: "{sim.url}", api_key_env: SIMULATOR_API_KEY, aws_region: us-east-1}}
  openai: {{format: openai, base_url: {sim.url}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  claude-opus-4.7: {{provider: anthropic, price: {{input: 15, output: 75, cached_input: 1.5}}}}
  claude-converse: {{provider: bedrock, upstream: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    price: {{input: 3, output: 15, cached_input: 0.3, web_search: 25}}}}
  gpt-5.4-mini: {{provider: openai, price: {{input: 0.4, output: 1.6, web_search: 1}}}}
  search-preview: {{provider: openai, upstream: gpt-4o-search-preview,
                   price: {{input: 2.5, output: 10, web_search: 35, web_search_unit: request}}}}
routes:
  auto: {{primary: claude-opus-4.7, fallbacks: [claude-converse, gpt-5.4-mini]}}
keys:
  - {{name: demo, sha256: {DEMO_KEY_SHA}}}
"""


@pytest.fixture(scope="module")
def gateway(sim: Proc, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    state = redis.Redis.from_url(redis_url)
    for key in state.scan_iter(f"{{{PREFIX}}}:*"):
        state.delete(key)
    with start_gateway(tmp_path_factory.mktemp("ledgaudit"), config(sim), redis_url) as proc:
        yield proc


def audit_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert audit_main([*argv, "--json"]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_ledger_and_log_audits_agree_with_searches_and_cache_writes(
        gateway: Proc, sim: Proc, redis_url: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    sim_reset(sim)
    ask: Any = [{"role": "user", "content": "Who won the latest regatta on the lake?"}]
    charged = 0
    with anthropic.Anthropic(base_url=gateway.url, api_key=DEMO_KEY, max_retries=0) as client:
        for model, extra in (("claude-opus-4.7", {"tools": [SEARCH]}), ("claude-opus-4.7", {"tools": [SEARCH]}),
                             ("claude-converse", {"system": SYSTEM}), ("claude-converse", {"system": SYSTEM}),
                             ("gpt-5.4-mini", {})):
            raw = client.messages.with_raw_response.create(model=model, max_tokens=200, messages=ask, **extra)
            raw.parse()
            charged += round(float(raw.headers["x-gateway-cost-usd"]) * 1e6)
    state = redis.Redis.from_url(redis_url)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    # settle runs after the answer; the log line is written after the settle
    wait_for(lambda: int(state.hget(f"{{{PREFIX}}}:spend:{day}", "cost:total") or 0) == charged, 15)
    wait_for(lambda: sum('"event": "request"' in line or '"event":"request"' in line
                         for line in gateway.log_lines()) >= 5, 15)
    entries = [{k.decode(): v.decode() for k, v in fields.items()}
               for _, fields in state.xrange(f"{{{PREFIX}}}:ledger")]
    assert [int(e.get("searches", 0)) for e in entries] == [1, 1, 0, 0, 0]
    written = [int(e.get("written", 0)) for e in entries]
    assert written[2] >= 1024 and written[3] == 0 and "written" not in entries[4]  # the second read the cache
    assert all("written_1h" not in e for e in entries)

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config(sim))
    log = tmp_path / "gateway.log"
    log.write_text("\n".join(gateway.log_lines()) + "\n")
    from_log = audit_json(["--log", str(log), "--config", str(cfg)], capsys)
    from_ledger = audit_json(["--ledger", "--redis-url", redis_url, "--config", str(cfg)], capsys)
    assert from_ledger["requests"] == from_log["requests"] == 5
    assert from_ledger["cost_micro"] == from_log["cost_micro"] == charged  # = the spend counter
    # re-priced on every candidate, searches and cache writes included, from either source alike
    assert from_ledger["savings"] == from_log["savings"]
    for key in ("by_task", "by_model", "by_key", "concentration", "saving_micro"):
        assert from_ledger[key] == from_log[key], key
    (row,) = from_ledger["savings"]  # one task ("unknown": native requests are not classified)
    # gpt-5.4-mini at $1 per 1,000 searches is the cheapest: two searches add 2 x 1,000 µ$
    assert row["cheapest"] == "gpt-5.4-mini" and row["cheapest_cost_micro"] > 2_000


def test_a_chat_search_model_is_charged_one_search_per_answer_and_the_ledger_says_so(
        gateway: Proc, redis_url: str) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="search-preview", messages=[{"role": "user", "content": "Latest regatta winner?"}])
    usage = raw.parse().usage
    assert usage is not None
    tokens = -(-(usage.prompt_tokens * 2_500_000 + usage.completion_tokens * 10_000_000) // 1_000_000)
    assert round(float(raw.headers["x-gateway-cost-usd"]) * 1e6) == tokens + 35_000  # $35 per 1,000 requests
    state = redis.Redis.from_url(redis_url)

    def entry() -> dict[str, str]:
        for _, fields in state.xrevrange(f"{{{PREFIX}}}:ledger"):
            f = {k.decode(): v.decode() for k, v in fields.items()}
            if f.get("model") == "search-preview":
                return f
        return {}

    wait_for(lambda: bool(entry()), 15)
    assert entry()["searches"] == "1" and int(entry()["cost"]) == tokens + 35_000
