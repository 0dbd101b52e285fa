"""Backends for the state tests: fakeredis (fast), the real single engine, the real cluster.

`make_stores(backend, n)` returns n StateStore instances with their own clients/connection
pools sharing one engine, under a fresh key prefix per test (tests never flush each other).
"""

from __future__ import annotations

import itertools
import uuid

import fakeredis
import pytest

from gateway.state.store import StateStore

_count = itertools.count()


def fresh_prefix() -> str:
    return f"t{next(_count)}-{uuid.uuid4().hex[:6]}"


class Backend:
    def __init__(self, kind: str, url=None) -> None:
        self.kind = kind
        self.url = url
        self.server = fakeredis.FakeServer() if kind == "fake" else None
        self.prefix = fresh_prefix()
        self.stores: list[StateStore] = []

    async def store(self, timeout_s: float = 1.0, **kw) -> StateStore:
        kw.setdefault("prefix", self.prefix)
        if self.kind == "fake":
            client = fakeredis.aioredis.FakeRedis(server=self.server)
            s = StateStore.from_client(client, **kw)
            await s.load()
        else:
            s = await StateStore.connect(self.url, timeout_s=timeout_s, **kw)
        self.stores.append(s)
        return s

    async def stores_n(self, n: int, **kw) -> list[StateStore]:
        return [await self.store(**kw) for _ in range(n)]

    async def close(self) -> None:
        for s in self.stores:
            await s.close()
        self.stores.clear()


def make_backend(kind: str, request: pytest.FixtureRequest) -> Backend:
    if kind == "fake":
        return Backend("fake")
    if kind == "single":
        return Backend("single", request.getfixturevalue("redis_url"))
    return Backend("cluster", request.getfixturevalue("cluster").urls)


@pytest.fixture(params=["fake", "single"])
async def backend(request):
    b = make_backend(request.param, request)
    yield b
    await b.close()


@pytest.fixture(params=["fake", "single", "cluster"])
async def backend3(request):
    """For the core tests that must also hold on the 3-master cluster."""
    b = make_backend(request.param, request)
    yield b
    await b.close()


@pytest.fixture(params=["single", "cluster"])
async def real_backend(request):
    b = make_backend(request.param, request)
    yield b
    await b.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """Overrides tests/conftest.py's `cluster` with retries: engine.free_port() may return a
    port above 55535, where a cluster node cannot add its +10000 bus port and exits."""
    from gateway.state.engine import start_cluster

    last = None
    for attempt in range(12):
        try:
            engines = start_cluster(3, tmp_path_factory.mktemp(f"cluster{attempt}"))
            break
        except RuntimeError as exc:  # "port number too high": try other free ports
            last = exc
    else:
        raise last
    yield engines
    engines.stop()
