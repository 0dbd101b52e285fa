"""Running N uvicorn workers, each with its own SO_REUSEPORT listening socket.

With uvicorn's own multi-worker mode all workers accept from one shared socket, and under load
one worker tends to take most long-lived keep-alive connections. Separate sockets bound with
SO_REUSEPORT let the kernel spread new connections across workers by hash, so two workers on
two cores really serve about twice as much. The parent only supervises: it forwards SIGTERM and
SIGINT (each worker then drains for the grace period), and a worker that dies (killed, out of
memory, crashed) is logged and started again while the others keep serving: the gateway exits
only when it is asked to. A worker that keeps dying at start is restarted with a growing pause.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from typing import Any


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    config = uvicorn.Config("gateway.app:create_app", factory=True, host=host, port=port, **options)
    server = uvicorn.Server(config)
    server.run(sockets=[reuseport_socket(host, port)])


def _signal_name(exit_code: int) -> str | None:
    if exit_code >= 0:
        return None
    try:
        return signal.Signals(-exit_code).name
    except ValueError:
        return str(-exit_code)


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def run_workers(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Start `workers` processes and supervise them until SIGTERM or SIGINT; returns the exit code."""
    from gateway.observe.log import get_logger

    log = get_logger("gateway.supervisor")
    ctx = multiprocessing.get_context("spawn")

    def spawn(index: int) -> Any:
        proc = ctx.Process(target=_worker, args=(host, port, options), name=f"gateway-worker-{index}")
        proc.start()
        return proc

    procs = [spawn(i) for i in range(workers)]
    born = [time.monotonic()] * workers
    quick_deaths = [0] * workers
    due: dict[int, float] = {}  # worker index -> when to start it again
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping or any(p.is_alive() for p in procs):
        time.sleep(0.2)
        if stopping:
            continue
        now = time.monotonic()
        for i, proc in enumerate(procs):
            if i in due:
                if now >= due[i]:
                    del due[i]
                    procs[i], born[i] = spawn(i), now
                    log.warning("worker_restarted", worker=i, pid=procs[i].pid)
                continue
            if proc.exitcode is None:
                continue
            code = proc.exitcode
            quick_deaths[i] = quick_deaths[i] + 1 if now - born[i] < 10 else 0
            pause = 0.0 if not quick_deaths[i] else min(30.0, 0.5 * 2 ** (quick_deaths[i] - 1))
            log.error("worker_exited", worker=i, pid=proc.pid, exit_code=code, signal=_signal_name(code),
                      restart_in_s=pause)
            due[i] = now + pause
    return 0
