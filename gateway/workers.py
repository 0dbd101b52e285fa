"""Running N uvicorn workers, each with its own SO_REUSEPORT listening socket.

With uvicorn's own multi-worker mode all workers accept from one shared socket, and under load
one worker tends to take most long-lived keep-alive connections. Separate sockets bound with
SO_REUSEPORT let the kernel spread new connections across workers by hash, so two workers on
two cores really serve about twice as much. The parent only supervises: it forwards SIGTERM and
SIGINT (each worker then drains for the grace period) and stops the others if one dies.
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


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def run_workers(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Start `workers` processes and wait; returns the exit code."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(host, port, options), name=f"gateway-worker-{i}")
             for i in range(workers)]
    for proc in procs:
        proc.start()
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while any(p.is_alive() for p in procs):
        if not stopping and any(p.exitcode is not None for p in procs):
            stop(signal.SIGTERM, None)  # one worker died: stop the rest, let the orchestrator restart us
        time.sleep(0.2)
    return 0 if stopping else 1
