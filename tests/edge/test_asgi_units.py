"""The edge's answer types and the upstream client's error mapping, alone: a scripted ASGI
`send`/`receive`, no server."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import orjson
import pytest

from gateway.config import Timeouts
from gateway.edge.asgi import CUT, EventStream, HotPaths, WholeReply
from gateway.errors import GatewayError
from gateway.net.http1 import HTTPError
from gateway.net.upstream import Upstream, _from_http_error
from gateway.providers import UpstreamRequest


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")


async def silent_client() -> dict[str, Any]:
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


async def test_whole_reply_sends_headers_and_body_then_runs_its_follow_up() -> None:
    sink, order = Sink(), []

    async def after() -> None:
        order.append(len(sink.messages))

    await WholeReply(b'{"a":1}', {"x-gateway-model": "m"}, after=after)({}, silent_client, sink.send)
    start = sink.messages[0]
    assert start["status"] == 200 and (b"content-length", b"7") in start["headers"]
    assert (b"x-gateway-model", b"m") in start["headers"]
    assert sink.body == b'{"a":1}' and order == [2]  # after both messages went out


async def frames(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        await asyncio.sleep(0)
        yield item


async def test_event_stream_relays_every_frame_and_ends_the_body() -> None:
    sink = Sink()
    await EventStream(frames(b"data: 1\n\n", b"data: 2\n\n"), {})({}, silent_client, sink.send)
    assert sink.body == b"data: 1\n\ndata: 2\n\n"
    assert sink.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_event_stream_cut_by_the_server_ends_in_the_clients_format() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"data: x\n\n"
            await asyncio.sleep(0.01)

    asked: list[int] = []

    def late() -> bytes:
        asked.append(1)
        return b'event: error\ndata: {"sequence_number": 9}\n\n'

    for cut in (CUT, b"event: error\ndata: {}\n\n", late):
        sink = Sink()
        task = asyncio.ensure_future(EventStream(endless(), {}, cut=cut)({}, silent_client, sink.send))
        await asyncio.sleep(0.05)
        assert not asked  # a callable is asked only at the cut, when the translator knows what it sent
        task.cancel()
        await task  # ends cleanly: the stream has its last event
        body = cut() if callable(cut) else cut
        assert sink.messages[-1] == {"type": "http.response.body", "body": body, "more_body": False}


async def test_hot_paths_answers_a_gateway_error_in_openai_format() -> None:
    async def handler(request: Any) -> Any:
        raise GatewayError(429, "slow down", "rate_limit_error", "rate_limit_exceeded")

    sink = Sink()
    app = HotPaths(None, {"/v1/x": handler})
    await app({"type": "http", "method": "POST", "path": "/v1/x", "headers": []}, silent_client, sink.send)
    assert sink.messages[0]["status"] == 429
    assert orjson.loads(sink.body)["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("kind, status, code", [
    ("timeout", 504, "upstream_timeout"), ("connect_timeout", 504, "upstream_timeout"),
    ("pool_timeout", 504, "upstream_timeout"), ("connect", 502, "upstream_unreachable"),
    ("too_large", 502, "upstream_body_too_large"), ("protocol", 502, "upstream_connection_error"),
])
def test_transport_failures_become_retryable_upstream_errors(kind: str, status: int, code: str) -> None:
    err = _from_http_error(HTTPError(kind, "10.0.0.1:443 refused"), "head")
    assert (err.status, err.code, err.retryable) == (status, code, True)
    assert "10.0.0.1" not in err.message  # no provider address reaches a client


async def test_upstream_call_past_the_deadline_is_not_sent() -> None:
    upstream = Upstream()
    await upstream.start()
    try:
        req = UpstreamRequest("http://127.0.0.1:9/never", {}, b"{}")
        err = await upstream.open(req, Timeouts(), time.monotonic() - 1)
        assert (err.status, err.code) == (504, "deadline_exceeded")
    finally:
        await upstream.close()
