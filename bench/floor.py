"""The floor: what a bare relay adds on this machine, for the benchmark's `--floor` rows.

A plain ASGI app under the gateway's own server set-up (uvicorn, httptools, the coalescing
protocol of `gateway.edge.coalescing`) that parses the JSON body with orjson and relays it to the upstream
through the gateway's HTTP/1.1 client: our plumbing without our logic (no auth, classifier,
routing, limits, budgets, logging or metrics). With `--redis`, one small script runs on the
state engine before the upstream call and one after the answer is sent (a counter each), over
the gateway's pipelined RESP connection: the two round trips the gateway makes, without the work
its scripts do. The gap between these rows and the gateway's is what the gateway's own work costs.

    python -m bench.floor --port 8300 --upstream http://127.0.0.1:9100/v1/chat/completions [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from typing import Any

import orjson

from gateway.net.http1 import Client
from gateway.state.resp import RespConnection, pack

SCRIPT = b"return redis.call('INCR', KEYS[1])"
HEAD = [(b"content-type", b"application/json")]


def create_app(upstream: str, api_key: str, redis_url: str | None) -> Any:
    state: dict[str, Any] = {}
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    sha = hashlib.sha1(SCRIPT).hexdigest().encode()
    before = pack([b"EVALSHA", sha, b"1", b"{floor}:before"])
    after = pack([b"EVALSHA", sha, b"1", b"{floor}:after"])
    tasks: set[asyncio.Task[Any]] = set()

    async def lifespan(receive: Any, send: Any) -> None:
        await receive()
        state["client"] = Client()
        if redis_url:
            state["redis"] = conn = RespConnection(redis_url, timeout_s=2.0)
            await conn.call(pack([b"SCRIPT", b"LOAD", SCRIPT]))
        await send({"type": "lifespan.startup.complete"})
        await receive()
        state["client"].close()
        if redis_url:
            await state["redis"].close()
        await send({"type": "lifespan.shutdown.complete"})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["method"] != "POST":  # the harness's readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = orjson.loads(body)
        redis: RespConnection | None = state.get("redis")
        if redis is not None:
            await redis.call(before)
        response = await state["client"].request("POST", upstream, headers, orjson.dumps(request),
                                                 connect_timeout=5.0, head_timeout=30.0)
        data = await response.read(time.monotonic() + 30.0, 30.0, 1 << 20)
        response.release()
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [*HEAD, (b"content-length", b"%d" % len(data))]})
        await send({"type": "http.response.body", "body": data})
        if redis is not None:
            task = asyncio.get_running_loop().create_task(redis.call(after))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="the simulator's chat completions URL")
    p.add_argument("--api-key", default="sim-local-key")
    p.add_argument("--redis", default=None, help="state engine URL: one script before the call, one after")
    args = p.parse_args(argv)
    import uvicorn

    from gateway.edge.coalescing import http_protocol

    uvicorn.run(create_app(args.upstream, args.api_key, args.redis), host="127.0.0.1", port=args.port,
                loop="auto", http=http_protocol(), access_log=False, log_level="warning", proxy_headers=False,
                server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

