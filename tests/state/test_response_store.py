"""lua/response_put.lua and lua/response_get.lua, the Responses API's stored turns: on the engine
against their reference model (gateway/state/reference_responses.py), and their limits."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.state.reference_responses import ResponseStoreModel
from gateway.state.store import StateStore

HOUR_MS = 3_600_000


async def put(store: StateStore, key: str, id_: str, data: bytes, ttl_ms: int = HOUR_MS, max_entry: int = 1000,
              max_key: int = 10_000) -> tuple[int, str, int, int, int]:
    r = await store.scripts.call("response_put", list(store.keys.responses(key)),
                                 [id_, data, str(ttl_ms), str(max_entry), str(max_key)])
    reason = r[1].decode() if isinstance(r[1], bytes) else r[1]
    return int(r[0]), reason, int(r[2]), int(r[3]), int(r[4])


async def get(store: StateStore, key: str, id_: str) -> tuple[bytes | None, int]:
    data, now = await store.scripts.call("response_get", list(store.keys.responses(key)), [id_])
    return data, int(now)


async def test_a_stored_turn_is_read_back_by_its_key_only(backend3):
    store = await backend3.store()
    assert (await put(store, "alice", "resp_1", b'{"messages":[]}'))[:3] == (1, "", 15)
    assert (await get(store, "alice", "resp_1"))[0] == b'{"messages":[]}'
    assert (await get(store, "bob", "resp_1"))[0] is None     # another key's turns are not visible
    assert (await get(store, "alice", "resp_2"))[0] is None


async def test_size_caps_refuse_a_large_entry_and_evict_the_oldest(backend):
    store = await backend.store()
    assert (await put(store, "k", "resp_big", b"x" * 1001))[:2] == (0, "too_large")
    assert await store.client.exists(*store.keys.responses("k")) == 0  # a refusal creates no key
    for i in range(5):
        assert (await put(store, "k", f"resp_{i}", b"y" * 300, max_key=1000))[0] == 1
    # 1000 bytes per key: each new entry past the third evicted the oldest one
    assert [(await get(store, "k", f"resp_{i}"))[0] is not None for i in range(5)] == [False, False, True, True, True]
    assert int(await store.client.hget(store.keys.responses("k")[0], "#bytes")) == 900


async def test_entries_expire_with_their_ttl(backend):
    store = await backend.store()
    await put(store, "k", "resp_short", b"s", ttl_ms=40)
    await put(store, "k", "resp_long", b"l")
    await asyncio.sleep(0.08)
    assert (await get(store, "k", "resp_short"))[0] is None
    assert (await get(store, "k", "resp_long"))[0] == b"l"
    assert await store.client.pttl(store.keys.responses("k")[0]) > HOUR_MS - 60_000  # the keys expire too


async def test_bad_arguments_are_refused_before_any_write(backend):
    store = await backend.store()
    keys = list(store.keys.responses("k"))
    with pytest.raises(Exception, match="ttl_ms"):
        await store.scripts.call("response_put", keys, ["resp_1", "{}", "0", "10", "10"])
    with pytest.raises(Exception, match="id"):
        await store.scripts.call("response_put", keys, ["#bytes", "{}", "10", "10", "10"])
    assert await store.client.exists(*keys) == 0


OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "get"]), st.sampled_from(["a", "b"]),
                         st.integers(0, 5), st.integers(1, 400), st.sampled_from([HOUR_MS, HOUR_MS, 20]),
                         st.sampled_from([0, 0, 0, 40])), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS, max_key=st.sampled_from([500, 1000, 100_000]))
def test_engine_matches_the_model(redis_url, ops, max_key):
    """Random puts and gets on two keys (sizes around the caps, TTLs of an hour or of 20 ms with
    pauses of 40 ms) give the same answers on the engine and on the model, driven by its clock."""

    async def go() -> None:
        store = await StateStore.connect(redis_url, prefix="rs" + uuid.uuid4().hex[:8], timeout_s=2.0)
        models = {"a": ResponseStoreModel(), "b": ResponseStoreModel()}
        try:
            for op, key, n, size, ttl, pause in ops:
                if pause:
                    await asyncio.sleep(pause / 1000)
                if op == "put":
                    data = bytes([97 + n]) * size
                    *answer, now = await put(store, key, f"resp_{n}", data, ttl, 300, max_key)
                    assert tuple(answer) == models[key].put(f"resp_{n}", data, ttl, 300, max_key, now), (op, key, n)
                else:
                    data, now = await get(store, key, f"resp_{n}")
                    assert data == models[key].get(f"resp_{n}", now), (op, key, n)
        finally:
            await store.close()

    asyncio.run(go())
