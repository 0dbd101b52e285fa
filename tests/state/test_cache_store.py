"""lua/cache_put.lua and lua/cache_get.lua, the exact-match response cache: on the engine
against their reference model (gateway/state/reference_cache.py), and their limits; the
operator's flush and count (gateway/state/cache_admin.py) on fakeredis, the real engine and the
3-master cluster."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.state import cache_admin
from gateway.state.keys import cache_pattern, cache_scope
from gateway.state.records import Records
from gateway.state.reference_cache import CacheModel
from gateway.state.store import StateStore

HOUR_MS = 3_600_000
SCOPE = "key:key_0123456789abcdef"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def put(store: StateStore, digest: str, body: bytes, ttl_ms: int = HOUR_MS,
              max_bytes: int = 1000, scope: str = SCOPE) -> tuple[int, str, int]:
    r = await store.scripts.call("cache_put", [store.keys.cache(scope, digest)], [body, str(ttl_ms), str(max_bytes)])
    reason = r[1].decode() if isinstance(r[1], bytes) else r[1]
    return int(r[0]), reason, int(r[2])


async def get(store: StateStore, digest: str, scope: str = SCOPE) -> tuple[bytes | None, int]:
    body, now = await store.scripts.call("cache_get", [store.keys.cache(scope, digest)], [])
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
    assert await store.client.exists(store.keys.cache(SCOPE, "big")) == 0
    assert (await put(store, "big", b"x" * 1000))[:2] == (1, "")  # the cap itself fits


async def test_an_answer_expires_with_its_ttl_and_its_key_soon_after(backend):
    store = await backend.store()
    await put(store, "short", b"s", ttl_ms=40)
    await put(store, "long", b"l")
    await asyncio.sleep(0.08)
    assert (await get(store, "short"))[0] is None
    assert (await get(store, "long"))[0] == b"l"
    assert HOUR_MS < await store.client.pttl(store.keys.cache(SCOPE, "long")) <= HOUR_MS + 1000


async def test_bad_arguments_are_refused_before_any_write(backend):
    store = await backend.store()
    key = store.keys.cache(SCOPE, "k")
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


# -------------------------------------------------------------- flush and count (operator actions)
# Scopes as gateway/pipeline/cache.py names them; one of a file key's names has a colon and glob
# characters, and one is the other's start, so a pattern that matched loosely would show.
SCOPES = ("key:key_0123456789abcdef", "key:key_fedcba9876543210", "cfg:demo", "cfg:demo:2 [*?]",
          "team:search", "global")


async def fill(store: StateStore, per_scope: int = 3) -> dict[str, set[str]]:
    """`per_scope` entries under each scope; their names by scope."""
    names: dict[str, set[str]] = {}
    for scope in SCOPES:
        for i in range(per_scope):
            digest = sha(f"{scope}/{i}")
            assert (await put(store, digest, b'{"answer": 1}', scope=scope))[0] == 1
            names.setdefault(scope, set()).add(store.keys.cache(scope, digest))
    return names


async def left(store: StateStore) -> set[str]:
    return {n.decode() if isinstance(n, bytes) else n
            async for n in store.client.scan_iter(match=cache_pattern(store.keys), count=1000)}


async def test_an_entry_name_carries_its_scope_and_a_hash_only(backend3):
    store = await backend3.store()
    prompt = "Tell me about the sea"
    name = store.keys.cache("key:key_0123456789abcdef", sha(prompt))
    assert name == f"{store.keys.prefix}:cache:key:key_0123456789abcdef:{sha(prompt)}"
    assert "{" not in name and prompt not in name  # no hash tag: entries spread over the masters
    assert cache_scope(store.keys, name) == "key:key_0123456789abcdef"
    assert cache_scope(store.keys, store.keys.audit()) is None


async def test_flush_by_scope_drops_that_scope_only(backend3):
    store = await backend3.store()
    names = await fill(store)
    assert await cache_admin.flush(store.client, store.keys, {"cfg:demo"}) == 3
    assert await left(store) == set().union(*names.values()) - names["cfg:demo"]
    assert (await get(store, sha("cfg:demo:2 [*?]/0"), scope="cfg:demo:2 [*?]"))[0] == b'{"answer": 1}'
    assert await cache_admin.flush(store.client, store.keys, {"cfg:demo:2 [*?]"}) == 3
    assert await cache_admin.flush(store.client, store.keys, {"cfg:demo"}) == 0  # nothing left of it
    assert await cache_admin.flush(store.client, store.keys, set()) == 0


async def test_flush_of_several_scopes_and_of_all(backend3):
    store = await backend3.store()
    names = await fill(store)
    team = {"team:search", "key:key_fedcba9876543210"}  # a team's shared entries and one of its keys'
    assert await cache_admin.flush(store.client, store.keys, team) == 6
    assert await left(store) == set().union(*(names[s] for s in SCOPES if s not in team))
    assert await cache_admin.flush(store.client, store.keys, None) == 12
    assert await left(store) == set()
    assert (await get(store, sha("global/0"), scope="global"))[0] is None


async def test_flush_all_leaves_other_prefixes_and_the_gateways_state(backend3):
    """`--all` is every entry of this gateway's prefix, nothing else in the engine."""
    store = await backend3.store()
    other = await backend3.store(prefix=store.keys.prefix + "x")
    await fill(store, 1)
    await fill(other, 1)
    await store.client.xadd(store.keys.audit(), {"op": "x"})
    assert await cache_admin.flush(store.client, store.keys, None) == len(SCOPES)
    assert len(await left(other)) == len(SCOPES)
    assert await store.client.xlen(store.keys.audit()) == 1


async def test_flush_unlinks_in_batches(backend3, monkeypatch):
    store = await backend3.store()
    monkeypatch.setattr(cache_admin, "UNLINK_BATCH", 4)
    names = await fill(store, 5)
    assert await cache_admin.flush(store.client, store.keys, {"global", "cfg:demo"}) == 10
    assert await left(store) == set().union(*(names[s] for s in SCOPES if s not in ("global", "cfg:demo")))


async def test_count_by_scope(backend3):
    store = await backend3.store()
    assert await cache_admin.count(store.client, store.keys) == {}
    await fill(store, 2)
    await put(store, sha("more"), b"{}", scope="global")
    assert await cache_admin.count(store.client, store.keys) == {**{s: 2 for s in SCOPES}, "global": 3}


async def test_a_flush_is_audited_like_key_and_team_changes(backend3):
    store = await backend3.store()
    records = Records(store)
    entry_id = await records.audit_append("cache.flush", "ops", "team:search", None, {"dropped": 6})
    [entry] = await records.audit(5)
    assert entry["id"] == entry_id and entry["op"] == "cache.flush" and entry["actor"] == "ops"
    assert entry["target"] == "team:search" and entry["before"] is None and entry["after"] == {"dropped": 6}
    assert abs(entry["ts_us"] // 1000 - int(entry_id.split("-")[0])) < 60_000  # the engine's clock, both
    with pytest.raises(Exception, match="op"):
        await store.scripts.call("audit_append", [store.keys.audit()],
                                 ["key.delete", "ops", "x", "null", json.dumps({}), "10"])
    assert len(await records.audit(5)) == 1


async def test_on_the_cluster_entries_spread_over_the_masters_and_a_flush_reaches_each(real_backend):
    """No hash tag: the entries of one prefix land on several masters (18 names on 3 masters),
    and a flush of all leaves none on any of them."""
    store = await real_backend.store()
    await fill(store)
    if real_backend.kind == "single":
        nodes = [None]
    else:
        nodes = store.client.get_primaries()

    async def on_each() -> list[int]:
        out = []
        for node in nodes:
            kw = {} if node is None else {"target_nodes": node}
            cursor, n = 0, 0
            while True:
                cursor, found = await store.client.scan(cursor, match=cache_pattern(store.keys), count=1000, **kw)
                if isinstance(cursor, dict):  # the cluster client answers per node
                    cursor = next(iter(cursor.values()))
                n += len(found)
                if not cursor:
                    break
            out.append(n)
        return out

    spread = await on_each()
    assert sum(spread) == 3 * len(SCOPES)
    if real_backend.kind == "cluster":
        assert sum(1 for n in spread if n) >= 2, spread
    assert await cache_admin.flush(store.client, store.keys, None) == 3 * len(SCOPES)
    assert await on_each() == [0] * len(nodes)
