"""A local multi-replica cluster on loopback: one state engine (or a 3-master Redis Cluster), the
provider simulator, N gateway replicas (each `gateway serve` with its uvicorn workers) and nginx in
front, round-robin, unbuffered for SSE.

    python scripts/cluster.py up --replicas 3 --workers 2 --port 8080 [--redis single|cluster]
    python scripts/cluster.py scale 5          # add or remove replicas; nginx is reloaded
    python scripts/cluster.py status
    python scripts/cluster.py down             # stops exactly what `up` (and `scale`) started

`make cluster` / `make cluster-down` call this. Every process started is recorded (pid, and the
command line it was started with) in `.run/cluster/state.json`; `down` stops those pids only, after
checking each still runs the command it was started with. nginx is never installed from here: when
it is missing, `up` prints the command that installs it and exits 1 before starting anything; with
`--lb none` (`make cluster LB=none`) the replica URLs are printed instead, for client-side round-robin.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.state.engine import Engine, free_port, start_cluster  # noqa: E402

DEFAULT_STATE_DIR = ROOT / ".run" / "cluster"
SIM_KEY_DEFAULT = "sim-local-key"


def say(msg: str) -> None:
    print(f"cluster: {msg}", flush=True)


# --------------------------------------------------------------------------- process bookkeeping

def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def alive(entry: dict[str, Any]) -> bool:
    """The recorded pid still runs the command we started (not a recycled pid)."""
    pid = entry.get("pid")
    if not pid:
        return False
    cmd = _cmdline(pid)
    if not cmd:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                os.waitpid(pid, os.WNOHANG)  # our own zombie child: reap it
                return False
    except (OSError, ChildProcessError, IndexError):
        pass
    want = entry.get("match") or []
    return all(any(w in part for part in cmd) for w in want)


def stop(entry: dict[str, Any], timeout: float, sig: int = signal.SIGTERM) -> None:
    """SIGTERM the recorded pid (graceful drain), then SIGKILL its process group if it lingers."""
    if not alive(entry):
        return
    pid = entry["pid"]
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(entry):
            return
        time.sleep(0.05)
    if entry.get("group"):
        try:
            os.killpg(pid, signal.SIGKILL)  # the replica's own session: its uvicorn workers
        except ProcessLookupError:
            pass
    elif alive(entry):
        os.kill(pid, signal.SIGKILL)
    for _ in range(40):
        if not alive(entry):
            return
        time.sleep(0.05)


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None, match: list[str] | None = None) -> dict:
    """Start a detached process (own session, so it outlives this script) logging to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
                                env=env, start_new_session=True)
    return {"pid": proc.pid, "group": True, "log": str(log), "match": match or cmd[-4:]}


def wait_ready(url: str, entry: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # twice, 0.2 s apart: a just-started process was once seen "not alive" (its cmdline read
        # empty) and then ran fine, which failed a `cluster up` under load
        if not alive(entry) and (time.sleep(0.2) or not alive(entry)):
            tail = Path(entry["log"]).read_text(errors="replace")[-2000:] if entry.get("log") else ""
            raise RuntimeError(f"process {entry['pid']} exited before {url} answered\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s (log: {entry.get('log')})")


# --------------------------------------------------------------------------- state file

class State:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "state.json"
        self.data: dict[str, Any] = {}

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> "State":
        self.data = json.loads(self.path.read_text())
        return self

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.replace(self.path)  # readers (a client doing round-robin) never see half a file


# --------------------------------------------------------------------------- parts

def start_engine(state: State, mode: str) -> None:
    data_dir = state.dir / "engine"
    if mode == "cluster":
        engines = start_cluster(3, data_dir)
        nodes = engines.nodes
        urls = engines.urls
        # One or more seed URLs, comma-separated: the form the gateway's REDIS_URL takes for a Cluster.
        redis_url = ",".join(urls)
    else:
        # Like engine.start_single, with the persistence the guide recommends (AOF everysec, noeviction).
        eng = Engine(data_dir=data_dir, port=free_port(),
                     extra_args=("--appendonly", "yes", "--appendfsync", "everysec",
                                 "--maxmemory-policy", "noeviction")).start()
        nodes = [eng]
        urls = [eng.url]
        redis_url = eng.url
    state.data["engine"] = {
        "mode": mode, "urls": urls, "data_dir": str(data_dir),
        "procs": [{"pid": n.process.pid, "group": False, "match": ["server", f":{n.port}"]} for n in nodes],
    }
    state.data["redis_url"] = redis_url
    state.save()
    say(f"state engine ({mode}): {redis_url}")
    if mode == "cluster":
        say("REDIS_URL holds the Cluster's seed URLs, comma-separated: the gateway connects as a Cluster client")


def start_simulator(state: State, port: int) -> None:
    port = port or free_port()
    entry = spawn([sys.executable, "-m", "gateway.simulator", "--port", str(port), "--seed", "7"],
                  state.dir / "simulator.log", match=["gateway.simulator", str(port)])
    state.data["simulator"] = {**entry, "port": port}
    state.save()
    wait_ready(f"http://127.0.0.1:{port}/_sim/stats", entry, 20)
    say(f"provider simulator: http://127.0.0.1:{port}")


def replica_env(state: State) -> dict[str, str]:
    d = state.data
    # Without PYTHONUNBUFFERED: then each JSON log line and its newline leave in one write(), so the
    # lines of a replica's uvicorn workers, appending to one file, never interleave.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**base, "REDIS_URL": d["redis_url"], "GATEWAY_CONFIG": d["config"],
            "SIMULATOR_PORT": str(d["simulator"]["port"]),
            "SIMULATOR_API_KEY": os.environ.get("SIMULATOR_API_KEY", SIM_KEY_DEFAULT)}


def add_replicas(state: State, n: int) -> list[dict[str, Any]]:
    """Start n replicas at once, then wait until each is ready (/readyz: config + Redis)."""
    d = state.data
    env = replica_env(state)
    new = []
    used = {r["port"] for r in d.get("replicas", []) + d.get("starting", []) + d.get("leaving", [])}
    used |= {d.get("simulator", {}).get("port"), d.get("lb", {}).get("port"), d.get("lb_port")}
    for _ in range(n):
        port = free_port()
        while port in used:  # free_port() may hand out a port twice before anyone binds it
            port = free_port()
        used.add(port)
        index = d.setdefault("next_index", 0)
        d["next_index"] = index + 1
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--config", d["config"], "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(d["workers"]), "--grace", str(d["grace"]),
               "--data-dir", str(state.dir / f"replica-{port}")]
        entry = spawn(cmd, state.dir / f"replica-{index}-{port}.log", env=env,
                      match=["gateway.cli", "--port", str(port)])
        new.append({**entry, "port": port, "url": f"http://127.0.0.1:{port}", "index": index})
    d.setdefault("starting", []).extend(new)
    state.save()
    try:
        for r in new:
            wait_ready(f"{r['url']}/readyz", r, 60)
    finally:
        d["starting"] = [r for r in d["starting"] if r not in new]
    d.setdefault("replicas", []).extend(new)
    state.save()
    for r in new:
        say(f"replica {r['index']} ready: {r['url']} (pid {r['pid']}, {d['workers']} workers)")
    return new


def remove_replicas(state: State, n: int) -> None:
    """Take the newest n replicas out of rotation first (state file + nginx reload), wait the drain
    delay (like a preStop hook), then SIGTERM them: uvicorn drains in-flight requests for --grace."""
    d = state.data
    leaving, d["replicas"] = d["replicas"][-n:], d["replicas"][:-n]
    d.setdefault("leaving", []).extend(leaving)
    state.save()
    reload_lb(state)
    time.sleep(d.get("drain_delay", 1.0))
    for r in leaving:
        try:
            os.kill(r["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    for r in leaving:
        stop(r, timeout=d["grace"] + 5)
        say(f"replica {r['index']} stopped: {r['url']}")
    d["leaving"] = [r for r in d["leaving"] if r not in leaving]
    state.save()


# --------------------------------------------------------------------------- nginx

NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")  # not on a non-root PATH on Debian
NGINX_MISSING = """nginx is not installed, and `make cluster` installs nothing by itself. Either install it:
    sudo apt-get install -y nginx          # Debian, Ubuntu (brew install nginx on macOS)
or run without a load balancer (the replica URLs are printed, for client-side round-robin):
    make cluster LB=none"""


def find_nginx() -> str | None:
    """The nginx binary on PATH or in sbin, or None: nothing is installed here (the user decides)."""
    return shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)


def nginx_conf(state: State) -> str:
    d = state.data
    lb = d["lb"]
    tmp = Path(lb["prefix"]) / "tmp"
    servers = "\n".join(f"    server 127.0.0.1:{r['port']} max_fails=1 fail_timeout=2s;" for r in d["replicas"])
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    return f"""# generated by scripts/cluster.py; regenerated and reloaded on `scale`
{user}worker_processes 1;
daemon off;
pid {lb['prefix']}/nginx.pid;
error_log {lb['prefix']}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 8m;
  client_body_buffer_size 1m;
  upstream gateway {{
    # round-robin (nginx's default) over the replicas
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{lb['port']};
    location / {{
      proxy_pass http://gateway;
      proxy_http_version 1.1;          # keep-alive to the replicas, chunked SSE
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;             # SSE chunks reach the client as they are produced
      proxy_request_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
      # a replica that refuses the connection (scaling down) is skipped; a POST already sent is
      # never replayed (nginx does not retry non-idempotent requests by default)
      proxy_next_upstream error timeout;
    }}
  }}
}}
"""


def start_lb(state: State, nginx: str, port: int) -> None:
    prefix = state.dir / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # workers run as nobody: they need the temp dirs
        for p in [prefix / "tmp", *(prefix / "tmp").iterdir()]:
            p.chmod(0o777)
    conf = prefix / "nginx.conf"
    state.data["lb"] = {"kind": "nginx", "binary": nginx, "port": port, "prefix": str(prefix), "conf": str(conf)}
    conf.write_text(nginx_conf(state))
    test = subprocess.run([nginx, "-t", "-q", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True)
    if test.returncode != 0:
        raise RuntimeError(f"nginx rejected {conf}:\n{test.stderr}")
    entry = spawn([nginx, "-p", str(prefix), "-c", str(conf)], prefix / "nginx.out",
                  match=["nginx", str(conf)])
    state.data["lb"].update(entry)
    state.save()
    wait_ready(f"http://127.0.0.1:{port}/healthz", entry, 10)
    say(f"nginx (round-robin over {len(state.data['replicas'])} replicas) on http://127.0.0.1:{port}")


def reload_lb(state: State) -> None:
    lb = state.data.get("lb")
    if not lb or lb.get("kind") != "nginx" or not alive(lb):
        return
    Path(lb["conf"]).write_text(nginx_conf(state))
    os.kill(lb["pid"], signal.SIGHUP)  # graceful reload: old workers finish their requests
    time.sleep(0.3)
    say(f"nginx reloaded: {len(state.data['replicas'])} replicas")


# --------------------------------------------------------------------------- commands

def everything(state: State) -> list[dict[str, Any]]:
    d = state.data
    procs = []
    if d.get("lb", {}).get("pid"):
        procs.append(d["lb"])
    procs += d.get("replicas", []) + d.get("starting", []) + d.get("leaving", [])
    if d.get("simulator"):
        procs.append(d["simulator"])
    procs += d.get("engine", {}).get("procs", [])
    return procs


def cmd_up(args: argparse.Namespace) -> int:
    state = State(Path(args.state_dir))
    nginx = find_nginx() if args.lb == "nginx" else None
    if args.lb == "nginx" and not nginx:
        say(NGINX_MISSING)
        return 1
    if state.exists():
        running = [p for p in everything(state.load()) if alive(p)]
        if running:
            say(f"already up ({len(running)} processes; {state.path}): run `make cluster-down` first")
            return 1
    config = Path(args.config)
    if not config.is_absolute():
        config = next((c.resolve() for c in (Path.cwd() / config, ROOT / config) if c.exists()), config)
    if not config.exists():
        say(f"no such config: {config}")
        return 2
    state.dir.mkdir(parents=True, exist_ok=True)
    state.data = {"root": str(ROOT), "started": time.time(), "config": str(config), "workers": args.workers,
                  "grace": args.grace, "drain_delay": args.drain_delay, "replicas": []}
    state.save()
    state.data["lb_port"] = args.port
    try:
        start_engine(state, args.redis)
        sim_port = args.sim_port if args.sim_port is not None else int(os.environ.get("SIMULATOR_PORT", "9100"))
        start_simulator(state, sim_port)
        add_replicas(state, args.replicas)
        if nginx:
            start_lb(state, nginx, args.port)
    except Exception as exc:
        say(f"start-up failed: {exc}")
        cmd_down(args)
        return 1
    print_summary(state)
    return 0


def print_summary(state: State) -> None:
    d = state.data
    urls = [r["url"] for r in d["replicas"]]
    print()
    if d.get("lb", {}).get("kind") == "nginx":
        print(f"  gateway: http://127.0.0.1:{d['lb']['port']}/v1   ({len(urls)} replicas behind nginx)")
    else:
        print("  no load balancer: round-robin over the replicas yourself:")
        for u in urls:
            print(f"    {u}/v1")
    print(f"  redis:   {d['redis_url']}   (redis-cli -p {d['engine']['urls'][0].rsplit(':', 1)[1].split('/')[0]}"
          f"{' -c' if d['engine']['mode'] == 'cluster' else ''})")
    print(f"  logs:    {state.dir}/*.log")
    print("  stop:    make cluster-down")


def cmd_down(args: argparse.Namespace) -> int:
    state = State(Path(args.state_dir))
    if not state.exists():
        say("nothing to stop")
        return 0
    state.load()
    d = state.data
    lb = d.get("lb") or {}
    if lb.get("pid"):
        stop(lb, timeout=5, sig=signal.SIGQUIT)  # nginx: graceful shutdown
    replicas = d.get("replicas", []) + d.get("starting", []) + d.get("leaving", [])
    for r in replicas:  # signal all first, so they drain in parallel
        if alive(r):
            os.kill(r["pid"], signal.SIGTERM)
    for r in replicas:
        stop(r, timeout=d.get("grace", 5) + 5)
    if d.get("simulator"):
        stop(d["simulator"], timeout=5)
    for e in d.get("engine", {}).get("procs", []):
        stop(e, timeout=5)
    left = [p["pid"] for p in everything(state) if alive(p)]
    if left:
        say(f"still running: {left}")
        return 1
    state.path.rename(state.dir / "state.stopped.json")
    say(f"stopped {len(replicas)} replicas, the simulator, the engine{'s' if len(d.get('engine', {}).get('procs', [])) > 1 else ''}"
        f"{' and nginx' if lb.get('pid') else ''}")
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    state = State(Path(args.state_dir))
    if not state.exists():
        say("not up: run `make cluster` first")
        return 1
    state.load()
    have = len(state.data["replicas"])
    if args.replicas < 1:
        say("at least one replica")
        return 2
    if args.replicas > have:
        add_replicas(state, args.replicas - have)
        reload_lb(state)
    elif args.replicas < have:
        remove_replicas(state, have - args.replicas)
    say(f"{len(state.data['replicas'])} replicas: {' '.join(r['url'] for r in state.data['replicas'])}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = State(Path(args.state_dir))
    if not state.exists():
        say("not up")
        return 1
    state.load()
    for p in everything(state):
        what = p.get("url") or p.get("log") or p.get("match")
        print(f"  pid {p['pid']:>7}  {'up  ' if alive(p) else 'DOWN'}  {what}")
    print_summary(state)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", default=os.environ.get("CLUSTER_STATE_DIR", str(DEFAULT_STATE_DIR)))
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start engine, simulator, replicas and the load balancer")
    up.add_argument("--replicas", type=int, default=3)
    up.add_argument("--workers", type=int, default=2, help="uvicorn workers per replica")
    up.add_argument("--port", type=int, default=8080, help="the load balancer's port")
    up.add_argument("--redis", choices=("single", "cluster"), default="single")
    up.add_argument("--config", default=os.environ.get("GATEWAY_CONFIG", "configs/demo.yaml"))
    up.add_argument("--sim-port", type=int, default=None, help="simulator port (default $SIMULATOR_PORT or 9100; "
                                                               "0 = any free port)")
    up.add_argument("--lb", choices=("nginx", "none"), default="nginx")
    up.add_argument("--grace", type=int, default=10, help="seconds each replica drains on SIGTERM")
    up.add_argument("--drain-delay", type=float, default=1.0,
                    help="seconds between leaving the rotation and SIGTERM when scaling down")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop exactly what `up` and `scale` started")
    down.set_defaults(func=cmd_down)
    sc = sub.add_parser("scale", help="add or remove replicas (nginx is reloaded)")
    sc.add_argument("replicas", type=int)
    sc.set_defaults(func=cmd_scale)
    st = sub.add_parser("status", help="what runs")
    st.set_defaults(func=cmd_status)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
