"""The test engine's start on a free port: a port another process takes between `free_port`'s
check and the engine's bind is not a failed start but a new port (gateway.state.engine,
`start_on_free_port`). The port is taken here by a listening socket held for the test."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
import redis

from gateway.state import engine as engine_module
from gateway.state.engine import start_single


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port with a listener on it, as another process's server would have."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_single_engine_whose_port_is_taken_starts_on_another(tmp_path: Path, taken: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[int] = []
    real = engine_module.free_port

    def first_taken(**kwargs: object) -> int:
        chosen.append(taken if not chosen else real(**kwargs))  # the race: taken right after the check
        return chosen[-1]

    monkeypatch.setattr(engine_module, "free_port", first_taken)
    engine = start_single(tmp_path / "engine")
    try:
        assert chosen[0] == taken and engine.port == chosen[1] != taken
        assert engine.data_dir == tmp_path / "engine-1"  # a fresh directory for the new attempt
        assert "Address already in use" in (tmp_path / "engine" / "engine.log").read_text()
        client = redis.Redis(host="127.0.0.1", port=engine.port)
        assert client.ping() and client.set("k", "v") and client.get("k") == b"v"
        client.close()
    finally:
        engine.stop()


def test_a_port_taken_every_time_fails_after_the_last_attempt(tmp_path: Path, taken: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(engine_module, "free_port", lambda **kwargs: calls.append(taken) or taken)
    with pytest.raises(RuntimeError, match="Address already in use"):
        start_single(tmp_path / "engine")
    assert len(calls) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine", "engine-1", "engine-2"]
