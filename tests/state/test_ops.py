"""gateway/state/ops.py, the operator features' typed door to Redis: what the scripts write reads
back typed, and what the ops features write reads back the same, on fakeredis, the real engine
and the 3-master cluster."""

from __future__ import annotations

import time

import pytest

from gateway.state.ops import LatencyStats, PaceEvent, SeriesPoint, SpendTotals, open_ops
from tests.state.state_helpers import DAY, admit_req, settle_req


async def test_what_admit_and_settle_wrote_reads_back_typed(backend3):
    store = await backend3.store()
    ops = store.ops
    settled = admit_req(est=0)
    assert (await store.admit(settled)).ok
    assert await store.settle(settle_req(settled.req_id, cost=70, latency_us=40_000))
    assert (await store.admit(admit_req())).ok  # one still in flight: its reservation (the candidate's max cost)
    totals = await ops.spend_totals(DAY)
    assert isinstance(totals, SpendTotals) and totals.spent_micro == 70 and totals.reserved_micro == 100
    assert await ops.spend_totals("2001-01-01") == SpendTotals(0, 0)
    assert await ops.latency(["d1", "nowhere"]) == {"d1": LatencyStats(1, 40, 40.0),
                                                      "nowhere": LatencyStats(0, 0, None)}
    [entry] = await ops.recent_ledger(10)
    assert entry["req_id"] == settled.req_id and entry["status"] == "settled" and entry["cost"] == "70"
    await store.fold(DAY)
    [day] = await ops.spend_counters([DAY])
    assert day["cost:total"] == 70 and day["req:total"] == 1 and day["cost:key:demo"] == 70
    assert await ops.spend_counters(["2001-01-01", DAY]) == [{}, day]
    assert abs(await ops.engine_time() - time.time()) < 3600  # the engine's clock, in seconds


async def test_the_ledger_reads_whole_in_pages(backend):
    store = await backend.store()
    ids = []
    for _ in range(7):
        req = admit_req()
        ids.append(req.req_id)
        assert (await store.admit(req)).ok
        assert await store.settle(settle_req(req.req_id))
    entries = await store.ops.ledger(page=3)
    assert [e.fields["req_id"] for e in entries] == ids
    assert [e.id for e in entries] == sorted((e.id for e in entries), key=lambda i: tuple(map(int, i.split("-"))))
    assert [e["req_id"] for e in await store.ops.recent_ledger(2)] == ids[:-3:-1]  # newest first


async def test_pace_state_and_its_events(backend):
    store = await backend.store()
    k = store.keys
    assert (await store.ops.pace(DAY)).mode == 0 and (await store.ops.pace(DAY)).events == ()
    await store.client.hset(k.pace(DAY), mapping={"mode": 2, "ratio_permille": 1300, "changes": 2,
                                                  "changed_us": 5})
    await store.client.rpush(k.pace_events(DAY), "1000000:1:1000", "2000000:2:1300")
    pace = await store.ops.pace(DAY)
    assert (pace.mode, pace.ratio_permille) == (2, 1300)
    assert pace.events == (PaceEvent(1_000_000, 1, 1000), PaceEvent(2_000_000, 2, 1300))


async def test_dashboard_series_and_refusals_round_trip(backend3):
    store = await backend3.store()
    ops = store.ops
    await ops.record_sample(DAY, "7", SeriesPoint(70.5, 10, 3), {"budget_exceeded": 2}, 600)
    await ops.record_sample(DAY, "6", SeriesPoint(60.25, 5, 0), {}, 600)
    await ops.record_sample(DAY, "7", SeriesPoint(71.0, 12, 0), {"budget_exceeded": 1, "key_rate_limited": 4}, 600)
    assert await ops.spend_series(DAY) == [SeriesPoint(60.25, 5, 0), SeriesPoint(71.0, 12, 0)]  # last writer wins
    assert await ops.refusal_counts([DAY, "2001-01-01"]) == [{"budget_exceeded": 3, "key_rate_limited": 4}, {}]
    assert 0 < await store.client.ttl(store.keys.dash_series(DAY)) <= 600
    assert 0 < await store.client.ttl(store.keys.dash_refusals(DAY)) <= 600


async def test_sessions(backend):
    ops = (await backend.store()).ops
    assert await ops.session("ab" * 32) == ""
    await ops.put_session("ab" * 32, "binding|1|10.0.0.1", 60_000)
    assert await ops.session("ab" * 32) == "binding|1|10.0.0.1"
    assert await ops.drop_session("ab" * 32) is True
    assert await ops.drop_session("ab" * 32) is False and await ops.session("ab" * 32) == ""


async def test_replicas_seen_lately_and_stale_ones_dropped(backend):
    store = await backend.store()
    ops = store.ops
    await ops.register_replica("a:1", {"config_hash": "h1", "seen": time.time()})
    await ops.register_replica("b:2", {"config_hash": "h2", "seen": time.time() - 100})
    live = await ops.live_replicas(30)
    assert list(live) == ["a:1"] and live["a:1"]["config_hash"] == "h1"
    assert await store.client.hkeys(store.keys.replicas()) in ([b"a:1"], ["a:1"])
    await ops.register_replica("c:3", {"config_hash": "h1", "seen": time.time()})
    assert sorted(await ops.replica_names()) == ["a:1", "c:3"]
    await ops.drop_replicas(["c:3", "gone:9"])
    await ops.drop_replicas([])
    assert await ops.replica_names() == ["a:1"]


async def test_token_history_and_alerts(backend):
    ops = (await backend.store()).ops
    assert await ops.tokstats() == {}
    t0 = 1_767_225_600.0
    assert await ops.append_tokhist(t0, {"n:m:t": 1}, 100)
    assert await ops.append_tokhist(t0 + 60, {"n:m:t": 5}, 100)
    assert await ops.append_tokhist(t0 - 60, {"n:m:t": 9}, 100) is False  # the clock went back: not kept
    assert await ops.tokhist_near(t0 + 30, t0 + 90) == [{"ts": t0, "sums": {"n:m:t": 1}}]
    assert await ops.tokhist_near(t0 - 30, t0 + 90) == [{"ts": t0, "sums": {"n:m:t": 1}}]  # the first after
    assert await ops.tokhist_near(t0 - 90, t0 - 30) == []
    assert await ops.replace_alerts({"m:t:output_tokens": {"model": "m", "change": 0.5}}, 60) == set()
    assert await ops.replace_alerts({"m:t:input_tokens": {"model": "m", "change": -0.3}}, 60) == {"m:t:output_tokens"}
    assert await ops.alerts() == [{"model": "m", "change": -0.3}]
    assert await ops.replace_alerts({}, 60) == {"m:t:input_tokens"} and await ops.alerts() == []


def test_open_ops_for_an_operator_command(redis_url):
    import asyncio

    async def scenario() -> dict:
        async with open_ops(redis_url, prefix="opscmd") as ops:
            await ops.register_replica("x:1", {"config_hash": "h", "seen": time.time()})
            return await ops.live_replicas(60)

    assert list(asyncio.run(scenario())) == ["x:1"]


@pytest.mark.parametrize("name", ["client", "execute_command", "hgetall", "pipeline", "xrange"])
def test_ops_features_never_hold_the_raw_client(name):
    """ops/, offline/ and cli.py read and write Redis only through this API."""
    import subprocess

    from tests.state.test_keys import ROOT

    pattern = {"client": r"state\.client|\.client\.", "execute_command": "execute_command"}.get(name, rf"\.{name}\(")
    found = subprocess.run(["git", "grep", "-n", "-E", pattern, "--", "gateway/ops", "gateway/offline", "gateway/cli.py"],
                           cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    assert [line for line in found if "request.client" not in line] == []
