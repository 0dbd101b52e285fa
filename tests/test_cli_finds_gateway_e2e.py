"""The operator commands find the running gateway by themselves (gateway.json in its data dir),
need no provider key, keep the day's spend across a restart on the same data dir, and
`gateway status` counts replicas and workers apart without stale entries after a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import openai

from tests.procs import DEMO_KEY, ROOT, config_yaml, start_gateway, start_simulator, wait_for


def cli(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    # no REDIS_URL, no SIMULATOR_API_KEY, no GATEWAY_CONFIG: only where the data dir is
    env = {"GATEWAY_DATA_DIR": str(data_dir), "PATH": "", "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, capture_output=True, text=True,
                          cwd=cwd)


def test_commands_find_the_gateway_and_spend_survives_a_restart(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    text = config_yaml(sim.port, f"find-{time.time_ns()}") + "housekeeping: {interval_s: 0.2}\n"
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    gw = start_gateway(tmp_path, text, None, workers=2, data_dir=data_dir)  # its private engine
    try:
        running = json.loads((data_dir / "gateway.json").read_text())
        assert running["pid"] == gw.process.pid and running["url"] == gw.url
        assert running["redis_url"].startswith("unix://") and os.stat(data_dir / "gateway.json").st_mode & 0o077 == 0
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello"}])
        wait_for(lambda: json.loads(cli("spend", "--json", data_dir=data_dir, cwd=elsewhere).stdout or "{}")
                 .get("total", {}).get("requests") == 1, 20)
        spent = json.loads(cli("spend", "--json", data_dir=data_dir, cwd=elsewhere).stdout)["total"]["cost_micro"]
        assert spent > 0
        wait_for(lambda: "1 live replica(s), 2 worker(s), 1 config hash(es)"
                 in cli("status", data_dir=data_dir, cwd=elsewhere).stdout, 20)
        out = cli("status", data_dir=data_dir, cwd=elsewhere)
        assert out.returncode == 0 and "differs" not in out.stdout, out.stdout + out.stderr
    finally:
        gw.stop()
    assert not (data_dir / "gateway.json").exists()
    gone = cli("spend", data_dir=data_dir, cwd=elsewhere)
    assert gone.returncode == 2 and "no running gateway found" in gone.stderr and "--url or REDIS_URL" in gone.stderr

    gw = start_gateway(tmp_path, text, None, workers=2, data_dir=data_dir)  # same data dir: same engine file
    try:
        rep = json.loads(cli("spend", "--json", data_dir=data_dir, cwd=elsewhere).stdout)
        assert rep["total"]["cost_micro"] == spent and rep["total"]["requests"] == 1
        # right after the restart: this replica's workers only, not the stopped ones
        wait_for(lambda: "2 worker(s)" in cli("status", data_dir=data_dir, cwd=elsewhere).stdout, 20)
        out = cli("status", data_dir=data_dir, cwd=elsewhere)
        assert "1 live replica(s), 2 worker(s), 1 config hash(es)" in out.stdout and out.returncode == 0
    finally:
        gw.stop()
        sim.stop()
