"""What-if simulator: fixed traces replayed through the real classifier and planner; expected
totals computed here from the list prices (micro-dollars per million tokens, rounded up per request)."""

from __future__ import annotations

import importlib.util

import orjson
import pytest

from gateway.routing.classify import classify
from gateway.routing.plan import sticky_share
import tempfile
from pathlib import Path

from gateway.offline.whatif import load_offline_config, read_trace, simulate, simulate_main, whatif_main
from tests.procs import ROOT

DATA = ROOT / "tests" / "data"
DEMO = load_offline_config(ROOT / "configs" / "demo.yaml")


def _opus_for_code() -> object:
    """The demo config with Claude Opus first for code (as the demo had it before): a task whose
    primary is on Anthropic, so the outage strategy has something to move."""
    text = (ROOT / "configs" / "demo.yaml").read_text().replace(
        "code_generation: {primary: gpt-5.5, fallbacks: [claude-opus-4.7]",
        "code_generation: {primary: claude-opus-4.7, fallbacks: [gpt-5.5]")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "opus.yaml"
        path.write_text(text)
        return load_offline_config(path)


CONFIG = _opus_for_code()

# USD per million tokens (input, output) from configs/demo.yaml, as integer micro-dollars
PRICE = {
    "gpt-5.5": (5_000_000, 30_000_000),
    "gpt-5.4": (2_500_000, 15_000_000),
    "gpt-5.4-mini": (400_000, 1_600_000),
    "claude-opus-4.7": (15_000_000, 75_000_000),
    "deepseek-v4-pro": (140_000, 280_000),
}
QUALITY = {  # configs/demo.yaml quality scores
    "gpt-5.5": {"simple_chat": 0.99, "code_generation": 0.96, "summarization": 0.97, "complex_reasoning": 0.97},
    "gpt-5.4": {"simple_chat": 0.98, "code_generation": 0.93, "summarization": 0.95, "complex_reasoning": 0.92},
    "gpt-5.4-mini": {"simple_chat": 0.93, "code_generation": 0.82, "summarization": 0.90, "complex_reasoning": 0.78},
    "claude-opus-4.7": {"simple_chat": 0.98, "code_generation": 0.98, "summarization": 0.96,
                        "complex_reasoning": 0.96},
    "deepseek-v4-pro": {"simple_chat": 0.90, "code_generation": 0.85, "summarization": 0.84,
                        "complex_reasoning": 0.80},
}
ROUTE = {"simple_chat": "deepseek-v4-pro", "summarization": "gpt-5.4-mini", "code_generation": "claude-opus-4.7",
         "complex_reasoning": "gpt-5.5"}


def cost(model: str, tin: int, tout: int) -> int:
    pin, pout = PRICE[model]
    return -(-(tin * pin + tout * pout) // 1_000_000)


def lines(name: str) -> list[dict]:
    return [orjson.loads(line) for line in (DATA / name).read_bytes().splitlines() if line.strip()]


def by_name(rep: dict) -> dict[str, dict]:
    return {s["name"]: s for s in rep["strategies"]}


def test_small_token_trace_every_strategy() -> None:
    trace = lines("trace_small.jsonl")
    # the summarization lines sit one in each arm of the demo's 10% experiment (cheapest chain)
    assert sticky_share("summaries-cheapest", "bob") >= 0.10 > sticky_share("summaries-cheapest", "alice")
    # 8 lines 3 h apart stand for exactly one day: monthly = 30 x the trace
    rep = simulate(CONFIG, read_trace(DATA / "trace_small.jsonl"), frontier="gpt-5.5",
                   outage=("anthropic", 0.6, 0.9))
    assert rep["span_days"] == 1 and rep["scale"] == 30
    s = by_name(rep)

    frontier = sum(cost("gpt-5.5", r["prompt_tokens"], r["completion_tokens"]) for r in trace)
    assert frontier == 182_500
    assert s["frontier"]["cost_micro"] == frontier
    assert s["frontier"]["monthly_usd"] == pytest.approx(frontier * 30 / 1e6)
    assert s["frontier"]["cost_per_request_usd"] == pytest.approx(frontier / 8 / 1e6)
    assert s["frontier"]["model_share"] == {"gpt-5.5": 1.0}

    mid = sum(cost("gpt-5.4", r["prompt_tokens"], r["completion_tokens"]) for r in trace)
    assert s["mid"]["cost_micro"] == mid == 91_250

    def routed(r: dict) -> str:
        if r["task"] == "summarization" and r["user"] == "alice":
            return "deepseek-v4-pro"  # treatment arm: cheapest good-enough model
        return ROUTE[r["task"]]

    models = [routed(r) for r in trace]
    routing = sum(cost(m, r["prompt_tokens"], r["completion_tokens"]) for m, r in zip(models, trace))
    assert s["routing"]["cost_micro"] == routing
    assert s["routing"]["task_cost_micro"]["code_generation"] == cost("claude-opus-4.7", 1500, 800) + cost(
        "claude-opus-4.7", 800, 400) == 82_500 + 42_000
    assert sum(s["routing"]["task_cost_micro"].values()) == routing
    assert s["routing"]["model_requests"] == {"deepseek-v4-pro": 3, "claude-opus-4.7": 2, "gpt-5.5": 2,
                                              "gpt-5.4-mini": 1}
    q_front = sum(QUALITY["gpt-5.5"][r["task"]] for r in trace) / 8
    q_route = sum(QUALITY[m][r["task"]] for m, r in zip(models, trace)) / 8
    assert s["frontier"]["avg_quality"] == pytest.approx(q_front, abs=1e-4)
    assert s["routing"]["avg_quality"] == pytest.approx(q_route, abs=1e-4)
    assert s["routing"]["quality_delta_vs_frontier"] == pytest.approx(q_route - q_front, abs=1e-4)

    # anthropic down over 60%..90% of the time range: only line 5 (code, t = 15 h of 21 h) moves,
    # to the chain's first candidate on another provider (gpt-5.5)
    outage_models = list(models)
    outage_models[5] = "gpt-5.5"
    outage = sum(cost(m, r["prompt_tokens"], r["completion_tokens"]) for m, r in zip(outage_models, trace))
    assert s["outage"]["cost_micro"] == outage
    assert s["outage"]["rerouted"] == 1 and s["outage"]["unserved"] == 0
    assert rep["outcomes"] == {"error": 1}


def test_defaults_frontier_is_the_best_model_and_outage_hits_the_costliest_task() -> None:
    rep = simulate(CONFIG, read_trace(DATA / "trace_small.jsonl"))
    # gpt-5.5's mean quality (0.9725) is the config's highest; Opus (0.97) costs more but is not the frontier
    assert rep["frontier"] == "gpt-5.5" and rep["mid"] == "gpt-5.4"
    # code generation (claude-opus-4.7) is the most expensive task under routing -> anthropic down
    assert rep["outage"] == {"provider": "anthropic", "start": 0.45, "end": 0.55}
    trace = lines("trace_small.jsonl")
    best = sum(cost("gpt-5.5", r["prompt_tokens"], r["completion_tokens"]) for r in trace)
    assert by_name(rep)["frontier"]["cost_micro"] == best


def test_the_demo_routing_saves_against_frontier_and_mid_tier_on_the_sample(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert whatif_main(["--config", str(ROOT / "configs" / "demo.yaml"), "--json"]) == 0
    s = by_name(orjson.loads(capsys.readouterr().out))
    assert s["frontier"]["label"] == "all on gpt-5.5" and s["mid"]["label"] == "all on gpt-5.4"
    # docs/cost.md: about $4,500, $2,250 and $1,670 a month at 100,000 requests a day
    assert 4_300 < s["frontier"]["monthly_usd"] < 4_700 and 2_150 < s["mid"]["monthly_usd"] < 2_350
    assert s["routing"]["monthly_usd"] < 0.8 * s["mid"]["monthly_usd"] < s["frontier"]["monthly_usd"]
    assert s["routing"]["model_share"]["gpt-5.5"] == pytest.approx(0.25, abs=0.01)  # code + reasoning
    assert whatif_main(["--config", str(ROOT / "configs" / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "built-in sample" in out
    assert "task routing (auto): saves 6" in out and "% against all on gpt-5.5, saves 2" in out


def test_simulate_is_the_deprecated_name_of_whatif(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    argv = ["--trace", str(DATA / "trace_small.jsonl"), "--config", str(ROOT / "configs" / "demo.yaml"), "--json"]
    assert main(["whatif", *argv]) == 0
    new = capsys.readouterr()
    assert main(["simulate", *argv]) == 0
    old = capsys.readouterr()
    assert old.out == new.out and new.err == ""
    assert old.err.splitlines() == ["gateway: `gateway simulate` is now `gateway whatif` (the old name goes in a "
                                    "later release)"]


def test_messages_trace_goes_through_the_real_classifier() -> None:
    trace = lines("trace_messages.jsonl")
    default_out = {"simple_chat": 150, "summarization": 250, "code_generation": 600, "complex_reasoning": 800}
    expected, tasks = 0, []
    for r in trace:
        task = classify(r["messages"]).task
        tasks.append(task)
        chars = sum(len(m["content"]) for m in r["messages"])
        tin = r.get("prompt_tokens", chars // 4 + 1)
        tout = r.get("completion_tokens", default_out[task])
        expected += cost("gpt-5.5", tin, tout)
    rep = simulate(CONFIG, read_trace(DATA / "trace_messages.jsonl"), frontier="gpt-5.5")
    assert rep["classified"] == 4
    assert rep["task_share"] == {t: tasks.count(t) / 4 for t in set(tasks)}
    # 4 lines over 3 h: (3 h) x 4/3 = 4 h = 1/6 day -> a month is 180 traces
    assert rep["scale"] == pytest.approx(180)
    assert by_name(rep)["frontier"]["cost_micro"] == expected
    assert by_name(rep)["frontier"]["monthly_usd"] == pytest.approx(expected * 180 / 1e6)


def test_cli_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--trace", str(DATA / "trace_small.jsonl"), "--config", str(ROOT / "configs" / "demo.yaml"),
            "--frontier", "gpt-5.5"]
    assert simulate_main(argv) == 0
    out = capsys.readouterr().out
    assert "all on gpt-5.5" in out and f"{182_500 * 30 / 1e6:,.2f}" in out
    assert "all on gpt-5.4" in out and f"{91_250 * 30 / 1e6:,.2f}" in out
    assert simulate_main(argv + ["--json", "--days", "31"]) == 0
    rep = orjson.loads(capsys.readouterr().out)
    assert by_name(rep)["frontier"]["monthly_usd"] == pytest.approx(182_500 * 31 / 1e6)
    assert simulate_main(argv + ["--outage", "nope"]) == 2


def test_generator_shape_matches_the_write_up(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("gen_trace", ROOT / "scripts" / "gen_trace.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = tmp_path / "t.jsonl"
    assert gen.main(["--requests-per-day", "4000", "--days", "1", "--seed", "1", "--out", str(out)]) == 0
    trace = lines(str(out))
    assert len(trace) == 4000
    again = tmp_path / "t2.jsonl"
    gen.main(["--requests-per-day", "4000", "--days", "1", "--seed", "1", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()
    share = sum(r["task"] == "complex_reasoning" for r in trace) / len(trace)
    assert 0.12 < share < 0.18
    # all on gpt-5.5: about $0.0015 a request ($4,500 / (100,000 x 30))
    per_request = sum(cost("gpt-5.5", r["prompt_tokens"], r["completion_tokens"]) for r in trace) / len(trace)
    assert 1_300 < per_request < 1_700
    rep = simulate(CONFIG, read_trace(out), frontier="gpt-5.5")
    assert rep["span_days"] == pytest.approx(1)
    assert by_name(rep)["frontier"]["monthly_usd"] == pytest.approx(
        sum(cost("gpt-5.5", r["prompt_tokens"], r["completion_tokens"]) for r in trace) * 30 / 1e6)


PRICED = """
providers:
  anthropic: {format: anthropic, base_url: "http://127.0.0.1:9", api_key_env: SIMULATOR_API_KEY}
  gemini: {format: gemini, base_url: "http://127.0.0.1:9", api_key_env: SIMULATOR_API_KEY}
  openai: {format: openai, base_url: "http://127.0.0.1:9/v1", api_key_env: SIMULATOR_API_KEY}
models:
  claude: {provider: anthropic, upstream: claude-sonnet-4-6, price: {input: 3, output: 15, cached_input: 0.3}}
  flash: {provider: gemini, upstream: gemini-2.5-flash,
          price: {input: 0.3, output: 2.5, cached_input: 0.075, web_search: 35, web_search_unit: request}}
  mini: {provider: openai, upstream: gpt-5.4-mini, price: {input: 0.4, output: 1.6, cached_input: 0.04}}
  searchy: {provider: openai, upstream: gpt-4o-search-preview,
            price: {input: 2.5, output: 10, web_search: 35, web_search_unit: request}}
routes:
  auto: {primary: mini}
"""


def test_searches_and_cache_writes_are_priced_at_each_targets_prices(tmp_path, capsys) -> None:
    cfg = tmp_path / "priced.yaml"
    cfg.write_text(PRICED)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(orjson.dumps(line).decode() for line in (
        {"ts": 0, "task": "simple_chat", "prompt_tokens": 1000, "completion_tokens": 100, "web_searches": 3},
        {"ts": 1, "task": "simple_chat", "prompt_tokens": 2000, "completion_tokens": 50, "cached_tokens": 500,
         "cache_write_tokens": 1000, "cache_write_1h_tokens": 400},
        {"ts": 2, "task": "simple_chat", "prompt_tokens": 100, "completion_tokens": 10, "web_searches": 1})) + "\n")
    rep = simulate(load_offline_config(cfg), read_trace(trace), frontier="claude", mid="flash")
    s = by_name(rep)
    assert (rep["web_searches"], rep["searching_requests"], rep["cache_write_tokens"]) == (4, 2, 1000)
    # claude: $3 / $15, cached $0.30, writes 1.25 x and 2 x input (Claude's defaults), $10 per 1,000 searches
    claude = [(1000 * 3 + 100 * 15) + 3 * 10_000,
              500 * 3 + 500 * 0.3 + 600 * 3.75 + 400 * 6 + 50 * 15,
              (100 * 3 + 10 * 15) + 10_000]
    assert claude == [34_500, 7_050, 10_450]
    assert s["frontier"]["cost_micro"] == 52_000 and s["frontier"]["search_cost_micro"] == 40_000
    # flash: a grounded prompt costs $35 per 1,000 once, whatever its searches; writes bill as input
    flash = [550 + 35_000, 613, 55 + 35_000]  # 2nd: 150 + 37.5 + 300 + 125 = 612.5, rounded up
    assert s["mid"]["cost_micro"] == sum(flash) == 71_218 and s["mid"]["search_cost_micro"] == 70_000
    # mini has no search price: its 4 searches are free, and the report says so
    assert s["routing"]["cost_micro"] == 560 + 700 + 56 and s["routing"]["search_cost_micro"] == 0
    assert s["routing"]["unpriced_searches"] == 4 and s["frontier"]["unpriced_searches"] == 0
    # a chat search model searches for every request, counted or not: 3 x $35 per 1,000
    searchy = by_name(simulate(load_offline_config(cfg), read_trace(trace), frontier="claude", mid="searchy"))["mid"]
    assert searchy["search_cost_micro"] == 3 * 35_000 and searchy["unpriced_searches"] == 0
    # (no cached_input given: cached tokens at the input price; writes at input, not a Claude)
    assert searchy["cost_micro"] == (2_500 + 1_000) + (1_250 + 1_250 + 2_500 + 500) + (250 + 100) + 3 * 35_000
    assert whatif_main(["--trace", str(trace), "--config", str(cfg), "--frontier", "claude", "--mid", "flash"]) == 0
    out = capsys.readouterr().out
    assert "web searches: 4 in 2 requests, at each model's price.web_search" in out
    assert "4 on models with no search price, counted free" in out
    assert "cache: 500 read and 1,000 written prompt tokens" in out


def test_a_trace_line_with_impossible_cache_counts_is_refused(tmp_path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text('{"ts": 0, "prompt_tokens": 10, "cached_tokens": 6, "cache_write_tokens": 5}\n')
    with pytest.raises(ValueError, match="must not exceed prompt_tokens"):
        read_trace(trace)


def test_a_line_needing_what_a_model_lacks_is_planned_as_live(tmp_path, capsys) -> None:
    """The demo's deepseek-v4-pro takes text and tools only: a simple chat with an image, or one
    that searched, goes to the chain's next model under routing, and all-on-deepseek leaves it
    unserved, as the gateway would refuse it."""
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(orjson.dumps(line).decode() for line in (
        {"ts": 0, "task": "simple_chat", "messages": [{"role": "user", "content": "hello there"}]},
        {"ts": 1, "task": "simple_chat", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is it?"}, image]}]},
        {"ts": 2, "task": "simple_chat", "prompt_tokens": 100, "web_searches": 2},
        {"ts": 3, "task": "simple_chat", "messages": [{"role": "user", "content": "weather?"}],
         "tools": [{"type": "function", "function": {"name": "weather"}}]})) + "\n")
    reqs = read_trace(trace)
    assert [r.needs for r in reqs] == [frozenset(), {"vision"}, {"web_search"}, {"tools"}]
    rep = simulate(DEMO, reqs, frontier="gpt-5.5", mid="deepseek-v4-pro")
    s = by_name(rep)
    assert rep["needs"] == {"tools": 1, "vision": 1, "web_search": 1}
    assert s["routing"]["model_requests"] == {"deepseek-v4-pro": 2, "gpt-5.4-mini": 2}
    assert (s["mid"]["served"], s["mid"]["unserved"]) == (2, 2)
    assert (s["frontier"]["served"], s["frontier"]["unserved"]) == (4, 0)  # no `supports`: takes everything
    assert whatif_main(["--trace", str(trace), "--config", str(ROOT / "configs" / "demo.yaml"),
                        "--frontier", "gpt-5.5", "--mid", "deepseek-v4-pro"]) == 0
    assert "capabilities needed: tools 1, vision 1, web_search 1 requests" in capsys.readouterr().out
