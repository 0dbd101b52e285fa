"""One origin's connections: idle ones kept for reuse, a cap on how many are open, a FIFO queue.

Without a cap a burst of N concurrent calls opens N TCP (and TLS, and proxy tunnel) connections
to a provider at once: N handshakes of CPU here, N sockets there, and often a provider's or a
proxy's connection limit hit. With it, a call past the cap waits its turn: the next connection
given back is handed straight to the longest waiter (first come, first served), and when one
closes its slot goes to the longest waiter, which opens a new one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Protocol

from gateway.net.egress import Proxy


class Pooled(Protocol):
    closed: bool

    def abort(self) -> None: ...


class Origin:
    """Where requests to one scheme://host:port (for one provider's egress settings) go."""

    __slots__ = ("scheme", "host", "port", "host_header", "head_lines", "absolute", "ssl", "proxy", "idle",
                 "open", "limit", "waiters")

    def __init__(self, scheme: str, host: str, port: int, context: ssl.SSLContext | None,
                 proxy: Proxy | None = None, limit: int = 100) -> None:
        self.scheme, self.host, self.port, self.ssl, self.proxy = scheme, host, port, context, proxy
        default = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal
        self.host_header = (name if port == default else f"{name}:{port}").encode("ascii")
        # through a proxy, a plain-http origin gets absolute-form targets and the proxy's credentials
        # on every request; a TLS origin gets them once, on the CONNECT of its tunnel
        self.absolute = proxy is not None and context is None
        lines = b"host: " + self.host_header + b"\r\n"
        if self.absolute and proxy is not None and proxy.authorization:
            lines += b"proxy-authorization: " + proxy.authorization.encode("latin-1") + b"\r\n"
        self.head_lines = lines
        self.idle: deque[tuple[float, Pooled]] = deque()
        self.open = 0  # connections open or being opened, idle ones included
        self.limit = limit
        self.waiters: deque[asyncio.Future[Pooled | None]] = deque()

    def reuse(self, now: float, keepalive_s: float) -> Pooled | None:
        """The most recently used idle connection still fresh (LIFO keeps the pool small)."""
        idle = self.idle
        while idle:
            since, conn = idle.pop()
            if not conn.closed and now - since < keepalive_s:
                return conn
            conn.abort()
        return None

    def reserve(self) -> bool:
        """Take a slot to open a new connection in, unless the cap is reached or others wait."""
        if self.open < self.limit and not self.waiters:
            self.open += 1
            return True
        return False

    async def queue(self) -> Pooled | None:
        """Wait for a connection given back, or for a slot (None: the caller opens a connection)."""
        while True:
            handed = await self.wait()
            if handed is None or not handed.closed:
                return handed
            if self.reserve():  # it closed on its way to us (its slot went to the next in line)
                return None

    async def wait(self) -> Pooled | None:
        """Queue for a connection given back (returned) or a freed slot (None: open one)."""
        fut: asyncio.Future[Pooled | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # served just as the wait ended: pass it on
                got = fut.result()
                if got is None:
                    self.closed_one()
                else:
                    self.put(got, time.monotonic())
            else:
                try:
                    self.waiters.remove(fut)
                except ValueError:  # pragma: no cover - already taken off
                    pass
            raise

    def put(self, conn: Pooled, now: float) -> None:
        """A connection whose answer is complete: to the longest waiter, else to the idle stack."""
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self.idle.append((now, conn))

    def closed_one(self) -> None:
        """A counted connection closed (or a reserved slot went unused): its slot is free."""
        self.open -= 1
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                self.open += 1
                fut.set_result(None)
                return

    def close_idle(self) -> None:
        while self.idle:
            self.idle.pop()[1].abort()
