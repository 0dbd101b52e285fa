"""A real uvicorn server running the simulator on a free loopback port, one per module."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import httpx2 as httpx
import pytest
import uvicorn

from gateway.simulator import SimSettings, create_app


class SimServer:
    """Handle on a running simulator: its base URL and control API helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def knobs(self, model: str, **knobs: object) -> dict:
        resp = self.http.put(f"/_sim/models/{model}", json=knobs)
        assert resp.status_code == 200, resp.text
        return resp.json()["knobs"]

    def stats(self) -> dict:
        return self.http.get("/_sim/stats").json()

    def reset(self) -> None:
        assert self.http.post("/_sim/reset").status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    port = _free_port()
    config = uvicorn.Config(create_app(SimSettings(seed=7)), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "simulator did not start"
        time.sleep(0.01)
    handle = SimServer(f"http://127.0.0.1:{port}")
    yield handle
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fresh(sim: SimServer) -> None:
    sim.reset()
