"""The processes a benchmark drives: a real state engine, the provider simulator, the gateway.

CPU placement (where the machine has 2+ cores): the system under test (our gateway with one
worker, or a peer) on core 0; the load generator, the simulator and the state engine on core 1.
`pin()` returns the `taskset` prefix for a command, or nothing where taskset or the core is
missing, so the harness still runs (unpinned) on a one-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "sk-gateway-demo"
SIM_KEY = "sim-bench-key"
# The demo key's 600 requests/minute would refuse a benchmark after its first half second; the
# limiter stays on (the admit script still checks and writes the key's GCRA bucket on every
# request) with a limit the load cannot reach.
BENCH_KEY_RPM = 6_000_000
GATEWAY_SYSTEM_CPU = 0
LOADGEN_CPU = 1


def _initial_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return set(range(os.cpu_count() or 1))


_CPUS = _initial_cpus()  # taken at import, before the harness pins itself to the load generator's core


def cpus() -> set[int]:
    return set(_CPUS)


def can_pin() -> bool:
    have = cpus()
    return bool(shutil.which("taskset")) and GATEWAY_SYSTEM_CPU in have and LOADGEN_CPU in have


def pin(cpu: int | None) -> list[str]:
    if cpu is None or not can_pin():
        return []
    return ["taskset", "-c", str(cpu)]


def pin_pid(pid: int, cpu: int | None) -> None:
    if cpu is None or not can_pin():
        return
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        pass


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_send(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None,
              headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered\n{tail}")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=1.0) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s\n{tail}")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    port: int
    log: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        from gateway.state.engine import stop_process

        stop_process(self.process, timeout)


def launch(name: str, cmd: list[str], port: int, log: Path, ready_path: str, timeout: float, *,
           cwd: Path = ROOT, env: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Proc:
    """Start `cmd` (output to `log`) and wait until GET `ready_path` answers 200; stop it if not."""
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=cwd, env=env)
    proc = Proc(name, process, port, log, extra or {})
    try:
        wait_http(f"{proc.url}{ready_path}", process, timeout, log)
    except Exception:
        proc.stop()
        raise
    return proc


def free_port() -> int:
    from gateway.state.engine import free_port as _free_port

    return _free_port()


def start_simulator(workdir: Path, cpu: int | None = LOADGEN_CPU) -> Proc:
    """The provider simulator at zero latency (its default), 16-token answers."""
    port = free_port()
    log = workdir / "simulator.log"
    cmd = pin(cpu) + [sys.executable, "-m", "gateway.simulator", "--port", str(port), "--seed", "7",
                      "--log-level", "warning"]
    return launch("simulator", cmd, port, log, "/_sim/stats", 30)


def start_otlp_sink(workdir: Path, cpu: int | None = LOADGEN_CPU) -> Proc:
    """`bench.otlp_sink`: a trace collector that only counts, pinned beside the simulator."""
    port = free_port()
    cmd = pin(cpu) + [sys.executable, "-m", "bench.otlp_sink", "--port", str(port)]
    return launch("otlp-sink", cmd, port, workdir / "otlp-sink.log", "/stats", 30)


def sim_latency(sim: Proc, latency_ms: int) -> None:
    """Set (or, with 0, drop) a fixed upstream latency for every model of the simulator."""
    if latency_ms:
        status, _, body = http_send("PUT", f"{sim.url}/_sim/models/*", {"latency_ms": latency_ms})
    else:
        status, _, body = http_send("DELETE", f"{sim.url}/_sim/models/*")
    if status >= 400 and not (status == 404 and not latency_ms):
        raise RuntimeError(f"simulator knob failed: {status} {body[:200]!r}")


def bench_config(workdir: Path, source: Path = ROOT / "configs" / "demo.yaml", budget_usd: float | None = None,
                 tracing: str | None = None) -> Path:
    """configs/demo.yaml with the keys' RPM raised out of reach (every feature stays on).

    `budget_usd` also raises the daily budgets (the key's and the global one) for long runs that
    would spend the demo's $10/$50 (the soak's frontier-model traffic); they are still reserved
    and settled on every request. `tracing`: a collector's URL, every request traced to it.
    """
    doc = yaml.safe_load(source.read_text())
    for key in doc.get("keys", []):
        if key.get("rpm"):
            key["rpm"] = BENCH_KEY_RPM
        if budget_usd and key.get("daily_budget_usd"):
            key["daily_budget_usd"] = budget_usd
    if budget_usd and doc.get("budget", {}).get("daily_usd"):
        doc["budget"]["daily_usd"] = budget_usd
    if tracing:
        doc["tracing"] = {"enabled": True, "endpoint": tracing, "sample_ratio": 1.0}
    path = workdir / "bench-config.yaml"
    note = f"keys' rpm -> {BENCH_KEY_RPM}" + (f", daily budgets -> {budget_usd}" if budget_usd else "")
    note += ", tracing on" if tracing else ""
    path.write_text(f"# generated by bench/stack.py from {source.name}: {note}\n" + yaml.safe_dump(doc, sort_keys=False))
    return path


def start_gateway(workdir: Path, config: Path, redis_url: str, sim_port: int, workers: int = 1,
                  cpu: int | None = GATEWAY_SYSTEM_CPU, env: dict[str, str] | None = None) -> Proc:
    """`gateway serve` as a real process; with one worker it is pinned to `cpu`."""
    port = free_port()
    log = workdir / f"gateway-{workers}w-{port}.log"
    full_env = {**os.environ, "REDIS_URL": redis_url, "SIMULATOR_API_KEY": SIM_KEY,
                "SIMULATOR_PORT": str(sim_port), **(env or {})}
    cmd = pin(cpu) + [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port),
                      "--workers", str(workers), "--grace", "5", "--data-dir", str(workdir / f"gateway-data-{port}")]
    return launch(f"gateway-{workers}w", cmd, port, log, "/readyz", 60, env=full_env, extra={"workers": workers})


def start_floor(workdir: Path, sim_port: int, redis_url: str | None, cpu: int | None = GATEWAY_SYSTEM_CPU) -> Proc:
    """`bench.floor` (a bare relay, with or without its two script calls), pinned like the gateway."""
    port = free_port()
    name = "floor-redis" if redis_url else "floor"
    log = workdir / f"{name}-{port}.log"
    cmd = pin(cpu) + [sys.executable, "-m", "bench.floor", "--port", str(port), "--api-key", SIM_KEY,
                      "--upstream", f"http://127.0.0.1:{sim_port}/v1/chat/completions"]
    if redis_url:
        cmd += ["--redis", redis_url]
    return launch(name, cmd, port, log, "/ready", 30)


def worker_pids(proc: Proc) -> list[int]:
    """The gateway's worker processes: the children of `gateway serve` (which supervises them), or
    itself when it runs its one worker in-process (not Linux, --shared-socket)."""
    import psutil

    try:
        parent = psutil.Process(proc.process.pid)
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in parent.children(recursive=False):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" in cmdline or "valkey" in cmdline or "redis" in cmdline:
            continue
        pids.append(child.pid)
    return pids or [parent.pid]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    import psutil

    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def rss_mb(pids: list[int]) -> dict[int, float]:
    import psutil

    out = {}
    for pid in pids:
        try:
            out[pid] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
        except psutil.Error:
            pass
    return out


def scrape_requests_by_worker(url: str, attempts: int = 40) -> dict[str, float]:
    """Sum gateway_requests_total per `worker` label, scraping until each worker answered once.

    Each scrape is a new connection, answered by whichever worker accepts it; every worker
    reports only its own series, so several scrapes are needed to see them all.
    """
    seen: dict[str, float] = {}
    for _ in range(attempts):
        try:
            status, text = http_get(f"{url}/metrics", timeout=2)
        except OSError:
            continue
        if status != 200:
            continue
        per: dict[str, float] = {}
        for line in text.decode().splitlines():
            if line.startswith("gateway_requests_total{"):
                labels, _, value = line.rpartition(" ")
                worker = labels.split('worker="', 1)[1].split('"', 1)[0]
                per[worker] = per.get(worker, 0.0) + float(value)
        seen.update(per)
    return seen


def debian_install(packages: list[str], say: Any = print) -> bool:
    """`apt-get install -y` what is missing, when this runs as root with apt-get (else say why not)."""
    if not packages:
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say(f"bench: NOTE: {' '.join(packages)} not installed, and this is not root with apt-get")
        return False
    say(f"bench: installing {' '.join(packages)} from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    ok = subprocess.run(cmd, **quiet).returncode == 0
    if not ok:  # stale package lists
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        ok = subprocess.run(cmd, **quiet).returncode == 0
    if not ok:
        say(f"bench: NOTE: apt-get could not install {' '.join(packages)}")
    return ok


def start_engine(workdir: Path, cpu: int | None = LOADGEN_CPU):
    """A real Valkey/Redis engine on a loopback port (gateway.state.engine.start_single)."""
    from gateway.state.engine import start_single

    engine = start_single(workdir / "engine")
    if engine.process is not None:
        pin_pid(engine.process.pid, cpu)
    return engine


def tear_down(workdir: Path, engine: Any, *procs: Proc | None) -> None:
    """Stop what a bench started (`procs` in order, None for one that never started), then the
    engine, and remove the work directory."""
    for proc in procs:
        if proc:
            proc.stop()
    engine.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def flush_engine(engine: Any) -> None:
    """FLUSHALL: the next system under test starts with no breaker, spend or limiter state."""
    import redis

    client = redis.Redis.from_url(engine.url, socket_timeout=5)
    try:
        client.flushall()
    finally:
        client.close()


def gateway_failures(proc: Proc, limit: int = 20) -> dict[str, int]:
    """Non-200 answers the gateway logged (status:error code), from its JSON request lines."""
    import orjson
    from collections import Counter

    counts: Counter[str] = Counter()
    if not proc.log or not proc.log.exists():
        return {}
    with proc.log.open("rb") as fh:
        for line in fh:
            if b'"event":"request"' not in line or (b'"status":200,' in line and b'"error":null' in line):
                if b'"unhandled_error"' in line:
                    counts["unhandled_error"] += 1
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            counts[f"{doc.get('status')}:{doc.get('error')}"] += 1
    return dict(counts.most_common(limit))
