"""A lean HTTP/1.1 client for the upstream calls: keep-alive pools, httptools parsing, streaming.

Why not aiohttp: on the 2-core benchmark machine a bare relay (uvicorn, orjson, two script calls)
topped out near 1,600 requests/s on one core through an aiohttp session and near 2,900 through a
minimal httptools client, the prototype of this one: aiohttp's per-request machinery (request and
response objects, cookie jar, trace hooks, timers, stream readers) costs ~250 µs of CPU a call
here. Switching the gateway to this module took the JSON benchmark from 632 to 999 requests/s
(docs/benchmarks.md). Parsing is httptools' (the C parser uvicorn uses).

What it does: HTTP/1.1 over TCP or TLS (certificates verified), directly or through an HTTP proxy
(`gateway.net.egress`: CONNECT tunnels, absolute-form, proxy credentials, TCP keepalive); keep-alive
connections per origin (LIFO, closed after `keepalive_s` idle), at most `max_connections` open
per origin with a FIFO queue (`gateway.net.pool`); Content-Length, chunked, gzip and deflate
bodies; backpressure (the socket stops being read while the consumer lags); one retry on a fresh
connection when a reused one was closed by the server before it answered; timeouts for
connecting, the response head (queueing for a connection included) and each wait for body bytes.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
import zlib
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import httptools

from gateway.net.egress import EnvProxies, Egress, ProxyRefused, choose_proxy, dial, tls_context
from gateway.net.pool import Origin

HIGH_WATER = 256 * 1024   # buffered body bytes past which the socket is paused
LOW_WATER = 64 * 1024


class HTTPError(Exception):
    """A transport-level failure; `kind` is one of connect, timeout, connection, protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the answer."""


class _Connection(asyncio.Protocol):
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.reused = False
        self.closed = False
        self.interim = False  # a 1xx answer is being parsed: skipped, the real one follows
        self.counted = False  # holds one of the origin's slots until it closes

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: this connection cannot be trusted
            self.abort()
            return
        response.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            self._fail(HTTPError("protocol", "unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(HTTPError("protocol", f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self._uncount()
        response = self.response
        if response is None or response.complete:
            return
        if response.head_done and response.until_close:
            response.finish(keep_alive=False)  # a body delimited by the end of the connection
        elif not response.got_bytes and self.reused:
            response.fail(_Stale())
        else:
            response.fail(HTTPError("connection", "upstream closed the connection mid-answer"))

    # -- httptools callbacks --
    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.response is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints...: not the answer (RFC 9110 15.2)
            self.interim = True
            self.response.raw_headers.clear()
            return
        self.response.head(status)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response.feed(body)

    def on_message_complete(self) -> None:
        assert self.response is not None
        if self.interim:
            self.interim = False
            return
        self.response.finish(keep_alive=self.parser.should_keep_alive())

    # -- helpers --
    def _fail(self, exc: Exception) -> None:
        if self.response is not None:
            self.response.fail(exc)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self._uncount()

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.origin.closed_one()


class Response:
    """An answer whose status and headers have arrived; the body is read with `read` or `chunks`."""

    def __init__(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.got_bytes = False
        self.complete = False
        self.until_close = False
        self.keep_alive = False
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._released = False
        self.head_only = False

    # -- fed by the connection --
    def head(self, status: int) -> None:
        self.status = status
        headers: dict[str, str] = {}
        for name, value in self.raw_headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        self.until_close = ("content-length" not in headers
                            and "chunked" not in headers.get("transfer-encoding", "").lower())
        self.head_done = True
        if self.head_only:  # an answer to HEAD has no body, whatever its headers say
            self.finish(keep_alive=False)
        self._wake()

    def feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self.fail(HTTPError("protocol", f"bad compressed body: {exc}"))
                return
            if not data:
                return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self._conn.transport is not None:
            self._paused = True
            self._conn.transport.pause_reading()
        self._wake()

    def finish(self, keep_alive: bool) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._buffer.append(tail)
        self.complete = True
        self.keep_alive = keep_alive
        self._wake()

    def fail(self, exc: Exception) -> None:
        if self._error is None and not self.complete:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float) -> None:
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(max(0.0, timeout), _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # -- read by the caller --
    async def wait_head(self, timeout: float) -> None:
        while not self.head_done:
            if self._error is not None:
                raise self._error
            await self._wait(timeout)
        if self._error is not None and not self.head_done:  # pragma: no cover - raised above
            raise self._error

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next piece of the body, None at its end; waits at most `timeout` for bytes."""
        while True:
            if self._buffer:
                data = self._buffer.popleft()
                self._buffered -= len(data)
                if self._paused and self._buffered < LOW_WATER and self._conn.transport is not None:
                    self._paused = False
                    self._conn.transport.resume_reading()
                return data
            if self._error is not None:
                raise self._error
            if self.complete:
                return None
            await self._wait(timeout)

    def ready(self) -> list[bytes]:
        """The body pieces that have already arrived, taken without waiting (a burst that came
        in one network read is then decoded and answered in one go)."""
        pieces = list(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        if self._paused and self._conn.transport is not None:
            self._paused = False
            self._conn.transport.resume_reading()
        return pieces

    def chunks(self, idle_s: float) -> "Chunks":
        return Chunks(self, idle_s)

    async def read(self, deadline: float, idle_s: float, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await self.next_chunk(min(idle_s, deadline - time.monotonic()))
            if chunk is None:
                return b"".join(parts)
            size += len(chunk)
            if size > limit:
                raise HTTPError("too_large", f"body larger than {limit} bytes")
            parts.append(chunk)

    def release(self) -> None:
        """Give the connection back for reuse if the answer is complete, else close it."""
        if self._released:
            return
        self._released = True
        conn = self._conn
        conn.response = None
        if self.complete and self.keep_alive and self._error is None and not conn.closed and not self._buffer \
                and not self._paused:
            conn.reused = True
            conn.origin.put(conn, time.monotonic())
        else:
            conn.abort()

    def close(self) -> None:
        if not self._released:
            self._released = True
            self._conn.response = None
            self._conn.abort()


class Chunks:
    """Async iterator over a body's pieces, each wait bounded by the idle timeout."""

    __slots__ = ("response", "idle_s")

    def __init__(self, response: Response, idle_s: float) -> None:
        self.response, self.idle_s = response, idle_s

    def __aiter__(self) -> "Chunks":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.response.next_chunk(self.idle_s)
        if chunk is None:
            raise StopAsyncIteration
        return chunk


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _header_block(headers: dict[str, str]) -> bytes:
    """`name: value` lines; a line break inside a name or value (header injection) is refused."""
    block = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if block.count("\n") != len(headers) or block.count("\r") != len(headers):
        raise ValueError("header names and values must not contain line breaks")
    return block.encode("latin-1")


def _connect_error(exc: BaseException, origin: Origin) -> HTTPError:
    where = f"{origin.host}:{origin.port}" + (f" through proxy {origin.proxy.address}" if origin.proxy else "")
    if isinstance(exc, TimeoutError):
        return HTTPError("connect_timeout", f"connecting to {where} timed out")
    if isinstance(exc, ProxyRefused):
        return HTTPError("connect", f"{exc} (for {origin.host}:{origin.port})")
    return HTTPError("connect", f"cannot connect to {where}: {getattr(exc, 'strerror', None) or type(exc).__name__}")


class Client:
    """One per worker. Each request may name an `Egress` (a provider's proxy, trust store and
    connection cap; `default` otherwise). The environment's proxy variables are read once."""

    def __init__(self, keepalive_s: float = 30.0, ssl_context: ssl.SSLContext | None = None,
                 default: Egress = Egress(), env: dict[str, str] | None = None) -> None:
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._default = default
        self._env = EnvProxies.from_env(os.environ if env is None else env)
        self._origins: dict[tuple[str, str, int, Egress], Origin] = {}
        self._urls: dict[tuple[str, Egress], tuple[Origin, bytes]] = {}

    def _target(self, url: str, egress: Egress | None = None) -> tuple[Origin, bytes]:
        egress = egress or self._default
        hit = self._urls.get((url, egress))
        if hit is not None:
            return hit
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"unsupported upstream URL: {url!r}")
        port = u.port or (443 if u.scheme == "https" else 80)
        key = (u.scheme, u.hostname, port, egress)
        origin = self._origins.get(key)
        if origin is None:
            context = None
            if u.scheme == "https":
                context = self._ssl or tls_context(egress.ca_file)
            proxy = choose_proxy(egress, self._env, u.scheme, u.hostname, port)
            origin = self._origins[key] = Origin(u.scheme, u.hostname, port, context, proxy, egress.max_connections)
        target = ((u.path or "/") + (f"?{u.query}" if u.query else ""))
        if origin.absolute:  # through a proxy: absolute-form (RFC 9112 3.2.2)
            target = f"http://{origin.host_header.decode('ascii')}{target}"
        if len(self._urls) > 4096:
            self._urls.clear()
        hit = self._urls[(url, egress)] = (origin, target.encode("ascii"))
        return hit

    async def _connection(self, origin: Origin, connect_timeout: float, wait_timeout: float,
                          fresh: bool = False) -> _Connection:
        """An idle connection, else a new one in a free slot, else the next one given back."""
        conn = None if fresh else origin.reuse(time.monotonic(), self.keepalive_s)
        if conn is not None:
            return conn  # type: ignore[return-value]
        if not origin.reserve():
            try:
                async with asyncio.timeout(max(0.001, wait_timeout)):
                    conn = await origin.queue()
            except TimeoutError:
                raise HTTPError("pool_timeout", f"no connection to {origin.host}:{origin.port} came free in time "
                                                f"({origin.limit} open)") from None
            if conn is not None:
                return conn  # type: ignore[return-value]
        try:
            async with asyncio.timeout(max(0.001, connect_timeout)):
                conn = await dial(lambda: _Connection(origin), origin.host, origin.port, origin.ssl, origin.proxy)
        except BaseException as exc:
            origin.closed_one()  # the reserved slot
            if isinstance(exc, (TimeoutError, OSError, ProxyRefused)):
                raise _connect_error(exc, origin) from None
            raise
        conn.counted = True
        if conn.closed:  # lost before we got it
            conn.abort()
            raise HTTPError("connect", f"{origin.host}:{origin.port} closed the connection at once")
        return conn

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes, *,
                      connect_timeout: float, head_timeout: float, egress: Egress | None = None) -> Response:
        """Send the request; return once the status and headers have arrived (waiting for a free
        connection counts against `head_timeout`, connecting also against `connect_timeout`)."""
        origin, target = self._target(url, egress)
        lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n", origin.head_lines, _header_block(headers)]
        if body or method not in ("GET", "HEAD"):
            lines.append(b"content-length: %d\r\n" % len(body))
        lines.append(b"\r\n")
        lines.append(body)
        raw = b"".join(lines)
        loop = asyncio.get_running_loop()
        for attempt in (0, 1):
            started = time.monotonic()
            conn = await self._connection(origin, connect_timeout, head_timeout, fresh=attempt > 0)
            response = Response(conn, loop)
            response.head_only = method == "HEAD"
            conn.response = response
            assert conn.transport is not None
            conn.transport.write(raw)
            try:
                await response.wait_head(head_timeout - (time.monotonic() - started))
                if response.status == 407 and origin.absolute:  # the proxy's answer, not the origin's
                    response.close()
                    raise HTTPError("connect", f"proxy {origin.proxy.address} refused the request: 407")  # type: ignore[union-attr]
                return response
            except _Stale:
                response.close()
                if attempt:
                    raise HTTPError("connection", "upstream closed the connection before answering") from None
            except TimeoutError:
                response.close()
                raise HTTPError("timeout", "upstream did not answer in time") from None
            except BaseException:
                response.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        for origin in self._origins.values():
            origin.close_idle()
