"""gateway/edge/coalescing.py: writes of one loop step leave in one write, in order; close sends what was
written first; abort drops it; the rest of the transport is the wrapped one's."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import uvicorn

from gateway.edge.coalescing import CoalescingHttpToolsProtocol, CoalescingTransport


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def test_one_step_one_write_in_order() -> None:
    async def main() -> None:
        rec = Recorder()
        t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"")
        t.writelines([b"a", b"b"])
        assert rec.writes == [] and t.get_write_buffer_size() == 21
        await asyncio.sleep(0)
        assert rec.writes == [b"HTTP/1.1 200 OK\r\n\r\nab"]
        t.write(b"later")
        await asyncio.sleep(0)
        assert rec.writes[1:] == [b"later"]
        assert t.get_extra_info("peername") == ("127.0.0.1", 5)

    asyncio.run(main())


def test_close_flushes_first_and_abort_drops() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        rec = Recorder()
        t = CoalescingTransport(rec, loop)  # type: ignore[arg-type]
        t.write(b"bye")
        t.close()
        assert rec.writes == [b"bye"] and rec.events == ["close"]
        await asyncio.sleep(0)  # the scheduled flush finds nothing
        assert rec.writes == [b"bye"]
        rec2 = Recorder()
        t2 = CoalescingTransport(rec2, loop)  # type: ignore[arg-type]
        t2.write(b"lost")
        t2.abort()
        await asyncio.sleep(0)
        assert rec2.writes == [] and rec2.events == ["abort"]

    asyncio.run(main())


def test_uvicorn_serves_through_it() -> None:
    """A real uvicorn server with the protocol: JSON, an empty 204, and a streamed body."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/empty":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for part in (b"one ", b"two ", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
            return
        body = b'{"ok": true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, http=CoalescingHttpToolsProtocol, log_level="warning",
                                lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as client:
                for _ in range(3):  # keep-alive: the same connection again
                    async with client.get(base + "/json") as r:
                        assert r.status == 200 and await r.json() == {"ok": True}
                async with client.get(base + "/empty") as r:
                    assert r.status == 204 and await r.read() == b""
                async with client.get(base + "/stream") as r:
                    assert r.status == 200 and await r.text() == "one two three"
        finally:
            server.should_exit = True
            await task

    asyncio.run(main())


def test_a_complete_response_leaves_at_once() -> None:
    """The last write of a response is not held to the end of the step: the app's next work (the
    settle after a JSON answer) must not delay it."""
    from uvicorn.server import ServerState

    async def main() -> None:
        config = uvicorn.Config(lambda *a: None, http=CoalescingHttpToolsProtocol, log_level="warning")
        config.load()
        proto = CoalescingHttpToolsProtocol(config=config, server_state=ServerState(), app_state={},
                                            _loop=asyncio.get_running_loop())
        rec = Recorder()
        proto.connection_made(rec)  # type: ignore[arg-type]
        proto.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        proto.transport.write(b"{}")
        proto.on_response_complete()
        assert rec.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]  # before any await
        proto.timeout_keep_alive_task.cancel()

    asyncio.run(main())
