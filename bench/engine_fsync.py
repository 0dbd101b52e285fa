"""The engine's fsync policies side by side: INCR latency, and acknowledged writes lost by a SIGKILL.

    python -m bench.engine_fsync [--seconds 4] [--rounds 3] [--disk-load]

Each trial starts a persistent engine, sends INCRs one at a time for `--seconds`, SIGKILLs it,
restarts it on the same directory and reads the counter back. Policies: the engine's own
`everysec`, `always`, and what the private engine runs, `no` plus `AppendFileSync` (fsync every
second from outside). `--disk-load` runs `dd ... conv=fsync` in a loop meanwhile: the busy disk
under which `everysec` holds its writes back. Rounds are interleaved. Prints figures; asserts
nothing (a loss shows up as `lost > 0`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from gateway.state.aof_sync import AppendFileSync
from gateway.state.engine import find_engine_binary, free_port

POLICIES = ("everysec", "always", "no+sync")


def _start(binary: str, port: int, directory: Path, fsync: str) -> subprocess.Popen:
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
            "--appendonly", "yes", "--appendfsync", fsync, "--logfile", str(directory / "engine.log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            return process
        except redis.RedisError:
            time.sleep(0.02)
    raise RuntimeError("engine did not start")


def trial(binary: str, policy: str, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory, port = Path(tmp), free_port()
        fsync = policy.split("+")[0]
        process = _start(binary, port, directory, fsync)
        syncer = AppendFileSync(directory / "appendonlydir").start() if policy.endswith("+sync") else None
        client = redis.Redis(port=port)
        latencies: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sent = time.perf_counter()
            client.incr("n")
            latencies.append(time.perf_counter() - sent)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if syncer:
            syncer.stop()
        process = _start(binary, port, directory, fsync)
        kept = int(redis.Redis(port=port).get("n") or 0)
        process.terminate()
        process.wait()
    latencies.sort()
    return dict(acked=len(latencies), lost=len(latencies) - kept, p50_us=latencies[len(latencies) // 2] * 1e6,
                p99_us=latencies[int(len(latencies) * 0.99)] * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--disk-load", action="store_true")
    args = parser.parse_args()
    binary = find_engine_binary()
    load = None
    if args.disk_load:
        target = Path(tempfile.gettempdir()) / "engine-fsync-disk-load.bin"
        load = subprocess.Popen(["bash", "-c", f"while :; do dd if=/dev/zero of={target} bs=1M count=300 "
                                 "conv=fsync status=none; done"], start_new_session=True)
    try:
        print(f"{'policy':10} {'acked':>7} {'lost':>5} {'p50 µs':>8} {'p99 µs':>9}")
        for _ in range(args.rounds):
            for policy in POLICIES:
                r = trial(binary, policy, args.seconds)
                print(f"{policy:10} {r['acked']:7.0f} {r['lost']:5.0f} {r['p50_us']:8.0f} {r['p99_us']:9.0f}", flush=True)
    finally:
        if load:
            os.killpg(load.pid, signal.SIGKILL)
            load.wait()


if __name__ == "__main__":
    main()
