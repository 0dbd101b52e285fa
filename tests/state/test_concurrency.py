"""Many concurrent callers over several StateStore instances (own connection pools) sharing
one engine: the scripts' decisions are exact. Counts only, no timing assertions."""

from __future__ import annotations

import asyncio
import random

from state_helpers import admit_req, cand, settle_req


async def engine_now_us(store) -> int:
    t = await store.client.time()
    return int(t[0]) * 1_000_000 + int(t[1])


async def test_key_rpm_exact_under_concurrency(backend3):
    stores = await backend3.stores_n(3)
    t0 = await engine_now_us(stores[0])
    results = await asyncio.gather(*[
        stores[i % 3].admit(admit_req(f"c{i}", key="hot", key_rpm=50, cands=[cand("d", cost=1)]))
        for i in range(300)])
    t1 = await engine_now_us(stores[0])
    admitted = sum(r.ok for r in results)
    refused = [r for r in results if not r.ok]
    # 50/min = one token per 1.2 s; exactly 50 unless the burst itself spanned a refill
    refills = (t1 - t0) // 1_200_000
    assert 50 <= admitted <= 50 + refills
    if refills == 0:
        assert admitted == 50
    assert all(r.reason == "key_rate_limited" and r.retry_after_ms > 0 for r in refused)


async def test_hard_budget_never_overshot(backend3):
    stores = await backend3.stores_n(3)
    budget, max_cost = 10_000, 300
    rng = random.Random(7)

    async def one(i: int):
        s = stores[i % 3]
        a = await s.admit(admit_req(f"b{i}", key="k", global_budget=budget, cands=[cand("d", cost=max_cost)]))
        if a.ok:
            assert a.budget_remaining_micro >= 0
            await asyncio.sleep(rng.random() / 100)
            assert await s.settle(settle_req(f"b{i}", key="k", dep="d", cost=rng.randint(250, max_cost)))
            if i % 4 == 0:  # replicas fold the ledger concurrently with the settles
                await s.fold("2026-11-30", batch=3)
        return a

    results = await asyncio.gather(*[one(i) for i in range(64)])
    admitted = sum(r.ok for r in results)
    s = stores[0]
    sp = await s.day_spend("2026-11-30")
    assert admitted >= budget // max_cost
    assert sp["cost:total"] <= budget
    assert sp["reserved:total"] == 0 and sp["reserved:key:k"] == 0
    assert await s.client.hlen(s.keys.res()) == 0 and await s.client.zcard(s.keys.resdl()) == 0
    entries = await s.client.xrange(s.keys.ledger())
    assert len(entries) == admitted == sp["req:total"]
    assert sum(int(e[1][b"cost"]) for e in entries) == sp["cost:total"]
    assert all(r.reason == "budget_exceeded" for r in results if not r.ok)


async def test_half_open_admits_exactly_one_probe(backend3):
    stores = await backend3.stores_n(4)
    bp = dict(failures=1, cooldown_ms=20, probe_lease_ms=60_000)
    a = await stores[0].admit(admit_req("trip", cands=[cand("flaky", **bp)]))
    await stores[0].settle(settle_req("trip", dep="flaky", outcome="failure", gen=a.breaker_gen))
    assert (await stores[1].breaker_state("flaky"))["state"] == "open"
    await asyncio.sleep(0.05)
    results = await asyncio.gather(*[
        stores[i % 4].admit(admit_req(f"p{i}", cands=[cand("flaky", **bp)])) for i in range(64)])
    probes = [r for r in results if r.ok]
    assert len(probes) == 1 and probes[0].probe
    assert all(r.reason == "breaker_open" and r.retry_after_ms > 0 for r in results if not r.ok)


async def test_concurrent_duplicates_take_once(backend):
    stores = await backend.stores_n(3)
    req = admit_req("same", key_rpm=10, global_budget=1_000, cands=[cand("d", cost=100)])
    results = await asyncio.gather(*[stores[i % 3].admit(req) for i in range(30)])
    assert all(r.ok for r in results) and sum(not r.duplicate for r in results) == 1
    settled = await asyncio.gather(*[stores[i % 3].settle(settle_req("same", dep="d", cost=90)) for i in range(30)])
    assert sum(settled) == 1
    s = stores[0]
    sp = await s.day_spend("2026-11-30")
    assert sp["cost:total"] == 90 and sp["reserved:total"] == 0 and sp["req:total"] == 1
