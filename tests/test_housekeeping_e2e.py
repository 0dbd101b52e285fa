"""Background work through running gateways: replicas and config parity, health probes closing a
breaker, and the token-inflation alert when a model starts answering longer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai

from tests.procs import ADMIN_KEY, DEMO_KEY, ROOT, Proc, config_yaml, sim_set, start_gateway, start_simulator, wait_for

HOUSEKEEPING = """
housekeeping:
  interval_s: 0.2
  inflation_recent_s: 2
  inflation_baseline_s: 3
  inflation_min_requests: 5
"""


def admin(gw: Proc, path: str) -> dict:
    req = urllib.request.Request(f"{gw.url}{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    return json.loads(urllib.request.urlopen(req).read())


def test_replicas_report_config_hashes_and_mismatch(redis_url: str, tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    text = config_yaml(sim.port, f"hk-{time.time_ns()}") + HOUSEKEEPING
    a = start_gateway(tmp_path, text, redis_url, workers=2)
    try:
        wait_for(lambda: len(admin(a, "/admin/cluster")["replicas"]) == 2)
        view = admin(a, "/admin/cluster")
        assert view["mismatch"] is False and view["config_hashes"] == [view["this_config_hash"]]
        cfg = tmp_path / "same.yaml"
        cfg.write_text(text)
        env = {"REDIS_URL": redis_url, "SIMULATOR_API_KEY": "x", "PATH": ""}
        out = subprocess.run([sys.executable, "-m", "gateway.cli", "status", "--config", str(cfg)], env=env,
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0 and "1 live replica(s), 2 worker(s), 1 config hash(es)" in out.stdout
        b = start_gateway(tmp_path, text.replace("attempt_budget: 4", "attempt_budget: 3"), redis_url)
        try:
            wait_for(lambda: admin(a, "/admin/cluster")["mismatch"])
            assert len(admin(b, "/admin/cluster")["config_hashes"]) == 2
            out = subprocess.run([sys.executable, "-m", "gateway.cli", "status", "--config", str(cfg)], env=env,
                                 capture_output=True, text=True, cwd=ROOT)
            assert out.returncode == 1 and "MISMATCH" in out.stdout
        finally:
            b.stop()
    finally:
        a.stop()
        sim.stop()


def test_health_probe_closes_a_breaker_once_the_provider_answers(redis_url: str, tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    breaker = "failures: 2\n  window_s: 60\n  cooldown_s: 0.5\n  max_cooldown_s: 1\n  probe_lease_s: 30\n  min_sources: 1"
    gw = start_gateway(tmp_path, config_yaml(sim.port, f"hp-{time.time_ns()}", breaker=breaker) + HOUSEKEEPING,
                       redis_url)
    try:
        sim_set(sim, "gpt-5.4-mini", fail_status=503)
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            for _ in range(2):  # both fall back to deepseek; two failures open gpt-5.4-mini's breaker
                client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        assert admin(gw, "/admin/breakers")["breakers"]["gpt-5.4-mini"]["state"] in ("open", "half_open")
        # the model listing answers (the simulator fails only completions), so the next probe after
        # the cooldown closes it without sending a user's request as the probe
        wait_for(lambda: admin(gw, "/admin/breakers")["breakers"]["gpt-5.4-mini"]["state"] == "closed", 15)
    finally:
        gw.stop()
        sim.stop()


def test_inflation_alert_fires_at_40_percent_and_stays_quiet_at_5(redis_url: str, tmp_path: Path) -> None:
    sim = start_simulator(tmp_path)
    gw = start_gateway(tmp_path, config_yaml(sim.port, f"inf-{time.time_ns()}") + HOUSEKEEPING, redis_url)
    msgs = [{"role": "user", "content": "hello, how are you?"}]
    try:
        with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=DEMO_KEY, max_retries=0) as client:
            def burst(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    client.chat.completions.create(model="gpt-5.5", messages=msgs)
                    client.chat.completions.create(model="gpt-5.4", messages=msgs)

            burst(3.5)  # the baseline: 16-token answers from both
            sim_set(sim, "gpt-5.5", length_factor=1.4)
            sim_set(sim, "gpt-5.4", length_factor=1.05)
            seen: list[dict] = []
            found: list[dict] = []
            metrics = ""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (found and "gpt-5.5" in metrics):
                burst(0.3)
                seen += admin(gw, "/admin/alerts")["alerts"]
                found = [a for a in seen if a["model"] == "gpt-5.5" and a["metric"] == "output_tokens"]
                metrics = urllib.request.urlopen(f"{gw.url}/metrics").read().decode()
            for _ in range(6):  # a whole recent window more at the new lengths: the 5% model stays quiet
                burst(0.3)
                seen += admin(gw, "/admin/alerts")["alerts"]
        assert found and found[0]["change"] > 0.2  # 16 -> 22 tokens: +37.5% once the window is all new
        assert 'gateway_token_inflation_change{model="gpt-5.5",task="simple_chat",metric="output_tokens"' in metrics
        assert not [a for a in seen if a["model"] == "gpt-5.4"]
    finally:
        gw.stop()
        sim.stop()


def test_health_probe_opens_an_untouched_breaker_when_the_provider_is_down(redis_url: str, tmp_path: Path) -> None:
    """A provider that stops answering: the probes' failures count toward opening the breakers of
    deployments no request has touched yet (no breaker hash stored), and the background loop does
    not trip over the missing hash."""
    sim = start_simulator(tmp_path)
    breaker = "failures: 2\n  window_s: 60\n  cooldown_s: 30\n  max_cooldown_s: 60\n  probe_lease_s: 30\n  min_sources: 1"
    gw = start_gateway(tmp_path, config_yaml(sim.port, f"hd-{time.time_ns()}", breaker=breaker) + HOUSEKEEPING,
                       redis_url)
    try:
        assert admin(gw, "/admin/breakers")["breakers"]["gpt-5.4-mini"]["state"] == "closed"
        sim.stop()  # connection refused from now on: every probe is a failure
        wait_for(lambda: admin(gw, "/admin/breakers")["breakers"]["gpt-5.4-mini"]["state"] == "open", 15)
        lines = "\n".join(gw.log_lines())
        assert "breaker_changed_by_probe" in lines
        assert "housekeeping_failed" not in lines, lines[-3000:]
    finally:
        gw.stop()
        sim.stop()
