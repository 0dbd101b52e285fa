"""`gateway` command line: serve, check-config, simulator, status, classifier eval ...

`serve` validates the config before any worker starts, starts a private state engine when
REDIS_URL is unset (shared by all workers of this process, stopped with it), and can start the
provider simulator beside the gateway for the demo.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from gateway.edge import runfile, workers
from gateway.config import ConfigError, load_config

DEFAULT_CONFIG = "configs/demo.yaml"


def _fail(message: str) -> int:
    print(f"gateway: {message}", file=sys.stderr)
    return 2


def check_config(args: argparse.Namespace) -> int:
    """Validate the file (unset provider keys are fine: nothing is called), then say what `serve`
    would do with this environment's keys."""
    try:
        cfg = load_config(args.file, need_keys=False)
    except ConfigError as exc:
        return _fail(str(exc))
    print(f"{args.file}: OK (config hash {cfg.hash}; {len(cfg.providers)} providers, {len(cfg.deployments)} models, "
          f"{f'{len(cfg.pools)} pools, ' if cfg.pools else ''}{len(cfg.routes)} routes, {len(cfg.keys)} keys)")
    try:
        for line in load_config(args.file).warnings:
            print(f"gateway: warning: {line}", file=sys.stderr)
    except ConfigError as exc:
        print(f"gateway: note: with this environment `gateway serve` would stop: {exc}", file=sys.stderr)
    return 0


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _start_simulator(port: int, sim_config: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gateway.simulator", "--port", str(port), "--seed", "7"]
    if sim_config:
        cmd += ["--config", sim_config]
    proc = subprocess.Popen(cmd)
    if not _wait_http(f"http://127.0.0.1:{port}/_sim/stats", 15):
        proc.terminate()
        raise RuntimeError(f"the provider simulator did not start on port {port}")
    print(f"gateway: provider simulator on http://127.0.0.1:{port}", file=sys.stderr)
    return proc


def _private_engine(data_dir: Path) -> Any:
    """Start the private engine (persistent, in the data directory) and its supervisor."""
    from gateway.state.engine import Engine, find_engine_binary
    from gateway.edge.supervise import EngineSupervisor, engine_socket

    from gateway.observe.log import get_logger

    engine = Engine(data_dir=data_dir / "engine", unix_socket=engine_socket(data_dir), binary=find_engine_binary(),
                    die_with_parent=True, persistent=True).start()
    get_logger("gateway.supervisor").info("engine_started", pid=engine.process.pid if engine.process else None,
                                          url=engine.url, dir=str(engine.data_dir))
    os.environ["REDIS_URL"] = engine.url
    os.environ["GATEWAY_PRIVATE_ENGINE"] = "1"  # /readyz: 503 when it stays down (state.unready_after_s)
    print(f"gateway: private state engine at {engine.url}, data in {engine.data_dir} (set REDIS_URL to use "
          "your own)", file=sys.stderr)
    return EngineSupervisor(engine).start()


def _write_run_file(data_dir: Path, args: argparse.Namespace, config_hash: str) -> Path:
    """gateway.json in the data directory: how the operator commands find this gateway."""
    url = os.environ["REDIS_URL"]
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    return runfile.write(data_dir, runfile.Running(
        pid=os.getpid(), url=f"http://{host}:{args.port}", redis_url=None if runfile.has_password(url) else url,
        config=os.environ["GATEWAY_CONFIG"], config_hash=config_hash, data_dir=str(data_dir)))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.edge.limits import EdgeProtocol, export_limits
    from gateway.observe.log import configure
    from gateway.observe.logconfig import LOG_CONFIG
    from gateway.state.engine import EngineNotFound
    from gateway.edge.supervise import DataDirBusy, default_data_dir, lock_data_dir

    configure(os.environ.get("GATEWAY_LOG_LEVEL", "info"))
    config_path = args.config or os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG
    sim = None
    supervisor = None
    run_file = None
    # this replica's workers share their metrics here (gateway/observe/metrics_share.py): a fresh
    # directory per start, so two gateways on one host never read each other's
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["GATEWAY_METRICS_DIR"] = metrics_dir
    try:
        if args.with_simulator:
            os.environ.setdefault("SIMULATOR_PORT", str(args.with_simulator))
        try:
            cfg = load_config(config_path)
        except ConfigError as exc:
            return _fail(str(exc))
        for line in cfg.warnings:
            print(f"gateway: warning: {line}", file=sys.stderr)
        data_dir = Path(args.data_dir).resolve() if args.data_dir else default_data_dir(args.port).resolve()
        try:
            lock_data_dir(data_dir)  # held until this process exits
        except (DataDirBusy, OSError) as exc:
            return _fail(str(exc))
        os.environ["GATEWAY_DATA_DIR"] = str(data_dir)  # the workers' journal lives there (state/guard.py)
        if args.with_simulator:
            sim = _start_simulator(args.with_simulator, args.simulator_config)
        os.environ["GATEWAY_CONFIG"] = str(Path(config_path).resolve())
        if not os.environ.get("REDIS_URL"):
            try:
                supervisor = _private_engine(data_dir)
            except EngineNotFound as exc:
                return _fail(str(exc))
        print(f"gateway: serving {cfg.source} (hash {cfg.hash}) on http://{args.host}:{args.port}", file=sys.stderr)
        os.environ["GATEWAY_REPLICA"] = f"{socket.gethostname()}:{args.port}"  # its workers register under it
        run_file = _write_run_file(data_dir, args, cfg.hash)
        # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal with the handler
        # that was there before it: make that a clean exit, so the engine and simulator stop too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # no proxy-header rewriting (nothing here reads the client's address) and no server header;
        # a response's head and body leave in one write (gateway/edge/coalescing.py), under the edge's limits
        # (gateway/edge/limits.py); uvicorn's own log records become JSON lines (gateway/observe/logconfig.py)
        export_limits(cfg.server)
        options = dict(loop="auto", http=EdgeProtocol, access_log=False, log_level="warning", log_config=LOG_CONFIG,
                       timeout_graceful_shutdown=args.grace, timeout_keep_alive=cfg.server.keep_alive_s,
                       proxy_headers=False, server_header=False)
        if workers.supported() and not args.shared_socket:  # supervised workers, one or more
            return workers.run_workers(args.host, args.port, args.workers, options)
        uvicorn.run("gateway.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    **options)
        return 0
    finally:
        if run_file:
            runfile.remove(data_dir, os.getpid())
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if supervisor:
            supervisor.stop()
            supervisor.engine.stop()
        if sim:
            sim.terminate()
            sim.wait(timeout=5)


def _config_and_redis(args: argparse.Namespace) -> tuple[Any, str] | int:
    """The config (for the key prefix and timezone) and the Redis URL of an operator command:
    given, else the running gateway's (gateway/edge/runfile.py); or the exit code of a clear error.
    No provider key is needed: nothing here calls a provider."""
    try:
        path, url = runfile.target(args.config, args.url, args.data_dir, DEFAULT_CONFIG)
        return load_config(path, need_keys=False), url
    except (ConfigError, runfile.NotFound) as exc:
        return _fail(str(exc))


def spend(args: argparse.Namespace) -> int:
    """Print a day's spend read straight from Redis (the same numbers as GET /admin/spend)."""
    import asyncio
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import orjson

    from gateway.ops.spend import format_table, report
    from gateway.state.endpoint import seeds
    from gateway.state.store import StateStore

    target = _config_and_redis(args)
    if isinstance(target, int):
        return target
    cfg, url = target
    day = args.day or datetime.now(ZoneInfo(cfg.budget.timezone)).strftime("%Y-%m-%d")

    async def read() -> dict:
        # through the store: it folds the ledger's pending counters first (exact sums)
        urls = seeds(url)
        store = await StateStore.connect(urls if len(urls) > 1 else url, prefix=cfg.state.prefix, timeout_s=5,
                                         settings=cfg.state)
        try:
            return await store.day_spend(day)
        finally:
            await store.close()

    rep = report(asyncio.run(read()), day, args.by)
    print(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() if args.json else format_table(rep))
    return 0


def status(args: argparse.Namespace) -> int:
    """Live replicas with their config and classifier weights hashes; exit 1 when they disagree."""
    import asyncio

    from gateway.state.ops import open_ops

    target = _config_and_redis(args)
    if isinstance(target, int):
        return target
    cfg, url = target

    async def read() -> dict:
        async with open_ops(url, cfg.state, cfg.state.prefix) as ops:
            return await ops.live_replicas(cfg.housekeeping.interval_s * 3)

    live = asyncio.run(read())
    print("\n".join(status_lines(live, cfg.hash)))
    hashes = {r["config_hash"] for r in live.values()}
    weights = {r.get("classifier_hash", "?") for r in live.values()}
    return 1 if len(hashes) > 1 or len(weights) > 1 else 0


def status_lines(live: dict[str, dict], this_hash: str) -> list[str]:
    """One line per replica (its workers counted, not listed), then the verdict."""
    replicas: dict[str, list[dict]] = {}
    for name, entry in sorted(live.items()):
        replicas.setdefault(entry.get("replica") or name, []).append(entry)
    lines = []
    for name, entries in replicas.items():
        for config_hash in sorted({e["config_hash"] for e in entries}):
            same = [e for e in entries if e["config_hash"] == config_hash]
            e = same[0]
            flag = "" if config_hash == this_hash else "  <- differs from this config"
            cls = f"{e.get('classifier_version', '?')}/{e.get('classifier_hash', '?')}"
            lines.append(f"{name:<32} {len(same)} worker(s)  config {config_hash}  classifier {cls}  "
                         f"version {e['version']}{flag}")
    hashes = {r["config_hash"] for r in live.values()}
    weights = {r.get("classifier_hash", "?") for r in live.values()}
    lines.append(f"{len(replicas)} live replica(s), {len(live)} worker(s), {len(hashes)} config hash(es)"
                 + ("  MISMATCH" if len(hashes) > 1 else "") + f", {len(weights)} classifier weights hash(es)"
                 + ("  CLASSIFIER MISMATCH" if len(weights) > 1 else ""))
    return lines


def simulator(argv: list[str]) -> int:
    from gateway.simulator.cli import main as sim_main

    return sim_main(argv)


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="the gateway's config (default: the running gateway's, found in its data dir)")
    p.add_argument("--url", "--redis-url", dest="url", help="the state engine (default: $REDIS_URL, else the "
                   "running gateway's)")
    p.add_argument("--data-dir", help="the running gateway's data dir (default: $GATEWAY_DATA_DIR, ./.gateway, "
                   "then ~/.local/state/gateway/8080)")


def main(argv: list[str] | None = None) -> int:
    """Run a command; output piped into `head` or `less` that stops reading ends it quietly."""
    try:
        code = _command(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left goes nowhere
        return 1


def _command(argv: list[str]) -> int:
    if argv[:1] == ["simulator"]:
        return simulator(argv[1:])
    if argv[:1] == ["audit"]:
        from gateway.offline.audit import audit_main

        return audit_main(argv[1:])
    if argv[:1] == ["classifier"]:
        from gateway.offline.classifier_cli import main as classifier_main

        return classifier_main(argv[1:])
    if argv[:1] in (["keys"], ["teams"], ["audit-log"], ["cache"]):
        from gateway.ops.admin_cli import main as admin_main

        return admin_main(argv)
    if argv[:1] == ["whatif"]:
        from gateway.offline.whatif import whatif_main

        return whatif_main(argv[1:])
    if argv[:1] == ["simulate"]:  # the old name of `whatif`, one letter from `simulator`
        from gateway.offline.whatif import simulate_main

        return simulate_main(argv[1:])
    parser = argparse.ArgumentParser(prog="gateway", description="OpenAI-compatible LLM gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the gateway")
    p.add_argument("--config", help=f"YAML config (default: $GATEWAY_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    p.add_argument("--data-dir", help="this gateway's own directory: the private engine's append-only file and "
                   "socket, the settle journal (default: $GATEWAY_DATA_DIR, else $XDG_STATE_HOME/gateway/PORT)")
    p.add_argument("--grace", type=int, default=30, help="seconds to drain in-flight requests on SIGTERM")
    p.add_argument("--shared-socket", action="store_true",
                   help="let uvicorn share one socket between workers (default: one SO_REUSEPORT socket each)")
    p.add_argument("--with-simulator", type=int, metavar="PORT", help="also run the provider simulator on PORT")
    p.add_argument("--simulator-config", help="YAML knobs for the simulator")
    p.set_defaults(func=serve)
    c = sub.add_parser("check-config", help="validate a config file without serving")
    c.add_argument("file")
    c.set_defaults(func=check_config)
    s = sub.add_parser("spend", help="print a day's spend from Redis")
    _target_args(s)
    s.add_argument("--day", help="YYYY-MM-DD in the budget's timezone (default: today)")
    s.add_argument("--by", default="model", choices=("key", "model", "provider", "task", "route", "deployment"))
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=spend)
    sub.add_parser("simulator", help="run the provider simulator (see: gateway simulator --help)")
    sub.add_parser("audit", help="where spend concentrates, from the ledger or log lines (gateway audit --help)")
    sub.add_parser("whatif", help="what routing saves against all-frontier and all-mid-tier on a trace "
                   "(gateway whatif --help)")
    sub.add_parser("classifier", help="the task classifier on a labelled set, and adapting it to yours "
                   "(gateway classifier eval|adapt --help)")
    sub.add_parser("keys", help="runtime API keys through the admin API (gateway keys --help)")
    sub.add_parser("teams", help="teams and their shared limits (gateway teams --help)")
    sub.add_parser("audit-log", help="the admin changes, newest first (gateway audit-log --help)")
    sub.add_parser("cache", help="the response cache's entries: flush them by key, team or all, count them "
                   "(gateway cache --help)")
    st = sub.add_parser("status", help="live replicas and their config hashes, from Redis")
    _target_args(st)
    st.set_defaults(func=status)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
