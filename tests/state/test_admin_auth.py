"""lua/admin_auth.lua, the shared limit on failed admin authentication: on the engine against
its reference model (gateway/state/reference.py AdminAuthModel), and across replicas."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.state.reference import AdminAuthModel
from gateway.state.store import StateStore

CLIENTS = ("10.0.0.1", "10.0.0.2", "::1")


async def test_a_client_is_refused_at_its_limit_even_with_the_right_key(backend3):
    store = await backend3.store()
    for i in range(3):
        allowed, wait, mine, total, _ = await store.admin_auth("10.0.0.9", "fail", 3, 100, 60_000)
        assert (allowed, wait, mine, total) == (1, 0, i + 1, i + 1)  # counted, this one included
    allowed, wait, mine, _, _ = await store.admin_auth("10.0.0.9", "ok", 3, 100, 60_000)
    assert allowed == 0 and 59_000 < wait <= 60_000 and mine == 3
    # another client is not affected by this one's failures
    assert (await store.admin_auth("10.0.0.8", "ok", 3, 100, 60_000))[0] == 1


async def test_the_global_limit_counts_every_client_on_every_replica(real_backend):
    replicas = await real_backend.stores_n(3)
    for i in range(6):  # six clients, one failure each, spread over three replicas
        assert (await replicas[i % 3].admin_auth(f"10.1.0.{i}", "fail", 3, 6, 60_000))[0] == 1
    for store in replicas:  # now nobody gets in, from any replica, until the window ends
        allowed, wait, _, total, _ = await store.admin_auth("10.1.9.9", "ok", 3, 6, 60_000)
        assert allowed == 0 and wait > 0 and total == 6


async def test_the_window_ends(backend):
    store = await backend.store()
    for _ in range(2):
        await store.admin_auth("10.2.0.1", "fail", 2, 100, 50)
    assert (await store.admin_auth("10.2.0.1", "ok", 2, 100, 50))[0] == 0
    await asyncio.sleep(0.08)
    allowed, _, mine, _, _ = await store.admin_auth("10.2.0.1", "ok", 2, 100, 50)
    assert allowed == 1 and mine == 0


async def test_concurrent_failures_are_all_counted(real_backend):
    stores = await real_backend.stores_n(4)
    await asyncio.gather(*(stores[i % 4].admin_auth("10.3.0.1", "fail", 1000, 1000, 60_000) for i in range(200)))
    assert (await stores[0].admin_auth("10.3.0.1", "ok", 1000, 1000, 60_000))[2] == 200


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.tuples(st.sampled_from(CLIENTS), st.sampled_from(["ok", "fail", "fail"]),
                              st.sampled_from([0, 0, 0, 30])), min_size=1, max_size=30),
       limits=st.tuples(st.integers(1, 4), st.integers(1, 6)), window_ms=st.sampled_from([20, 600_000]))
def test_engine_matches_the_model(redis_url, ops, limits, window_ms):
    """Random attempts (with pauses of 30 ms against 20 ms or 10 min windows) give the same
    answers on the engine and on the model, which is driven by the engine's clock."""

    async def go() -> None:
        store = await StateStore.connect(redis_url, prefix="aa" + uuid.uuid4().hex[:8], timeout_s=2.0)
        model = AdminAuthModel()
        k = store.keys
        try:
            for client, outcome, pause in ops:
                if pause:
                    await asyncio.sleep(pause / 1000)
                *answer, now = await store.admin_auth(client, outcome, *limits, window_ms)
                expected = model.attempt(k.auth_failures(client), k.auth_failures_all(), outcome, *limits,
                                         window_ms, now)
                assert tuple(answer) == expected, (client, outcome)
        finally:
            await store.close()

    asyncio.run(go())


def test_bad_arguments_are_refused_before_any_write(redis_url):
    async def go() -> None:
        store = await StateStore.connect(redis_url, prefix="ab" + uuid.uuid4().hex[:8], timeout_s=2.0)
        try:
            with pytest.raises(Exception, match="outcome"):
                await store.scripts.call("admin_auth", ["a", "b"], ["maybe", "1", "1", "1"])
            with pytest.raises(Exception, match="client_limit"):
                await store.scripts.call("admin_auth", ["a", "b"], ["fail", "0", "1", "1"])
            assert await store.client.exists("a", "b") == 0
        finally:
            await store.close()

    asyncio.run(go())
