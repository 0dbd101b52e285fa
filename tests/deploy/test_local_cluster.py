"""The local cluster of `make cluster` (scripts/cluster.py), without the load balancer: the client
does round-robin over the replicas listed in the cluster's state file, with the official `openai`
SDK, while the cluster scales from 2 replicas to 4 and back to 2. Limits and spend must stay exact
across the change: a key limited to K requests a minute gets exactly K successes in total whatever
replica answers, and the spend in Redis equals the cost the replicas logged, to the micro-dollar.

The key's rate limit is a GCRA bucket (burst K, one more every 60/K s): the load runs inside one
refill interval after the first success, so "exactly K" is the exact expectation.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import openai
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "scripts" / "cluster.py"
LIMITED_KEY = "sk-gateway-demo"
BULK_KEY = "sk-gateway-bulk-load"
K = 2                      # the limited key's requests per minute (one more every 30 s)
REFILL_S = 60 / K          # the bucket admits one more request this long after the burst
LOAD_THREADS = {LIMITED_KEY: 2, BULK_KEY: 2}
MESSAGES = [{"role": "user", "content": "Say hello"}]


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def config_text(prefix: str) -> str:
    """Like tests/procs.py config_yaml: every provider is the simulator (its port from the env)."""
    return f"""
server:
  request_timeout_s: 30
  attempt_budget: 4
state:
  prefix: {prefix}
  timeout_ms: 1000
budget:
  daily_usd: 0
breaker:
  failures: 50
  window_s: 60
  cooldown_s: 5
providers:
  sim:
    format: openai
    base_url: http://127.0.0.1:${{SIMULATOR_PORT}}/v1
    api_key_env: SIMULATOR_API_KEY
models:
  gpt-5.4-mini: {{provider: sim, price: {{input: 0.4, output: 1.6, cached_input: 0.04}}, context_window: 400000}}
  deepseek-v4-pro: {{provider: sim, price: {{input: 0.14, output: 0.28}}, context_window: 128000}}
routes:
  auto:
    primary: gpt-5.4-mini
    fallbacks: [deepseek-v4-pro]
default_route: auto
keys:
  - name: limited
    sha256: {sha(LIMITED_KEY)}
    rpm: {K}
  - name: bulk
    sha256: {sha(BULK_KEY)}
"""


def cluster(state_dir: Path, *args: str, timeout: float = 120) -> str:
    env = {**os.environ, "SIMULATOR_API_KEY": "sim-test-key"}
    out = subprocess.run([sys.executable, str(CLUSTER), "--state-dir", str(state_dir), *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"cluster.py {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out.stdout


class Membership:
    """The replica URLs from the cluster's state file (rewritten atomically on every change)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mtime = 0.0
        self.urls: list[str] = []
        self.lock = threading.Lock()

    def current(self) -> list[str]:
        with self.lock:
            mtime = self.path.stat().st_mtime
            if mtime != self.mtime:
                self.urls = [r["url"] for r in json.loads(self.path.read_text())["replicas"]]
                self.mtime = mtime
            return self.urls


@pytest.fixture
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    state_dir = Path(tmp_path_factory.mktemp("cluster"))
    prefix = f"lc{uuid.uuid4().hex[:8]}"
    config = state_dir / "gateway.yaml"
    config.write_text(config_text(prefix))
    try:
        cluster(state_dir, "up", "--replicas", "2", "--workers", "2", "--lb", "none", "--sim-port", "0",
                "--config", str(config), "--grace", "10", "--drain-delay", "1")
        yield state_dir, {"prefix": prefix}
    finally:
        subprocess.run([sys.executable, str(CLUSTER), "--state-dir", str(state_dir), "down"], cwd=ROOT,
                       capture_output=True, timeout=60)


def test_limits_and_spend_stay_exact_while_scaling_2_to_4_to_2(local_cluster: tuple[Path, dict]) -> None:
    state_dir, info = local_cluster
    state = json.loads((state_dir / "state.json").read_text())
    members = Membership(state_dir / "state.json")
    assert len(members.current()) == 2
    clients: dict[tuple[str, str], openai.OpenAI] = {}
    # one round-robin counter per key: with one shared counter the four threads can phase-lock so
    # that a key's requests only ever land on some of the replicas
    rr = {key: itertools.count() for key in LOAD_THREADS}
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()
    first_ok = threading.Event()
    t0: list[float] = []

    def client(url: str, key: str) -> openai.OpenAI:
        with lock:
            if (url, key) not in clients:
                clients[url, key] = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)
            return clients[url, key]

    def load(key: str) -> None:
        while not stop.is_set():
            urls = members.current()
            url = urls[next(rr[key]) % len(urls)]
            rec: dict[str, Any] = {"key": key, "url": url}
            try:
                raw = client(url, key).chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
                raw.parse()
                rec.update(status=200, cost_micro=round(float(raw.headers["x-gateway-cost-usd"]) * 1_000_000),
                           request_id=raw.headers["x-request-id"])
                if key == LIMITED_KEY and not first_ok.is_set():
                    t0.append(time.monotonic())
                    first_ok.set()
            except openai.RateLimitError as exc:
                rec.update(status=429, code=exc.body.get("code") if isinstance(exc.body, dict) else None)
            except openai.APIConnectionError:
                rec.update(status="connection")
            except openai.APIStatusError as exc:
                rec.update(status=exc.status_code, body=str(exc.body)[:200])
            with lock:
                results.append(rec)
            time.sleep(0.05)  # leave CPU to the replicas that are starting

    threads = [threading.Thread(target=load, args=(key,), daemon=True)
               for key, n in LOAD_THREADS.items() for _ in range(n)]
    for t in threads:
        t.start()
    try:
        assert first_ok.wait(15), f"no success within 15 s: {results[:5]}"
        cluster(state_dir, "scale", "4")
        up_at = time.monotonic() - t0[0]
        assert len(members.current()) == 4
        n4 = len(results)
        time.sleep(1.5)  # the four replicas all take traffic
        served_by_4 = len(results) - n4
        cluster(state_dir, "scale", "2")
        down_at = time.monotonic() - t0[0]
        assert len(members.current()) == 2
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    elapsed = time.monotonic() - t0[0]
    # The precondition of "exactly K": everything happened before the bucket refilled one request.
    assert elapsed < REFILL_S - 1, f"load ran {elapsed:.1f} s, past the {REFILL_S:.0f} s refill of a {K}/min key"

    by_status = Counter((r["key"], r["status"]) for r in results)
    limited_ok = [r for r in results if r["key"] == LIMITED_KEY and r["status"] == 200]
    bulk_ok = [r for r in results if r["key"] == BULK_KEY and r["status"] == 200]
    odd = [r for r in results if r["status"] not in (200, 429)]
    assert not odd, f"unexpected outcomes: {odd[:5]} ({by_status})"
    assert len(limited_ok) == K, by_status
    assert all(r.get("code") == "rate_limit_exceeded" for r in results if r["status"] == 429)
    assert not [r for r in results if r["key"] == BULK_KEY and r["status"] != 200], by_status
    urls_used = Counter(r["url"] for r in results)
    assert len(urls_used) == 4, f"all four replicas answered: {urls_used}"
    limited_urls = Counter(r["url"] for r in results if r["key"] == LIMITED_KEY)
    assert len(limited_urls) == 4, f"the limited key was refused by every replica, old and new: {limited_urls}"

    # Spend: Redis against the replicas' own JSON log lines (and the headers), to the micro-dollar.
    r = redis.Redis.from_url(state["redis_url"], decode_responses=True)
    prefix = info["prefix"]
    ok_total = len(limited_ok) + len(bulk_ok)

    def spend_fields() -> Counter:
        total: Counter = Counter()
        for key in r.scan_iter(match=f"{{{prefix}}}:spend:*"):
            total.update({f: int(v) for f, v in r.hgetall(key).items()})
        return total

    deadline = time.monotonic() + 10
    while spend_fields()["req:total"] < ok_total and time.monotonic() < deadline:
        time.sleep(0.05)  # settle runs after the response is sent
    spend = spend_fields()
    assert r.hlen(f"{{{prefix}}}:res") == 0, "no reservation left open"

    lines = []
    for log in sorted(state_dir.glob("replica-*.log")):
        for line in log.read_text().splitlines():
            if line.startswith("{"):
                doc = json.loads(line)  # a torn line (two workers interleaving) fails here
                if doc.get("event") == "request":
                    lines.append({**doc, "log": log.name})
    logged_ok = [d for d in lines if d["status"] == 200]
    header_micro = sum(r_["cost_micro"] for r_ in limited_ok + bulk_ok)
    logged_micro = sum(d["cost_micro"] for d in logged_ok)
    assert {d["request_id"] for d in logged_ok} == {x["request_id"] for x in limited_ok + bulk_ok}
    assert len({d["log"] for d in lines}) == 4, "every replica logged requests"
    assert spend["req:total"] == ok_total == len(logged_ok)
    assert spend["cost:total"] == logged_micro == header_micro, (spend["cost:total"], logged_micro, header_micro)
    assert spend["cost:key:limited"] == sum(d["cost_micro"] for d in logged_ok if d["key"] == "limited")
    assert spend["cost:key:bulk"] == sum(d["cost_micro"] for d in logged_ok if d["key"] == "bulk")
    assert spend["req:key:limited"] == K

    print(f"\nscale test: {len(results)} requests over {elapsed:.1f} s; "
          f"4 replicas at +{up_at:.1f} s, back to 2 at +{down_at:.1f} s; {served_by_4} answered while 4 ran; "
          f"limited key {K}/min: {len(limited_ok)} ok, {by_status[(LIMITED_KEY, 429)]} refused (429) across "
          f"{len(limited_urls)} replicas; bulk: {len(bulk_ok)} ok; spend {spend['cost:total']} µ$ in Redis = "
          f"{logged_micro} µ$ logged = {header_micro} µ$ in headers; per replica {dict(urls_used)}")
