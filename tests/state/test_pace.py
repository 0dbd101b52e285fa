"""Pace downgrade and the at-limit policy, decided in admit with the engine's clock."""

from __future__ import annotations

import time

from gateway.state.store import AdmitRequest, Candidate, PaceArgs, SettleRequest

DAY = "2026-11-30"
HALF_DAY_US = 43_200_000_000


def pace(soft: int, elapsed_us: int, cheapest_at_limit: bool = False) -> PaceArgs:
    return PaceArgs(soft, int(time.time() * 1e6) - elapsed_us, 86_400_000_000, 0, 1000, 1250, 900,
                    cheapest_at_limit)


CANDS = (Candidate("big", 0, 0, 10, expected_cost_micro=8), Candidate("small", 0, 0, 10, expected_cost_micro=1))


async def spend(store, amount: int, rid: str) -> None:
    a = await store.admit(AdmitRequest(rid, "k", 0, 0, 0, 0, DAY, 1, (Candidate("x", 0, 0, amount),)))
    assert a.ok
    assert await store.settle(SettleRequest(rid, "k", "x", "p", "x", "t", "r", DAY, amount, 1, 1, 0, "success",
                                            a.breaker_gen, 1, 0, 0))


async def choose(store, rid: str, priority: int, p: PaceArgs, hard: int = 0):
    return await store.admit(AdmitRequest(rid, "k", 0, 0, 0, hard, DAY, 1, CANDS, priority=priority, pace=p))


async def test_over_pace_moves_low_then_normal_never_critical(backend3) -> None:
    store = await backend3.store()
    p = pace(1000, HALF_DAY_US)  # allowance: 500 at mid-day
    a = await choose(store, "on-pace", 0, p)
    assert (a.index, a.downgraded, a.pace_mode) == (0, "", 0)
    await store.release("on-pace")
    await spend(store, 560, "s1")  # 560 / 500: over pace (1120 permille)
    low, normal, crit = [await choose(store, f"a{i}", pr, p) for i, pr in enumerate((0, 1, 3))]
    assert (low.index, low.downgraded, low.pace_mode) == (1, "pace", 1)
    assert 1100 <= low.pace_ratio_permille <= 1120  # a few ms of the day pass during the test
    assert (normal.index, normal.downgraded) == (0, "")
    assert (crit.index, crit.downgraded) == (0, "")
    for rid in ("a0", "a1", "a2"):
        await store.release(rid)
    await spend(store, 100, "s2")  # 660 / 500 = 1320: normal downgrades too
    normal, crit = await choose(store, "b1", 1, p), await choose(store, "b2", 3, p)
    assert (normal.index, normal.downgraded, normal.pace_mode) == (1, "pace", 2)
    assert (crit.index, crit.downgraded) == (0, "")
    await store.release("b1")
    await store.release("b2")
    # hysteresis: later in the day the ratio falls under `enter` but stays over `exit`: still mode 1
    later = pace(1000, 60_000_000_000)  # allowance ~694: 660 -> 950 permille
    low = await choose(store, "c0", 0, later)
    assert (low.pace_mode, low.index, low.downgraded) == (1, 1, "pace")
    await store.release("c0")
    much_later = pace(1000, 80_000_000_000)  # allowance ~926: 660 -> 712, under exit: back on pace
    low = await choose(store, "d0", 0, much_later)
    assert (low.pace_mode, low.index, low.downgraded) == (0, 0, "")


async def test_at_the_daily_limit_refuse_or_cheapest_within_the_hard_limit(backend3) -> None:
    store = await backend3.store()
    await spend(store, 1000, "s1")
    refused = await choose(store, "r0", 0, pace(1000, HALF_DAY_US), hard=1200)
    assert (refused.ok, refused.reason) == (False, "budget_exceeded") and refused.retry_after_ms > 0
    served = await choose(store, "r1", 2, pace(1000, HALF_DAY_US, cheapest_at_limit=True), hard=1200)
    assert (served.ok, served.index, served.downgraded) == (True, 1, "budget_limit")
    # the hard limit is never overshot: 1000 spent + 10 reserved; 19 more reservations fit, not 20
    oks = [(await choose(store, f"h{i}", 3, pace(1000, HALF_DAY_US, True), hard=1200)).ok for i in range(20)]
    assert oks.count(True) == 19
