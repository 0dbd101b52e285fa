"""The private engine's durability: its append-only file is written before each reply (the engine
runs `appendfsync no`, which never holds a write back) and fsync'd every second from outside it,
so a SIGKILL loses no acknowledged write and the file on disk keeps up."""

from __future__ import annotations

import signal
from pathlib import Path

import redis

from gateway.state.aof_sync import sync_append_files
from gateway.state.engine import Engine, free_port


def test_a_killed_persistent_engine_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    engine = Engine(data_dir=tmp_path / "e", port=free_port(), persistent=True).start()
    try:
        r = redis.Redis.from_url(engine.url)
        assert r.config_get("appendfsync") == {"appendfsync": "no"}
        assert engine.syncer is not None
        acked = sum(1 for _ in range(2_000) if r.incr("n"))
        r.close()
        engine.process.send_signal(signal.SIGKILL)
        engine.process.wait()
        engine.process = None
        engine.start()  # as the supervisor does: same directory, same syncer
        r = redis.Redis.from_url(engine.url)
        assert int(r.get("n")) == acked == 2_000
        r.close()
    finally:
        engine.stop()
    assert engine.syncer is None


def test_the_syncer_flushes_the_incremental_files(tmp_path: Path) -> None:
    engine = Engine(data_dir=tmp_path / "e", port=free_port(), persistent=True).start()
    try:
        aof_dir = engine.data_dir / "appendonlydir"
        r = redis.Redis.from_url(engine.url)
        r.set("k", "v")
        r.close()
        assert sync_append_files(aof_dir) == 1  # the one incremental file of a fresh engine
        incr = next(aof_dir.glob("*.incr.aof"))
        assert b"SET" in incr.read_bytes()  # written by the engine before its reply
    finally:
        engine.stop()
    assert sync_append_files(tmp_path / "absent") == 0
