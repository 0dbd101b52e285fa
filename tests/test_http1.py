"""gateway.net.http1 against small raw servers started in the test (exact response bytes, so the
framing is under the test's control): bodies (length, chunked, gzip/deflate, until close),
keep-alive pooling and the stale-connection retry, timeouts, protocol errors, limits, header
injection, backpressure on large bodies and the bytes of the request itself."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import httptools
import pytest

from gateway.net.http1 import HIGH_WATER, LOW_WATER, Client, HTTPError
from tests.loopback import LoopbackServer, closed_port, started_servers, until

CT = 0.5  # connect timeout
HT = 0.5  # head timeout


# ---------------------------------------------------------------------------------------- servers


@dataclass
class Request:
    line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raw: bytes

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request off the wire; None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    lines = head[:-4].split(b"\r\n")
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    req = Request(lines[0], headers, b"", head)  # type: ignore[arg-type]
    length = int(req.header(b"content-length") or 0)
    req.body = await reader.readexactly(length)
    req.raw = head + req.body
    return req


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@dataclass
class RawServer(LoopbackServer):
    handler: Handler
    accepted: int = 0
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.accepted
        self.accepted += 1
        await self.handler(reader, writer, index)

    async def read(self, reader: asyncio.StreamReader) -> Request | None:
        req = await read_request(reader)
        if req is not None:
            self.requests.append(req)
        return req


@pytest.fixture
async def serve():
    async with started_servers() as start:
        yield lambda handler: start(RawServer(handler))


@pytest.fixture
async def client():
    c = Client()
    yield c
    c.close()


def ok(body: bytes = b"hello", extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def keepalive(server_ref: list, answer: Callable[[Request, int], bytes] | bytes) -> Handler:
    """Answer every request of every connection (keep-alive) with `answer`."""

    async def handler(reader, writer, index):
        server: RawServer = server_ref[0]
        while (req := await server.read(reader)) is not None:
            writer.write(answer(req, index) if callable(answer) else answer)
            await writer.drain()

    return handler


async def start_keepalive(serve, answer) -> RawServer:
    ref: list = []
    server = await serve(keepalive(ref, answer))
    ref.append(server)
    return server


async def get(client: Client, url: str, method: str = "GET", body: bytes = b"", headers=None, **kw):
    kw.setdefault("connect_timeout", CT)
    kw.setdefault("head_timeout", HT)
    return await client.request(method, url, headers or {}, body, **kw)


async def read_all(resp, limit: int = 1 << 26, idle_s: float = 1.0) -> bytes:
    return await resp.read(time.monotonic() + 5.0, idle_s, limit)


async def fetch(client: Client, url: str, **kw) -> tuple[int, bytes]:
    resp = await get(client, url, **kw)
    data = await read_all(resp)
    resp.release()
    return resp.status, data


# ---------------------------------------------------------------------------------------- bodies


async def test_content_length_body_status_and_headers(serve, client):
    raw = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Multi: a\r\nX-Multi: b\r\n"
           b"Content-Length: 11\r\n\r\n{\"ok\":true}")
    server = await start_keepalive(serve, raw)
    resp = await get(client, server.url("/x"))
    assert resp.status == 201
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-multi"] == "a, b"
    assert resp.headers["content-length"] == "11"
    assert all(k == k.lower() for k in resp.headers)
    assert await read_all(resp) == b'{"ok":true}'
    assert resp.complete and resp.keep_alive
    resp.release()


async def test_empty_body_204_and_zero_length(serve, client):
    answers = [b"HTTP/1.1 204 No Content\r\n\r\n", ok(b"")]
    server = await start_keepalive(serve, lambda req, i: answers[len(server.requests) - 1])
    for expected in (204, 200):
        status, data = await fetch(client, server.url())
        assert (status, data) == (expected, b"")
    assert server.accepted == 1  # both kept the connection


async def test_chunked_body_split_across_writes(serve, client):
    pieces = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\n",
              b"6\r\n wor", b"ld\r\n", b"1", b"0\r\n" + b"z" * 16 + b"\r\n", b"0\r\n", b"\r\n"]

    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            for p in pieces:
                writer.write(p)
                await writer.drain()
                await asyncio.sleep(0.005)

    server = await serve(handler)
    resp = await get(client, server.url())
    got = [c async for c in resp.chunks(0.5)]
    assert b"".join(got) == b"hello world" + b"z" * 16
    assert resp.complete and resp.keep_alive
    resp.release()
    # the terminator was consumed exactly: the connection serves the next answer correctly
    resp = await get(client, server.url())
    assert b"".join([c async for c in resp.chunks(0.5)]) == b"hello world" + b"z" * 16
    resp.release()
    assert server.accepted == 1


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "GZIP"])
async def test_compressed_body_is_decoded(serve, client, encoding):
    plain = b"".join(b"line %d of a compressible body\n" % i for i in range(5000))
    packed = zlib.compress(plain) if encoding == "deflate" else gzip.compress(plain)
    half = len(packed) // 2

    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
                         % (encoding.encode(), len(packed)))
            writer.write(packed[:half])
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(packed[half:])
            await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url())
    assert await read_all(resp) == plain
    resp.release()


async def test_chunked_gzip_stream(serve, client):
    plain = b"data: " + b"x" * 50_000 + b"\n\n"
    packed = gzip.compress(plain)
    body = b"".join(b"%x\r\n%s\r\n" % (len(packed[i:i + 1000]), packed[i:i + 1000])
                    for i in range(0, len(packed), 1000)) + b"0\r\n\r\n"
    server = await start_keepalive(
        serve, b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n" + body)
    resp = await get(client, server.url())
    assert await read_all(resp) == plain
    resp.release()


async def test_bad_compressed_body_is_a_protocol_error(serve, client):
    server = await start_keepalive(serve, ok(b"this is not gzip at all", b"content-encoding: gzip\r\n"))
    resp = await get(client, server.url())
    with pytest.raises(HTTPError) as err:
        await read_all(resp)
    assert err.value.kind == "protocol"
    resp.close()


async def test_body_delimited_by_connection_close(serve, client):
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nfirst ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"second " * 1000)
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"last")
        await writer.drain()
        writer.close()

    server = await serve(handler)
    resp = await get(client, server.url())
    assert resp.status == 200
    assert await read_all(resp) == b"first " + b"second " * 1000 + b"last"
    assert resp.complete and not resp.keep_alive
    resp.release()  # not reusable: the next request opens a new connection
    resp = await get(client, server.url())
    assert await read_all(resp) == b"first " + b"second " * 1000 + b"last"
    resp.release()
    assert server.accepted == 2


async def test_until_close_gzip_body(serve, client):
    plain = b"abc" * 10_000

    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n\r\n" + gzip.compress(plain))
        await writer.drain()
        writer.close()

    server = await serve(handler)
    resp = await get(client, server.url())
    assert await read_all(resp) == plain
    resp.release()


@pytest.mark.parametrize("head_and_part", [
    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n",  # any case
], ids=["content-length", "chunked", "Chunked"])
async def test_connection_cut_mid_body_is_an_error(serve, client, head_and_part):
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(head_and_part)
        await writer.drain()
        writer.close()

    server = await serve(handler)
    resp = await get(client, server.url())
    with pytest.raises(HTTPError) as err:  # a truncated body must not look like a whole one
        await read_all(resp)
    assert err.value.kind == "connection"
    resp.close()


async def test_interim_1xx_in_the_same_packet_is_skipped(serve, client):
    server = await start_keepalive(serve, b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))
    resp = await get(client, server.url(), method="POST", body=b"{}")
    assert resp.status == 200
    assert await read_all(resp) == b"final"
    resp.release()


async def test_interim_1xx_arriving_alone_is_skipped(serve, client):
    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(ok(b"final"))
            await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url(), method="POST", body=b"{}")
    try:
        assert resp.status == 200
        assert await read_all(resp) == b"final"
    finally:
        resp.close()


async def test_head_request_has_no_body(serve, client):
    server = await start_keepalive(serve, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    resp = await get(client, server.url(), method="HEAD")
    assert resp.status == 200
    try:
        assert await resp.read(time.monotonic() + 0.2, 0.2, 100) == b""
    finally:
        resp.close()


# ---------------------------------------------------------------------------------------- pooling


async def test_keepalive_reuses_one_connection(serve, client):
    server = await start_keepalive(serve, lambda req, i: ok(b"answer %d" % len(server.requests)))
    assert await fetch(client, server.url("/a")) == (200, b"answer 1")
    assert await fetch(client, server.url("/b")) == (200, b"answer 2")
    assert await fetch(client, server.url("/c?q=1")) == (200, b"answer 3")
    assert server.accepted == 1
    assert [r.line for r in server.requests] == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1",
                                                 b"GET /c?q=1 HTTP/1.1"]


async def test_concurrent_requests_get_their_own_connections_then_pool(serve, client):
    async def handler(reader, writer, index):
        while (req := await server.read(reader)) is not None:
            await asyncio.sleep(0.02)
            writer.write(ok(req.line.split()[1]))
            await writer.drain()

    server = await serve(handler)
    paths = [f"/p{i}" for i in range(4)]
    results = await asyncio.gather(*(fetch(client, server.url(p)) for p in paths))
    assert results == [(200, p.encode()) for p in paths]
    assert server.accepted == 4
    results = await asyncio.gather(*(fetch(client, server.url(p)) for p in paths))
    assert results == [(200, p.encode()) for p in paths]
    assert server.accepted == 4  # all four came from the pool


async def test_connection_close_header_is_not_pooled(serve, client):
    server = await start_keepalive(serve, ok(b"bye", b"connection: close\r\n"))
    assert await fetch(client, server.url()) == (200, b"bye")
    assert await fetch(client, server.url()) == (200, b"bye")
    assert server.accepted == 2


async def test_unread_response_closed_is_not_pooled(serve, client):
    server = await start_keepalive(serve, ok(b"x" * 100))
    resp = await get(client, server.url())
    resp.close()  # body never read
    assert await fetch(client, server.url()) == (200, b"x" * 100)
    assert server.accepted == 2


async def test_release_before_complete_is_not_pooled(serve, client):
    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234")
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"56789")
            await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url())
    resp.release()  # incomplete: the connection is closed, not handed to the next caller
    assert await fetch(client, server.url()) == (200, b"0123456789")
    assert server.accepted == 2


async def test_keepalive_expiry_opens_a_new_connection(serve):
    server = await start_keepalive(serve, ok())
    client = Client(keepalive_s=0.05)
    try:
        assert await fetch(client, server.url()) == (200, b"hello")
        await asyncio.sleep(0.1)
        assert await fetch(client, server.url()) == (200, b"hello")
        assert server.accepted == 2
    finally:
        client.close()


async def test_client_close_closes_idle_connections(serve):
    ended = asyncio.Event()

    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(ok())
            await writer.drain()
        ended.set()  # the client hung up

    server = await serve(handler)
    client = Client()
    assert await fetch(client, server.url()) == (200, b"hello")
    client.close()
    await asyncio.wait_for(ended.wait(), 2.0)


async def test_unsolicited_bytes_on_idle_connection_discard_it(serve, client):
    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(ok(b"real"))
            await writer.drain()
            if index == 0:
                await asyncio.sleep(0.01)
                writer.write(ok(b"nobody asked"))  # garbage on an idle connection
                await writer.drain()

    server = await serve(handler)
    assert await fetch(client, server.url()) == (200, b"real")
    await until(lambda: not client._target(server.url())[0].idle
                or client._target(server.url())[0].idle[-1][1].closed)
    assert await fetch(client, server.url()) == (200, b"real")
    assert server.accepted == 2


async def test_idle_connection_closed_by_server_is_replaced(serve, client):
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(ok(b"conn %d" % index))  # keep-alive by default ...
        await writer.drain()
        writer.close()  # ... but the server drops it right after

    server = await serve(handler)
    assert await fetch(client, server.url()) == (200, b"conn 0")
    assert await fetch(client, server.url(), method="POST", body=b"{}") == (200, b"conn 1")
    assert server.accepted == 2


async def test_stale_reused_connection_is_retried_transparently(serve, client):
    """The server reads the second request on the reused connection and closes without a byte:
    the client retries it once on a fresh connection and the caller gets the answer."""

    async def handler(reader, writer, index):
        req = await server.read(reader)
        writer.write(ok(b"conn %d %s" % (index, req.body)))
        await writer.drain()
        if index == 0:
            await server.read(reader)  # the second request arrives ...
            writer.close()  # ... and is dropped unanswered

    server = await serve(handler)
    assert await fetch(client, server.url(), method="POST", body=b"one") == (200, b"conn 0 one")
    assert await fetch(client, server.url(), method="POST", body=b"two") == (200, b"conn 1 two")
    assert server.accepted == 2
    assert [r.body for r in server.requests] == [b"one", b"two", b"two"]


async def test_fresh_connection_closed_before_answer_is_not_retried(serve, client):
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.close()

    server = await serve(handler)
    with pytest.raises(HTTPError) as err:
        await get(client, server.url())
    assert err.value.kind == "connection"
    assert server.accepted == 1


async def test_stale_retry_uses_a_fresh_connection(serve, client):
    async def handler(reader, writer, index):
        req = await server.read(reader)
        await asyncio.sleep(0.01)
        writer.write(ok(b"conn %d %s" % (index, req.body)))
        await writer.drain()
        await server.read(reader)  # every connection drops its second request unanswered
        writer.close()

    server = await serve(handler)
    first = await asyncio.gather(fetch(client, server.url(), body=b"a", method="POST"),
                                 fetch(client, server.url(), body=b"b", method="POST"))
    assert [status for status, _ in first] == [200, 200]
    assert sorted(data[-1:] for _, data in first) == [b"a", b"b"]
    assert server.accepted == 2  # both idle in the pool now
    assert await fetch(client, server.url(), method="POST", body=b"c") == (200, b"conn 2 c")


# ---------------------------------------------------------------------------------------- failures


async def test_connection_refused_is_connect_error(client):
    with pytest.raises(HTTPError) as err:
        await get(client, f"http://127.0.0.1:{closed_port()}/")
    assert err.value.kind == "connect"


async def test_no_head_within_head_timeout(serve, client):
    async def handler(reader, writer, index):
        await server.read(reader)
        await asyncio.Event().wait()  # never answers

    server = await serve(handler)
    with pytest.raises(HTTPError) as err:
        await get(client, server.url(), head_timeout=0.1)
    assert err.value.kind == "timeout"
    assert not client._target(server.url())[0].idle  # the connection was dropped


async def test_partial_head_then_silence_times_out(serve, client):
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-le")
        await writer.drain()
        await asyncio.Event().wait()

    server = await serve(handler)
    with pytest.raises(HTTPError) as err:
        await get(client, server.url(), head_timeout=0.1)
    assert err.value.kind == "timeout"


async def stalling_server(serve) -> RawServer:
    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await writer.drain()
        await asyncio.Event().wait()  # the other 90 bytes never come

    server = await serve(handler)
    return server


async def test_body_stall_read_idle_timeout(serve, client):
    server = await stalling_server(serve)
    resp = await get(client, server.url())
    with pytest.raises(TimeoutError):
        await resp.read(time.monotonic() + 5.0, 0.1, 1000)
    resp.close()


async def test_body_stall_read_deadline(serve, client):
    server = await stalling_server(serve)
    resp = await get(client, server.url())
    with pytest.raises(TimeoutError):
        await resp.read(time.monotonic() + 0.1, 5.0, 1000)
    resp.close()


async def test_body_stall_next_chunk_and_chunks(serve, client):
    server = await stalling_server(serve)
    resp = await get(client, server.url())
    assert await resp.next_chunk(0.5) == b"0123456789"
    with pytest.raises(TimeoutError):
        await resp.next_chunk(0.05)
    with pytest.raises(TimeoutError):  # still waiting: a timeout does not end the body
        await resp.next_chunk(0.05)
    with pytest.raises(TimeoutError):
        async for _ in resp.chunks(0.05):
            pass
    resp.close()


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
], ids=["status", "garbage", "length", "header", "two-lengths"])
async def test_malformed_head_is_protocol_error(serve, client, head):
    server = await start_keepalive(serve, head)
    with pytest.raises(HTTPError) as err:
        await get(client, server.url())
    assert err.value.kind == "protocol"
    assert server.accepted == 1


async def test_malformed_chunked_body_is_protocol_error(serve, client):
    server = await start_keepalive(serve, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                          b"5\r\nhello\r\nzz\r\nxx\r\n")
    resp = await get(client, server.url())
    assert resp.status == 200
    with pytest.raises(HTTPError) as err:
        await read_all(resp)
    assert err.value.kind == "protocol"
    resp.close()
    assert not client._target(server.url())[0].idle  # a broken connection is not pooled


async def test_read_limit(serve, client):
    server = await start_keepalive(serve, ok(b"x" * 100))
    resp = await get(client, server.url())
    with pytest.raises(HTTPError) as err:
        await read_all(resp, limit=99)
    assert err.value.kind == "too_large"
    resp.close()
    resp = await get(client, server.url())
    assert await read_all(resp, limit=100) == b"x" * 100  # exactly the limit is fine
    resp.release()


async def test_read_limit_counts_decoded_bytes(serve, client):
    plain = b"\0" * 100_000
    server = await start_keepalive(serve, ok(gzip.compress(plain), b"content-encoding: gzip\r\n"))
    resp = await get(client, server.url())
    with pytest.raises(HTTPError) as err:
        await read_all(resp, limit=50_000)
    assert err.value.kind == "too_large"
    resp.close()


@pytest.mark.parametrize("headers", [
    {"x-evil": "a\r\nx-injected: 1"},
    {"x-evil": "a\nx-injected: 1"},
    {"x-evil": "a\r"},
    {"x-evil\r\nx-injected": "1"},
    {"x-evil\n": "1"},
], ids=["crlf-value", "lf-value", "cr-value", "crlf-name", "lf-name"])
async def test_header_injection_refused(serve, client, headers):
    server = await start_keepalive(serve, ok())
    with pytest.raises(ValueError):
        await get(client, server.url(), headers=headers)
    assert server.accepted == 0  # nothing was sent
    assert await fetch(client, server.url(), headers={"x-fine": "a: b"}) == (200, b"hello")
    assert server.requests[0].header(b"x-fine") == b"a: b"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///nohost", "/relative"])
async def test_unsupported_url(client, url):
    with pytest.raises(ValueError):
        await get(client, url)


# ---------------------------------------------------------------------------------------- backpressure


def pattern(size: int) -> bytes:
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB, not periodic at small scales
    return b"".join(block[:60_000] + i.to_bytes(4, "big") for i in range(size // 60_004 + 1))[:size]


async def test_large_body_read_slowly_arrives_intact(serve, client):
    size = 4 * 1024 * 1024
    body = pattern(size)

    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
            for i in range(0, size, 1 << 20):
                writer.write(body[i:i + (1 << 20)])
                await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url())
    # nobody reads yet: the client stops reading the socket instead of buffering 4 MiB
    await until(lambda: resp._paused)
    await asyncio.sleep(0.05)
    assert resp._paused
    assert resp._buffered <= HIGH_WATER + 512 * 1024
    assert not resp.complete

    parts: list[bytes] = []
    n = 0
    while (chunk := await resp.next_chunk(1.0)) is not None:
        parts.append(chunk)
        n += 1
        if n % 8 == 0:
            await asyncio.sleep(0.001)  # a slow consumer
    data = b"".join(parts)
    assert len(data) == size
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    assert not resp._paused
    resp.release()
    # resumed and complete: the connection is reused for the next (fast) read
    resp = await get(client, server.url())
    assert hashlib.sha256(await read_all(resp)).digest() == hashlib.sha256(body).digest()
    resp.release()
    assert server.accepted == 1


async def test_large_chunked_stream_with_backpressure(serve, client):
    piece = b"data: " + b"y" * 8000 + b"\n\n"
    count = 600  # ~4.8 MiB

    async def handler(reader, writer, index):
        await server.read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(count):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url())
    await until(lambda: resp._paused)
    total = 0
    async for chunk in resp.chunks(1.0):
        total += len(chunk)
        assert resp._buffered <= HIGH_WATER + 512 * 1024
    assert total == len(piece) * count
    assert resp.complete
    resp.release()


async def test_connection_released_while_paused_is_usable(serve, client):
    first = HIGH_WATER - 10
    send_rest = asyncio.Event()

    async def handler(reader, writer, index):
        while await server.read(reader) is not None:
            if len(server.requests) == 1:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (first + 100))
                writer.write(b"a" * first)
                await writer.drain()
                await send_rest.wait()
                writer.write(b"b" * 100)  # this small tail crosses HIGH_WATER and completes the body
            else:
                writer.write(ok(b"second"))
            await writer.drain()

    server = await serve(handler)
    resp = await get(client, server.url())
    await until(lambda: resp._buffered >= first)
    send_rest.set()
    await until(lambda: resp.complete)
    assert resp._paused  # precondition: complete, but the socket is not being read
    resp.release()  # e.g. the caller gave up on the body (too large) and released it
    assert await fetch(client, server.url(), head_timeout=0.3) == (200, b"second")


# ---------------------------------------------------------------------------------------- the request


def parse_request(raw: bytes) -> dict:
    out: dict = {"headers": [], "body": b"", "complete": False}

    class P:
        def on_url(self, url):
            out["url"] = out.get("url", b"") + url

        def on_header(self, name, value):
            out["headers"].append((name, value))

        def on_body(self, body):
            out["body"] += body

        def on_message_complete(self):
            out["complete"] = True

    parser = httptools.HttpRequestParser(P())
    parser.feed_data(raw)
    out["method"] = parser.get_method()
    out["version"] = parser.get_http_version()
    return out


async def test_request_bytes_are_well_formed(serve, client):
    server = await start_keepalive(serve, ok())
    body = b'{"model":"m","messages":[]}'
    url = server.url("/v1/chat/completions?api-version=2024-01-01&x=a%20b")
    resp = await get(client, url, method="POST", body=body,
                     headers={"authorization": "Bearer k", "content-type": "application/json"})
    assert await read_all(resp) == b"hello"
    resp.release()
    raw = server.requests[0].raw
    assert raw == (b"POST /v1/chat/completions?api-version=2024-01-01&x=a%20b HTTP/1.1\r\n"
                   b"host: 127.0.0.1:" + str(server.port).encode() + b"\r\n"
                   b"authorization: Bearer k\r\ncontent-type: application/json\r\n"
                   b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    parsed = parse_request(raw)
    assert parsed["complete"]
    assert parsed["method"] == b"POST" and parsed["version"] == "1.1"
    assert parsed["url"] == b"/v1/chat/completions?api-version=2024-01-01&x=a%20b"
    assert (b"host", b"127.0.0.1:%d" % server.port) in parsed["headers"]
    assert parsed["body"] == body


async def test_request_without_body(serve, client):
    server = await start_keepalive(serve, ok())
    assert await fetch(client, f"http://127.0.0.1:{server.port}") == (200, b"hello")  # no path at all
    assert await fetch(client, server.url("/p"), method="POST") == (200, b"hello")
    assert await fetch(client, server.url("/d"), method="DELETE") == (200, b"hello")
    get_req, post_req, delete_req = server.requests
    assert get_req.raw == b"GET / HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n\r\n" % server.port
    assert post_req.header(b"content-length") == b"0" and post_req.body == b""
    assert delete_req.header(b"content-length") == b"0"
    for r in server.requests:
        assert parse_request(r.raw)["complete"]


async def test_binary_body_sent_verbatim(serve, client):
    server = await start_keepalive(serve, lambda req, i: ok(hashlib.sha256(req.body).hexdigest().encode()))
    body = bytes(range(256)) * 1000 + b"\r\n\r\n"
    status, data = await fetch(client, server.url("/b"), method="PUT", body=body)
    assert (status, data) == (200, hashlib.sha256(body).hexdigest().encode())
    assert server.requests[0].body == body


@pytest.mark.parametrize("url, host", [
    ("http://example.com/x", b"example.com"),
    ("http://example.com:80/x", b"example.com"),
    ("http://example.com:8080/x", b"example.com:8080"),
    ("https://example.com/x", b"example.com"),
    ("https://example.com:443/x", b"example.com"),
    ("https://example.com:8443/x", b"example.com:8443"),
    ("http://Example.COM:81", b"example.com:81"),
])
def test_host_header_and_target(url, host):
    origin, target = Client()._target(url)
    assert origin.host_header == host
    assert target.startswith(b"/")


def test_host_header_ipv6_literal():
    assert Client()._target("http://[::1]:8080/x")[0].host_header == b"[::1]:8080"
    assert Client()._target("http://[::1]/x")[0].host_header == b"[::1]"


def test_water_marks_are_ordered():
    assert 0 < LOW_WATER < HIGH_WATER
