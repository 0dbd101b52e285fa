"""A TCP server on a loopback port for tests that play the other end of a connection byte for
byte (a fake RESP server, a raw HTTP/1.1 origin). It keeps every connection's task and writer, so
`stop()` ends them all, also those its handler holds open on purpose; `started_servers()` stops
every server a test started. Also: a port nothing listens on, and an async wait for a condition."""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, TypeVar

S = TypeVar("S", bound="LoopbackServer")


@dataclass(kw_only=True)
class LoopbackServer:
    tasks: set = field(default_factory=set)
    writers: list = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    port: int = 0

    async def start(self: S) -> S:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, until the handler is done with it (the subclass's script)."""
        raise NotImplementedError

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):  # CancelledError: stop()
            pass
        finally:
            self.tasks.discard(task)
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()


@asynccontextmanager
async def started_servers() -> AsyncIterator[Callable[[S], Awaitable[S]]]:
    """`start(server)` for one test: starts the server; every one it started stops at the end."""
    servers: list[LoopbackServer] = []

    async def start(server: S) -> S:
        servers.append(await server.start())
        return server

    try:
        yield start
    finally:
        for s in servers:
            await s.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound a moment, then released): connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (polling) until predicate() holds; fails the test if it never does."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.005)
