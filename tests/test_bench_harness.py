"""The benchmark harness itself runs and produces a well-formed table and JSON file.

It starts the real engine, simulator and gateway (one and two workers) through bench/run.py for
a fraction of a second per scenario. No assertion on the figures: the machine may be busy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.loadgen import percentile, summarize
from bench.run import COLUMNS, SCENARIOS, _median_dicts, render_table, table_rows

ROOT = Path(__file__).resolve().parent.parent
PCTS = ("p50", "p90", "p99", "mean", "max")


def test_percentile_and_summary() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile(values, 50) == 0.05 and percentile(values, 99) == 0.099 and percentile(values, 100) == 0.1
    assert percentile([], 50) == 0.0
    s = summarize(values)
    assert s["p50"] == 50.0 and s["max"] == 100.0 and s["mean"] == 50.5
    assert summarize([])["p99"] is None


def test_median_and_table_from_results() -> None:
    def result(rps: float, p50: float, errors: int = 0) -> dict:
        return {"rps": rps, "errors": errors, "latency_ms": {k: p50 for k in PCTS}, "ttfc_ms": None}

    med = _median_dicts([result(10, 1.0), result(30, 3.0, 1), result(20, 2.0)])
    assert med["rps"] == 20 and med["latency_ms"]["p50"] == 2.0 and med["errors"] == 1 and med["runs"] == 3
    median = {"direct": {"json_c1": result(500, 1.0), "json_c64": result(2000, 30.0)},
              "gateway": {"json_c1": result(300, 1.5), "json_c64": result(1500, 40.0)}}
    rows = table_rows(median, {"direct": "direct", "gateway": "gw"})
    gw = next(r for r in rows if r["target"] == "gateway")
    assert gw["added_p50_ms"] == 0.5 and gw["rps_json_c64"] == 1500 and gw["added_ttfc_p50_ms"] is None
    text = render_table(rows)
    assert "| gw | +0.50 ms |" in text and "1,500" in text


def test_harness_runs_and_writes_table_and_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--duration", "1", "--warmup", "0.5", "--tool", "python",
         "--no-install", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    header = "| | " + " | ".join(c for c, _ in COLUMNS) + " |"
    assert header in out
    for label in ("direct to simulator (absolute)", "this gateway, 1 worker", "this gateway, 2 workers"):
        assert f"| {label}" in out
    assert "Two workers (unpinned), JSON at c=64" in out

    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    report = json.loads(files[0].read_text())
    assert {"meta", "table", "scaling", "median", "runs", "peers", "failures"} <= report.keys()
    assert report["failures"] == {}
    meta = report["meta"]
    assert meta["nproc"] >= 1 and meta["python"] and len(meta["loadavg_start"]) == 3
    assert meta["engine"]["binary"] and meta["engine"]["allocator"]

    median = report["median"]
    assert set(median) == {"direct", "gateway", "gateway-2w"}
    assert set(median["direct"]) == set(SCENARIOS) and set(median["gateway"]) == set(SCENARIOS)
    assert set(median["gateway-2w"]) == {"json_c64"}
    for target, scenarios in median.items():
        for name, r in scenarios.items():
            assert r["scenario"] == name and r["concurrency"] == SCENARIOS[name].concurrency
            assert isinstance(r["rps"], (int, float)) and r["rps"] >= 0
            assert isinstance(r["requests"], int) and isinstance(r["errors"], int)
            assert set(r["latency_ms"]) == set(PCTS)
            assert (r["ttfc_ms"] is not None) == SCENARIOS[name].stream
    # the concurrency-1 rows always complete requests, even on a loaded machine
    for target in ("direct", "gateway"):
        for name in ("json_c1", "stream_c1"):
            r = median[target][name]
            assert r["requests"] > 0, (target, name, r)
            assert all(isinstance(r["latency_ms"][p], float) for p in PCTS)
        assert isinstance(median[target]["stream_c1"]["ttfc_ms"]["p50"], float)

    rows = {row["target"]: row for row in report["table"]}
    assert set(rows) == {"direct", "gateway", "gateway-2w"}
    for row in rows.values():
        assert {k for _, k in COLUMNS} <= row.keys()
    assert isinstance(rows["gateway"]["added_p50_ms"], float)
    assert isinstance(rows["gateway"]["added_ttfc_p50_ms"], float)

    scaling = report["scaling"]
    assert scaling["rps_two_workers"] >= 0 and scaling["rps_one_worker"] >= 0
    balance = scaling["balance_last_run"]
    assert len(balance["pids"]) == 2 and balance["workers_seen_in_metrics"] >= 1


def test_floor_relays_with_its_two_script_calls(tmp_path: Path) -> None:
    """The floor rows' bare relay answers the official SDK with the simulator's completion and
    makes its script call on the engine before the upstream call and after the answer."""
    import openai
    import redis

    from bench import stack
    from tests.procs import wait_for

    engine = stack.start_engine(tmp_path, cpu=None)
    sim = stack.start_simulator(tmp_path, cpu=None)
    floor = stack.start_floor(tmp_path, sim.port, engine.url, cpu=None)
    client = redis.Redis.from_url(engine.url)
    try:
        with openai.OpenAI(base_url=f"{floor.url}/v1", api_key="unused", max_retries=0) as sdk:
            for _ in range(3):
                done = sdk.chat.completions.create(model="deepseek-v4-pro", messages=[{"role": "user", "content": "hi"}])
                assert done.choices[0].message.content and done.usage.completion_tokens > 0
        assert client.get("{floor}:before") == b"3"
        wait_for(lambda: client.get("{floor}:after") == b"3")
    finally:
        client.close()
        floor.stop()
        sim.stop()
        engine.stop()
