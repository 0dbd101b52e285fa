"""Spend counters in Redis equal the per-request costs the gateway logged, to the micro-dollar."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import openai
import pytest

from tests.procs import ADMIN_KEY, DEMO_KEY, ROOT, config_yaml, start_gateway, start_simulator, wait_for


def request_lines(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("event") == "request":
                out.append(doc)
    return out


def test_counters_equal_logged_costs(redis_url: str, tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    text = config_yaml(sim.port, "spend1")
    gw = start_gateway(tmp_path, text, redis_url, workers=2)
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            for i in range(24):
                model = ("auto", "frontier", "deepseek-v4-pro")[i % 3]
                messages = [{"role": "user", "content": f"request number {i} " + "words " * i}]
                if i % 2:
                    for _ in client.chat.completions.create(model=model, messages=messages, stream=True):
                        pass
                else:
                    client.chat.completions.create(model=model, messages=messages)
        wait_for(lambda: len(request_lines(gw.log_lines())) == 24)
        logged = request_lines(gw.log_lines())
        assert all(r["status"] == 200 and r["cost_micro"] > 0 for r in logged)
        by_model = Counter()
        for r in logged:
            by_model[r["model"]] += r["cost_micro"]

        req = urllib.request.Request(f"{gw.url}/admin/spend?by=model",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"})
        rep = json.loads(urllib.request.urlopen(req).read())
        assert rep["total"]["cost_micro"] == sum(r["cost_micro"] for r in logged)
        assert rep["total"]["requests"] == 24
        assert {row["name"]: row["cost_micro"] for row in rep["rows"]} == dict(by_model)
        assert rep["reserved_micro"] == 0
        assert rep["total"]["tokens_out"] == sum(r["tokens_out"] for r in logged)

        cfg = tmp_path / "cli.yaml"
        cfg.write_text(text)
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "spend", "--config", str(cfg), "--by", "key",
                              "--json"], env={"REDIS_URL": redis_url, "SIMULATOR_API_KEY": "x", "PATH": ""},
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout
        cli = json.loads(out)
        assert cli["total"]["cost_micro"] == rep["total"]["cost_micro"]
        assert [row["name"] for row in cli["rows"]] == ["demo"]
        table = subprocess.run([sys.executable, "-m", "gateway.cli", "spend", "--config", str(cfg)],
                               env={"REDIS_URL": redis_url, "SIMULATOR_API_KEY": "x", "PATH": ""},
                               capture_output=True, text=True, cwd=ROOT, check=True).stdout
        assert "TOTAL" in table and "gpt-5.5" in table

        bad = urllib.request.Request(f"{gw.url}/admin/spend", headers={"authorization": f"Bearer {DEMO_KEY}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad)
        assert info.value.code == 401
    finally:
        gw.stop()
        sim.stop()
