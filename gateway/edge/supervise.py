"""What `gateway serve` looks after besides its workers: its data directory and its private engine.

The data directory holds what must outlive a restart: the private engine's append-only file (so
the day's spend survives the engine, the gateway and the host rebooting) and the settle journal.
One gateway owns it at a time (an exclusive lock), so a second gateway on the same host never
shares the engine or adopts the journal of the first. The default is per port, under
`$XDG_STATE_HOME/gateway/` (else `~/.local/state/gateway/`), or a temporary directory when neither
is writable (a read-only root filesystem).

The engine is watched from a thread: when it exits (killed, crashed, out of memory) it is started
again on the same socket and directory, reloading its append-only file, and the workers reconnect
and replay what they journaled meanwhile.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from pathlib import Path

from gateway.edge import runfile
from gateway.observe.log import get_logger
from gateway.state.engine import Engine


class DataDirBusy(RuntimeError):
    """Another gateway holds the data directory."""


def default_data_dir(port: int) -> Path:
    configured = os.environ.get("GATEWAY_DATA_DIR")
    if configured:
        return Path(configured)
    path, fallback = runfile.default_dirs(port)  # the operator commands look in both
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return fallback


def lock_data_dir(path: Path) -> int:
    """Hold `path/gateway.lock` for the life of this process; DataDirBusy names the holder."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "gateway.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DataDirBusy(f"the data directory {path} is in use by another gateway (pid {holder}); "
                          "give this one its own with --data-dir or GATEWAY_DATA_DIR") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    os.set_inheritable(fd, False)
    return fd


def engine_socket(data_dir: Path) -> Path:
    """The engine's unix socket in the data directory, or under /tmp when that path is too long
    for a unix socket (about 107 bytes)."""
    sock = data_dir.resolve() / "engine.sock"
    if len(str(sock)) <= 100:
        return sock
    return Path(tempfile.gettempdir()) / f"gateway-engine-{os.getpid()}.sock"


class EngineSupervisor:
    """Restarts the private engine whenever it exits, until `stop()`."""

    def __init__(self, engine: Engine, interval_s: float = 0.2) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.log = get_logger("gateway.supervisor")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-supervisor", daemon=True)
        self.restarts = 0

    def start(self) -> "EngineSupervisor":
        self._thread.start()
        return self

    def _run(self) -> None:
        delay = self.interval_s
        while not self._stop.wait(delay):
            process = self.engine.process
            code = process.poll() if process is not None else None
            if code is None:
                delay = self.interval_s
                continue
            self.log.error("engine_exited", pid=process.pid, exit_code=code, signal=-code if code < 0 else None)
            try:
                self.engine.process = None
                self.engine.start()
            except Exception as exc:  # noqa: BLE001 - keep trying, with a growing pause
                delay = min(5.0, max(0.5, delay * 2))
                self.log.error("engine_restart_failed", error=type(exc).__name__, detail=str(exc)[:300],
                               retry_in_s=delay)
                continue
            self.restarts += 1
            delay = self.interval_s
            self.log.warning("engine_restarted", pid=self.engine.process.pid if self.engine.process else None,
                             restarts=self.restarts, url=self.engine.url)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

