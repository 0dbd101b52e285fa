"""Real processes for end-to-end tests: the provider simulator and the gateway, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from gateway.state.engine import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "sk-gateway-demo"
ADMIN_KEY = "sk-gateway-admin"
DEMO_KEY_SHA = "0b006f9beb977623c3f78ec1be7fe09519ecfab87240f4f263e4164f76667e55"
ADMIN_KEY_SHA = "240b08935d75d214d3a0c06693e7963ca5125d2a703b90966cb92f279374a68a"


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def wait_for(condition: "Callable[[], bool]", timeout: float = 10.0) -> None:
    """Poll until a condition holds (work finishing in the background); fail if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition did not hold in time")
        time.sleep(0.02)


@dataclass
class Proc:
    process: subprocess.Popen
    port: int
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process, timeout=10)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path and self.log_path.exists() else []

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(tmp: Path, seed: int = 7) -> Proc:
    port = free_port()
    log = tmp / f"simulator-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--port", str(port), "--seed", str(seed)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    wait_http(f"http://127.0.0.1:{port}/_sim/stats", proc)
    return Proc(proc, port, log)


def sim_set(sim: Proc, model: str, **knobs: object) -> None:
    """Set a simulated model's knobs (failures, latency, answers: gateway/simulator/knobs.py)."""
    req = urllib.request.Request(f"{sim.url}/_sim/models/{model}", data=json.dumps(knobs).encode(), method="PUT",
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()


def sim_reset(sim: Proc) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{sim.url}/_sim/reset", data=b"{}", method="POST")).read()


def sim_invocations(sim: Proc) -> list[dict[str, object]]:
    """The simulated Bedrock's invocation log: each accepted call's requestMetadata and latency."""
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["invocation_log"]


def sim_requests(sim: Proc, last: int = 50) -> list[dict[str, Any]]:
    """The bodies the simulated providers last received (oldest first): what the gateway sent upstream."""
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/requests?last={last}").read())["requests"]


def sim_calls(sim: Proc) -> dict[str, int]:
    return json.loads(urllib.request.urlopen(f"{sim.url}/_sim/stats").read())["calls"]


def start_gateway(tmp: Path, config_text: str, redis_url: str | None, workers: int = 1,
                  env: dict[str, str] | None = None, grace: int = 5, data_dir: Path | None = None,
                  preexec_fn: "Callable[[], None] | None" = None, ready_timeout: float = 20.0) -> Proc:
    """`gateway serve` as a real process; `redis_url=None` lets it start its private engine."""
    port = free_port()
    config = tmp / f"gateway-{port}.yaml"
    config.write_text(config_text)
    log = tmp / f"gateway-{port}.log"
    full_env = {**os.environ, "SIMULATOR_API_KEY": "sim-test-key", **(env or {})}
    full_env.pop("REDIS_URL", None)
    if redis_url:
        full_env["REDIS_URL"] = redis_url
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port),
           "--workers", str(workers), "--grace", str(grace),
           "--data-dir", str(data_dir or tmp / f"gateway-{port}-data")]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT, env=full_env,
                            preexec_fn=preexec_fn)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, ready_timeout)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{log.read_text()[-3000:]}") from None
    return Proc(proc, port, log)


@contextmanager
def sim_and_gateway(tmp: Path, config_for: Callable[[int], str], redis_url: str | None,
                    **gateway_args: Any) -> Iterator[tuple[Proc, Proc]]:
    """A private simulator and a gateway configured for its port (`config_for(sim_port)`), as
    (gateway, simulator); both stopped at the end, the simulator also when the gateway fails to start."""
    with start_simulator(tmp) as sim, start_gateway(tmp, config_for(sim.port), redis_url, **gateway_args) as gw:
        yield gw, sim


def quality_models(sim_port: int) -> str:
    """The `providers` and `models` sections of the routing tests: the simulator as one provider
    and four chat models with prices and per-task quality scores (what `min_quality`, `cheapest`
    chains and the on_uncertain policy read)."""
    return f"""providers:
  sim: {{format: openai, base_url: http://127.0.0.1:{sim_port}/v1, api_key_env: SIMULATOR_API_KEY}}
models:
  gpt-5.5: {{provider: sim, price: {{input: 5, output: 30}}, quality: {{code_generation: 0.96, simple_chat: 0.99}}}}
  claude-opus-4.7: {{provider: sim, price: {{input: 15, output: 75}}, quality: {{code_generation: 0.98}}}}
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6}}, quality: {{simple_chat: 0.93}}}}
  deepseek-v4-pro: {{provider: sim, price: {{input: 0.14, output: 0.28}}, quality: {{simple_chat: 0.90}}}}"""


def config_yaml(sim_port: int, prefix: str, *, key_rpm: int = 0, key_budget_usd: float = 0,
                global_budget_usd: float = 0, extra_models: str = "", routes: str | None = None,
                breaker: str = "failures: 3\n  window_s: 60\n  cooldown_s: 600\n  max_cooldown_s: 600\n  probe_lease_s: 60\n  min_sources: 1",
                server: str = "request_timeout_s: 30\n  attempt_budget: 4") -> str:
    """A test config whose providers all point at the simulator on `sim_port`."""
    routes = routes or """  auto:
    primary: gpt-5.4-mini
    fallbacks: [deepseek-v4-pro]
  frontier:
    primary: gpt-5.5
    fallbacks: [gpt-5.4]"""
    return f"""
server:
  {server}
state:
  prefix: {prefix}
  timeout_ms: 1000
budget:
  daily_usd: {global_budget_usd}
breaker:
  {breaker}
providers:
  sim:
    format: openai
    base_url: http://127.0.0.1:{sim_port}/v1
    api_key_env: SIMULATOR_API_KEY
models:
  gpt-5.5: {{provider: sim, price: {{input: 5.0, output: 30.0, cached_input: 0.5}}, context_window: 400000}}
  gpt-5.4: {{provider: sim, price: {{input: 2.5, output: 15.0, cached_input: 0.25}}, context_window: 400000}}
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6, cached_input: 0.04}}, context_window: 400000}}
  deepseek-v4-pro: {{provider: sim, price: {{input: 0.14, output: 0.28}}, context_window: 128000}}
{extra_models}
routes:
{routes}
default_route: auto
keys:
  - name: demo
    sha256: {DEMO_KEY_SHA}
    rpm: {key_rpm}
    daily_budget_usd: {key_budget_usd}
admin_key_sha256: {ADMIN_KEY_SHA}
"""
