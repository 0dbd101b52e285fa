"""The cost of response storage (lua/response_put.lua, lua/response_get.lua) on a private engine:
sequential round trips of a put and a get of one conversation, and the engine's own time per
call from INFO commandstats. `python -m bench.response_store [calls] [entry bytes]`."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from gateway.state.engine import start_single
from gateway.state.store import StateStore


async def measure(url: str, calls: int, size: int) -> None:
    store = await StateStore.connect(url, prefix="bench", timeout_s=2.0)
    keys = list(store.keys.responses("demo"))
    turn = b'{"role":"user","content":"%s"}' % (b"x" * 500)
    data = b'{"messages":[' + b",".join([turn] * max(1, size // len(turn))) + b"]}"
    try:
        for label, n in (("warm", calls // 10), ("run", calls)):
            start = time.perf_counter()
            for i in range(n):
                await store.scripts.call("response_put", keys, [f"resp_{label}{i}", data, "3600000", "1048576",
                                                                "67108864"])
            put = (time.perf_counter() - start) / n
            start = time.perf_counter()
            for i in range(n):
                await store.scripts.call("response_get", keys, [f"resp_{label}{i}"])
            get = (time.perf_counter() - start) / n
        stats = (await store.client.info("commandstats")).get("cmdstat_evalsha", {})
        print(f"entry {len(data)} bytes, {calls} calls each: put {put * 1e6:.0f} µs, get {get * 1e6:.0f} µs per "
              f"round trip; engine {stats.get('usec_per_call', 0):.1f} µs per call")
    finally:
        await store.close()


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    engine = start_single(Path(tempfile.mkdtemp()))
    try:
        asyncio.run(measure(engine.url, calls, size))
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
