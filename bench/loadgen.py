"""Closed-loop HTTP load generator (asyncio + aiohttp) for OpenAI-format chat completions.

`concurrency` clients each send one request, wait for the whole answer, and send the next, for
`warmup` seconds (discarded) and then `duration` seconds (measured). A request counts in the
measurement when it finished inside the measured window; requests still in flight when the window
closes are cancelled and not counted (so a run lasts warm-up + duration). For each request it takes
the total latency; for streams also the time to the first body chunk, and it checks that the
stream ends with `data: [DONE]` (one that does not is an error, `stream_no_done`).

    python -m bench.loadgen http://127.0.0.1:8080/v1/chat/completions -c 64 -d 12 -w 2 [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

PROMPT = "Say hello to the benchmark."
DONE = b"data: [DONE]"


def chat_body(model: str = "auto", stream: bool = False, max_tokens: int = 16, prompt: str = PROMPT) -> bytes:
    """A short prompt with a fixed 16-token reply (the simulator's default output is 16 tokens)."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}],
                            "max_tokens": max_tokens}
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not values:
        return 0.0
    rank = max(1, -(-len(values) * p // 100))  # ceil(n * p / 100), at least 1
    return values[min(len(values), int(rank)) - 1]


def summarize(values_s: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/mean/max in milliseconds of a list of durations in seconds (None: no sample)."""
    ordered = sorted(values_s)
    if not ordered:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "max": None}
    ms = lambda v: round(v * 1000, 3)  # noqa: E731
    return {"p50": ms(percentile(ordered, 50)), "p90": ms(percentile(ordered, 90)),
            "p99": ms(percentile(ordered, 99)), "mean": ms(sum(ordered) / len(ordered)), "max": ms(ordered[-1])}


@dataclass
class LoadResult:
    url: str
    stream: bool
    concurrency: int
    duration_s: float
    warmup_s: float
    tool: str = "aiohttp"
    requests: int = 0            # completed OK inside the measured window
    errors: int = 0              # failed inside the measured window (status, exception, stream without [DONE])
    error_kinds: dict[str, int] = field(default_factory=dict)
    rps: float = 0.0             # OK requests per second of the measured window
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    ttfc_ms: dict[str, float | None] | None = None  # time to first chunk (streams only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_load(url: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration: float,
                   warmup: float, stream: bool, timeout_s: float = 60.0) -> LoadResult:
    """Drive `url` with `concurrency` closed-loop clients; return the measured window's figures."""
    latencies: list[float] = []
    ttfcs: list[float] = []
    errors: Counter[str] = Counter()
    hdrs = {"content-type": "application/json", **headers}
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False, enable_cleanup_closed=False,
                                     ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    t0 = clock() + warmup
    t_end = t0 + duration

    async def client() -> None:
        while True:
            start = clock()
            if start >= t_end:
                return
            first = None
            kind = None
            try:
                async with session.post(url, data=body, headers=hdrs) as resp:
                    if stream:
                        tail = b""
                        async for chunk in resp.content.iter_any():
                            if first is None:
                                first = clock()
                            tail = (tail + chunk)[-32:]
                        if resp.status != 200:
                            kind = f"status_{resp.status}"
                        elif not tail.rstrip().endswith(DONE):
                            kind = "stream_no_done"
                    else:
                        await resp.read()
                        if resp.status != 200:
                            kind = f"status_{resp.status}"
            except asyncio.TimeoutError:
                kind = "timeout"
            except (aiohttp.ClientError, OSError) as exc:
                kind = type(exc).__name__
            end = clock()
            if end < t0 or end > t_end:
                continue
            if kind:
                errors[kind] += 1
                if kind.startswith("Client") or kind.endswith("Error"):
                    await asyncio.sleep(0.01)  # no hot loop on a refused connection
                continue
            latencies.append(end - start)
            if first is not None:
                ttfcs.append(first - start)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("User-Agent",)) as session:
        tasks = [loop.create_task(client()) for _ in range(concurrency)]
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, t_end - clock()) + 0.001)
        for task in pending:  # in flight when the window closed: not counted
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    result = LoadResult(url=url, stream=stream, concurrency=concurrency, duration_s=duration, warmup_s=warmup)
    result.requests = len(latencies)
    result.errors = sum(errors.values())
    result.error_kinds = dict(errors)
    result.rps = round(len(latencies) / duration, 1) if duration > 0 else 0.0
    result.latency_ms = summarize(latencies)
    if stream:
        result.ttfc_ms = summarize(ttfcs)
    return result


def install_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=12.0)
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--key", default="sk-gateway-demo")
    args = parser.parse_args(argv)
    install_uvloop()
    result = asyncio.run(run_load(args.url, chat_body(args.model, args.stream), {"authorization": f"Bearer {args.key}"},
                                  concurrency=args.concurrency, duration=args.duration, warmup=args.warmup,
                                  stream=args.stream))
    print(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
