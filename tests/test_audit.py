"""Cost audit over a fixed file of gateway log lines and over a real ledger stream; expected
figures computed here from the list prices (micro-dollars per million tokens, rounded up)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from gateway.offline.audit import Record, audit, audit_main, concentration, records_from_ledger, records_from_log
from gateway.state.keys import Keys
from gateway.state.ops import OpsState
from gateway.offline.whatif import load_offline_config
from tests.procs import ROOT

DATA = ROOT / "tests" / "data"
LOG = DATA / "trace_gateway_log.jsonl"
CONFIG = load_offline_config(ROOT / "configs" / "demo.yaml")

# (input, cached input, output) in micro-dollars per million tokens, from configs/demo.yaml
PRICE = {
    "gpt-5.5": (5_000_000, 500_000, 30_000_000),
    "gpt-5.4-mini": (400_000, 40_000, 1_600_000),
    "claude-opus-4.7": (15_000_000, 1_500_000, 75_000_000),
    "deepseek-v4-pro": (140_000, 14_000, 280_000),
}


def cost(model: str, tin: int, tout: int, cached: int = 0) -> int:
    pin, pc, pout = PRICE[model]
    return -(-((tin - cached) * pin + cached * pc + tout * pout) // 1_000_000)


# the served requests in trace_gateway_log.jsonl: (key, model, task, in, out, cached)
SERVED = [
    ("alpha", "claude-opus-4.7", "code_generation", 2000, 1000, 0),
    ("alpha", "claude-opus-4.7", "code_generation", 1000, 500, 400),
    ("beta", "gpt-5.5", "complex_reasoning", 3000, 2000, 0),
    ("beta", "deepseek-v4-pro", "simple_chat", 100, 50, 0),
    ("alpha", "gpt-5.4-mini", "simple_chat", 333, 77, 0),
    ("gamma", "gpt-5.4-mini", "summarization", 5000, 400, 0),
    ("gamma", "gpt-5.5", "summarization", 5000, 400, 0),
]
# cheapest candidate per task meeting the demo route's threshold (auto chains)
CHEAPEST = {"code_generation": "gpt-5.5", "complex_reasoning": "gpt-5.5", "simple_chat": "deepseek-v4-pro",
            "summarization": "deepseek-v4-pro"}


def rows(rep: dict, dim: str) -> dict[str, int]:
    return {r["name"]: r["cost_micro"] for r in rep[f"by_{dim}"]}


def check(rep: dict) -> None:
    costs = [cost(m, i, o, c) for _, m, _, i, o, c in SERVED]
    assert costs == [105_000, 47_100, 75_000, 28, 257, 2_640, 37_000]
    assert rep["requests"] == 7 and rep["cost_micro"] == sum(costs) == 267_025
    for dim, col in (("key", 0), ("model", 1), ("task", 2)):
        expect: dict[str, int] = {}
        for row, c in zip(SERVED, costs):
            expect[row[col]] = expect.get(row[col], 0) + c
        assert rows(rep, dim) == expect
    # 6 request types (task, model); the top ceil(0.2 x 6) = 2: code/opus and complex/gpt-5.5
    conc = rep["concentration"]
    assert (conc["types"], conc["top_types"]) == (6, 2)
    assert conc["top_cost_micro"] == 105_000 + 47_100 + 75_000
    assert conc["share"] == pytest.approx(227_100 / 267_025)
    savings = {s["task"]: s for s in rep["savings"]}
    total_saving = 0
    for task, best in CHEAPEST.items():
        mine = [(m, i, o, c) for _, m, t, i, o, c in SERVED if t == task]
        observed = sum(cost(*r) for r in mine)
        would = sum(cost(best, i, o, c) for _, i, o, c in mine)
        assert savings[task]["cheapest"] == best
        assert savings[task]["cost_micro"] == observed
        assert savings[task]["cheapest_cost_micro"] == would
        assert savings[task]["saving_micro"] == observed - would
        total_saving += max(0, observed - would)
    assert rep["saving_micro"] == total_saving == 93_900 + 0 + 188 + 38_016


def test_audit_of_a_log_file() -> None:
    records = records_from_log(LOG.read_bytes().splitlines())
    assert len(records) == 7  # the 429 line, the start-up line and the non-JSON line are skipped
    check(audit(records, CONFIG))


def test_audit_cli_on_a_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_main(["--log", str(LOG), "--config", str(ROOT / "configs" / "demo.yaml"), "--json"]) == 0
    check(orjson.loads(capsys.readouterr().out))
    assert audit_main(["--log", str(LOG), "--config", str(ROOT / "configs" / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "0.267025 USD" in out and "estimated saving: 0.132104 USD" in out
    assert "2 of 6 (task, model) pairs" in out


def test_quality_threshold_excludes_cheaper_models() -> None:
    # code_generation needs 0.95: deepseek (0.85) is cheaper but not a candidate; opus and gpt-5.5 are
    recs = [Record("code_generation", "claude-opus-4.7", "k", cost("claude-opus-4.7", 1000, 100), 1000, 100)]
    s = audit(recs, CONFIG)["savings"][0]
    assert s["cheapest"] == "gpt-5.5" and s["cheapest_cost_micro"] == cost("gpt-5.5", 1000, 100)


def test_concentration_empty_and_single() -> None:
    assert concentration([])["share"] == 0.0
    one = concentration([Record("simple_chat", "m", "k", 5, 1, 1)])
    assert (one["types"], one["top_types"], one["share"]) == (1, 1, 1.0)


def test_audit_reads_a_real_ledger(redis_url: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"audit{uuid.uuid4().hex[:8]}"
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text((ROOT / "configs" / "demo.yaml").read_text().replace("prefix: gw", f"prefix: {prefix}"))
    stream = "{" + prefix + "}:ledger"

    async def fill() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            for n, (key, model, task, tin, tout, cached) in enumerate(SERVED):
                await client.xadd(stream, {
                    "req_id": f"r{n}", "status": "settled", "day": "2026-01-01", "key": key,
                    "deployment": model, "provider": "p", "model": model, "task": task, "route": "auto",
                    "cost": cost(model, tin, tout, cached), "reserved": 999_999, "in": tin, "out": tout,
                    "cached": cached, "outcome": "success", "latency_ms": 12, "ts_us": 1_767_225_600_000_000 + n})
            # a release (no cost) and an orphan charge (cost, no model): not requests
            await client.xadd(stream, {"req_id": "r8", "status": "released", "day": "2026-01-01", "key": "alpha",
                                       "deployment": "gpt-5.5", "cost": 0, "reserved": 10, "ts_us": 1})
            await client.xadd(stream, {"req_id": "r9", "status": "orphan", "day": "2026-01-01", "key": "alpha",
                                       "deployment": "gpt-5.5", "cost": 4_321, "reserved": 4_321, "ts_us": 2})
            # another day, filtered out by --day
            await client.xadd(stream, {"req_id": "r10", "status": "settled", "day": "2026-01-02", "key": "zeta",
                                       "deployment": "gpt-5.5", "model": "gpt-5.5", "task": "simple_chat",
                                       "cost": 1_000_000, "in": 1, "out": 1, "cached": 0, "ts_us": 3})
        finally:
            await client.aclose()

    asyncio.run(fill())

    async def paged() -> list:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await OpsState(client, Keys(prefix)).ledger(page=3)
        finally:
            await client.aclose()

    entries = asyncio.run(paged())
    assert [e.fields["req_id"] for e in entries] == [f"r{n}" for n in (*range(7), 8, 9, 10)]
    argv = ["--ledger", "--redis-url", redis_url, "--config", str(cfg_file), "--json"]
    assert audit_main(argv + ["--day", "2026-01-01"]) == 0
    rep = orjson.loads(capsys.readouterr().out)
    check(rep)
    assert rep["orphan_cost_micro"] == 4_321
    assert audit_main(argv) == 0
    rep = orjson.loads(capsys.readouterr().out)
    assert rep["requests"] == 8 and rep["cost_micro"] == 267_025 + 1_000_000


def test_records_from_ledger_pages_of_bytes() -> None:
    entries = [(b"1-0", {b"status": b"settled", b"task": b"simple_chat", b"model": b"m", b"key": b"k",
                         b"cost": b"7", b"in": b"3", b"out": b"2", b"cached": b"0", b"day": b"d"})]
    recs, orphan = records_from_ledger(entries)
    assert recs == [Record("simple_chat", "m", "k", 7, 3, 2, 0, "", "d")] and orphan == 0


def test_embeddings_are_never_offered_a_chat_model() -> None:
    from gateway.offline.audit import Record, task_savings
    from gateway.offline.whatif import load_offline_config
    from tests.procs import ROOT

    config = load_offline_config(ROOT / "configs" / "demo.yaml")
    recs = [Record(task="", model="gemini-embedding-001", key="demo", cost_micro=150, tokens_in=1000, tokens_out=0)]
    (row,) = task_savings(recs, config)
    assert row["cheapest"] == "text-embedding-3-small" and row["saving_micro"] == 150 - 20
