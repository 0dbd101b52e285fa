"""lua/cache_put.lua and lua/cache_get.lua, the exact-match response cache: on the engine
against their reference model (gateway/state/reference_cache.py), and their limits."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.state.reference_cache import CacheModel
from gateway.state.store import StateStore

HOUR_MS = 3_600_000


async def put(store: StateStore, digest: str, body: bytes, ttl_ms: int = HOUR_MS,
              max_bytes: int = 1000) -> tuple[int, str, int]:
    r = await store.scripts.call("cache_put", [store.keys.cache(digest)], [body, str(ttl_ms), str(max_bytes)])
    reason = r[1].decode() if isinstance(r[1], bytes) else r[1]
    return int(r[0]), reason, int(r[2])


async def get(store: StateStore, digest: str) -> tuple[bytes | None, int]:
    body, now = await store.scripts.call("cache_get", [store.keys.cache(digest)], [])
    return body, int(now)


async def test_an_answer_is_read_back_under_its_digest_only(backend3):
    store = await backend3.store()
    assert (await put(store, "d1", b'{"a":1}'))[:2] == (1, "")
    assert (await get(store, "d1"))[0] == b'{"a":1}'
    assert (await get(store, "d2"))[0] is None
    assert (await put(store, "d1", b'{"a":2}'))[:2] == (1, "")   # a refresh replaces it
    assert (await get(store, "d1"))[0] == b'{"a":2}'


async def test_a_too_large_answer_writes_nothing(backend):
    store = await backend.store()
    assert (await put(store, "big", b"x" * 1001))[:2] == (0, "too_large")
    assert await store.client.exists(store.keys.cache("big")) == 0
    assert (await put(store, "big", b"x" * 1000))[:2] == (1, "")  # the cap itself fits


async def test_an_answer_expires_with_its_ttl_and_its_key_soon_after(backend):
    store = await backend.store()
    await put(store, "short", b"s", ttl_ms=40)
    await put(store, "long", b"l")
    await asyncio.sleep(0.08)
    assert (await get(store, "short"))[0] is None
    assert (await get(store, "long"))[0] == b"l"
    assert HOUR_MS < await store.client.pttl(store.keys.cache("long")) <= HOUR_MS + 1000


async def test_bad_arguments_are_refused_before_any_write(backend):
    store = await backend.store()
    key = store.keys.cache("k")
    with pytest.raises(Exception, match="ttl_ms"):
        await store.scripts.call("cache_put", [key], ["{}", "0", "10"])
    with pytest.raises(Exception, match="max_bytes"):
        await store.scripts.call("cache_put", [key], ["{}", "10", "-1"])
    with pytest.raises(Exception, match="body"):
        await store.scripts.call("cache_put", [key], ["", "10", "10"])
    assert await store.client.exists(key) == 0


OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "get"]), st.integers(0, 3), st.integers(1, 400),
                         st.sampled_from([HOUR_MS, HOUR_MS, 20]), st.sampled_from([0, 0, 0, 40])),
               min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS, max_bytes=st.sampled_from([100, 300, 100_000]))
def test_engine_matches_the_model(redis_url, ops, max_bytes):
    """Random puts and gets on four entries (sizes around the cap, TTLs of an hour or of 20 ms
    with pauses of 40 ms) give the same answers on the engine and on the model, by its clock."""

    async def go() -> None:
        store = await StateStore.connect(redis_url, prefix="ca" + uuid.uuid4().hex[:8], timeout_s=2.0)
        model = CacheModel()
        try:
            for op, n, size, ttl, pause in ops:
                if pause:
                    await asyncio.sleep(pause / 1000)
                if op == "put":
                    body = bytes([97 + n]) * size
                    *answer, now = await put(store, f"d{n}", body, ttl, max_bytes)
                    assert tuple(answer) == model.put(f"d{n}", body, ttl, max_bytes, now), (op, n)
                else:
                    body, now = await get(store, f"d{n}")
                    assert body == model.get(f"d{n}", now), (op, n)
        finally:
            await store.close()

    asyncio.run(go())
