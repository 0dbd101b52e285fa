"""A lean, pipelined RESP connection for the two script calls of the hot path.

redis-py's asyncio client spends more CPU per EVALSHA than the script itself takes in the
engine: a pool checkout, a lock, `wait_for` around each write and read, an argument encoder and
a reply parser per call. This connection does the least that is correct for a stream of
idempotent script calls:

- one socket, many callers: each command is appended to a write buffer, and the buffer goes out
  in one `write` per event-loop tick; replies come back in order and resolve the callers'
  futures first in, first out (Redis answers the commands of one connection in order);
- replies are parsed by `hiredis` (C), error replies raised as redis-py's exceptions, so the
  callers' handling (NOSCRIPT reload, the fault guard) is the same for both clients;
- a call that times out leaves its slot in the queue (its late reply is dropped); when no reply
  at all has arrived for a while the socket is aborted and every waiting call fails at once,
  and the next call reconnects;
- a connection idle longer than `health_check_s` is PINGed before its next call (as redis-py's
  `health_check_interval` does), so one dropped by a NAT or load balancer is replaced without a
  failed call; TCP keepalive on; TLS, AUTH/SELECT and Sentinel discovery from `endpoint.py`.

Only the state store's script calls use it; everything else (admin reads, cluster topology)
stays on redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Sequence

import hiredis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.net.egress import set_keepalive
from gateway.state.endpoint import Endpoint, parse_endpoint


def pack(parts: Sequence[bytes]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n" % len(p))
        out.append(p)
        out.append(b"\r\n")
    return b"".join(out)


def bulk(p: bytes) -> bytes:
    """One argument, encoded as a bulk string, for callers that pre-encode static parts."""
    return b"$%d\r\n%s\r\n" % (len(p), p)


class _Protocol(asyncio.Protocol):
    def __init__(self, conn: "RespConnection") -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn._data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn._lost(self, exc)


class RespConnection:
    """`await conn.call(packed_command)` → the parsed reply, or a redis-py exception."""

    def __init__(self, url: str, timeout_s: float = 0.25, connect_timeout_s: float = 0.5,
                 endpoint: Endpoint | None = None) -> None:
        self.url = url
        self.endpoint = endpoint or parse_endpoint(url)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.health_check_s = self.endpoint.health_check_s  # 0: never
        self._ssl = self.endpoint.tls.context() if self.endpoint.tls is not None else None
        self._checking: asyncio.Future[None] | None = None
        self._last_alive = 0.0  # loop time of the last bytes from the engine
        self._transport: asyncio.Transport | None = None  # set only once the handshake has succeeded
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._deadlines: deque[float] = deque()  # loop time by which each waiter's reply is due
        self._sweeper: asyncio.TimerHandle | None = None
        self._clock = 0.0       # the stall-aware clock the deadlines are on (see `_now`)
        self._last_sweep = 0.0
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._last_reply = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ connecting
    async def connect(self) -> None:
        if self._transport is not None:
            return
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        fut = self._connecting
        try:
            await asyncio.shield(fut)
        finally:
            if fut.done():
                self._connecting = None

    async def _open(self) -> None:
        """Connect and run the handshake (AUTH, SELECT) before any caller's command can go out:
        callers wait in `connect` until the socket is published, so none runs unauthenticated or
        on the wrong database, and a failed handshake drops the socket."""
        loop = self._loop = asyncio.get_running_loop()
        ep = self.endpoint
        protocol = _Protocol(self)
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if ep.path is not None:
                    transport, _ = await loop.create_unix_connection(lambda: protocol, ep.path)
                else:
                    host, port = await ep.master(self.connect_timeout_s)  # itself, unless Sentinel
                    transport, _ = await loop.create_connection(lambda: protocol, host, port, ssl=self._ssl,
                                                                server_hostname=host if self._ssl else None)
                    set_keepalive(transport.get_extra_info("socket"))
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to the state engine: {type(exc).__name__}") from exc
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._protocol = protocol
        self._last_reply = self._last_alive = loop.time()
        commands = ep.handshake()
        if commands:
            waiters = [loop.create_future() for _ in commands]
            self._waiters.extend(waiters)
            self._deadlines.extend(float("inf") for _ in commands)  # bounded by the timeout below
            transport.write(b"".join(pack(c) for c in commands))
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    replies = [await w for w in waiters]
            except (TimeoutError, RedisConnectionError) as exc:
                self._drop(transport)
                raise RedisConnectionError(f"state engine handshake failed: {type(exc).__name__}") from None
            for reply in replies:
                if isinstance(reply, ResponseError):
                    self._drop(transport)
                    raise AuthenticationError(f"state engine refused the handshake: {reply}")
            if ep.sentinels and not (isinstance(replies[-1], list) and replies[-1][:1] == [b"master"]):
                self._drop(transport)  # the sentinel's answer is stale: a replica (failover under way)
                raise RedisConnectionError("the address the sentinels gave is not the master (yet)")
        self._transport = transport  # type: ignore[assignment]

    def _drop(self, transport: asyncio.BaseTransport) -> None:
        self._protocol = None
        self._fail_all(RedisConnectionError("state engine handshake failed"))
        transport.abort()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ calls
    async def call(self, packed: bytes) -> Any:
        if self._transport is None or self._checking is not None or (
                self.health_check_s and not self._waiters
                and self._loop.time() - self._last_alive > self.health_check_s):  # type: ignore[union-attr]
            await self._ready()
        return await self._send(packed)

    async def _ready(self) -> None:
        """Connect, or check an idle connection, once for every caller waiting on it."""
        if self._transport is None and self._checking is None:
            await self.connect()
            return
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._check())
        fut = self._checking
        try:
            await asyncio.shield(fut)
        finally:
            if fut.done() and self._checking is fut:
                self._checking = None

    async def _check(self) -> None:
        """PING an idle connection; when it does not answer in time, replace it."""
        try:
            await self._send(_PING)
            return
        except RedisError:
            pass
        self._forget(RedisConnectionError("state engine connection found dead by the idle check"))
        await self.connect()

    def _forget(self, exc: Exception) -> None:
        """Drop the socket now (its late connection_lost is ignored); the next call reconnects."""
        transport, self._transport, self._protocol = self._transport, None, None
        self._fail_all(exc)
        if transport is not None:
            transport.abort()

    async def execute(self, *parts: bytes | str | int) -> Any:
        """A command from plain values (for start-up and tests; the hot path pre-packs)."""
        return await self.call(pack([p if isinstance(p, bytes) else str(p).encode() for p in parts]))

    async def _send(self, packed: bytes) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        if not self._waiters:  # the silence that marks a dead socket is counted from here
            self._last_reply = loop.time()
        fut = loop.create_future()
        if self._sweeper is None:
            self._last_sweep = loop.time()
            self._sweeper = loop.call_later(self._tick(), self._sweep)
        self._waiters.append(fut)
        self._deadlines.append(self._now(loop) + self.timeout_s)
        self._out.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        reply = await fut
        if isinstance(reply, ResponseError):
            if str(reply).startswith("NOSCRIPT"):
                raise NoScriptError(str(reply))
            if self.endpoint.sentinels and str(reply).startswith("READONLY"):  # a demoted master
                self._forget(RedisConnectionError("the state engine is no longer the master"))
            raise reply
        return reply

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if self._transport is None or self._transport.is_closing():
            self._fail_all(RedisConnectionError("state engine connection is closed"))
            return
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _tick(self) -> float:
        return max(0.005, self.timeout_s / 8)

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        """The clock the timeouts run on: real time, except that a stall of this worker's event
        loop longer than two ticks counts as two ticks. A reply that sat in the socket while the
        loop was busy with other requests is not the engine's delay, and failing it would turn
        an overloaded worker's slowness into state outages (and fail-closed budgets into 503s);
        an engine that does not answer still times out, since a healthy loop ticks on time."""
        return self._clock + min(loop.time() - self._last_sweep, 2 * self._tick())

    def _sweep(self) -> None:
        """Fail the calls whose replies are overdue. One timer per connection instead of one per
        call: replies come in order, so the overdue calls are the oldest, at the front."""
        self._sweeper = None
        loop = self._loop or asyncio.get_running_loop()
        self._clock = now = self._now(loop)
        self._last_sweep = loop.time()
        expired = False
        for fut, due in zip(self._waiters, self._deadlines):
            if due > now:
                break
            if not fut.done():
                fut.set_exception(RedisTimeoutError("state engine did not answer in time"))
                expired = True
        # A reply that is merely late keeps the socket; silence for several timeouts means it is dead.
        if expired and self._transport is not None and loop.time() - self._last_reply > max(1.0, 4 * self.timeout_s):
            self._transport.abort()
        if self._waiters:
            self._sweeper = loop.call_later(self._tick(), self._sweep)

    # ------------------------------------------------------------------ protocol callbacks
    def _data(self, data: bytes) -> None:
        reader, waiters = self._reader, self._waiters
        reader.feed(data)
        if self._loop is not None:
            self._last_reply = self._last_alive = self._loop.time()
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiters:  # pragma: no cover - a reply nobody asked for: the stream is out of step
                self._transport and self._transport.abort()
                return
            fut = waiters.popleft()
            self._deadlines.popleft()
            if not fut.done():
                fut.set_result(reply)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:  # an older socket's late notice
            return
        self._transport = None
        self._protocol = None
        self._fail_all(RedisConnectionError(f"state engine connection lost: {type(exc).__name__ if exc else 'closed'}"))

    def _fail_all(self, exc: Exception) -> None:
        waiters, self._waiters = self._waiters, deque()
        self._deadlines = deque()
        self._out = []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc)

    async def close(self) -> None:
        self._protocol = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._fail_all(RedisConnectionError("state engine connection closed"))


_PING = pack([b"PING"])
