"""Token-inflation watch: the pure detector on synthetic snapshots, and the Redis tick on a real
engine fed through the tokstats hash (explicit clock, no sleeping)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from gateway.ops.inflation import Alert, InflationWatch, detect, gauge_values, read_alerts
from gateway.state.keys import Keys
from gateway.state.ops import OpsState

M, T = "gpt-5.5", "code_generation"
HOUR = 3600.0


def series(per_hour: list[tuple[int, int, int]], pair: str = f"{M}:{T}", t0: float = 0.0) -> list[dict]:
    """Cumulative snapshots at t0, t0 + 1 h, ...: each hour adds (requests, in tokens, out tokens)."""
    n = i = o = 0
    snaps = [{"ts": t0, "sums": {f"n:{pair}": 0, f"in:{pair}": 0, f"out:{pair}": 0}}]
    for h, (dn, din, dout) in enumerate(per_hour, 1):
        n, i, o = n + dn, i + din, o + dout
        snaps.append({"ts": t0 + h * HOUR, "sums": {f"n:{pair}": n, f"in:{pair}": i, f"out:{pair}": o}})
    return snaps


def run(snaps: list[dict], **kw) -> list[Alert]:
    now = snaps[-1]["ts"]
    return detect(snaps, now, recent_s=HOUR, baseline_s=3 * HOUR, **kw)


def test_fires_when_answers_get_40_percent_longer() -> None:
    # 3 baseline hours at 100 requests x 500 out tokens, then an hour at 700 out tokens
    snaps = series([(100, 100 * 800, 100 * 500)] * 3 + [(100, 100 * 800, 100 * 700)])
    [alert] = run(snaps)
    assert (alert.model, alert.task, alert.metric) == (M, T, "output_tokens")
    assert alert.baseline_avg == 500 and alert.recent_avg == 700
    assert alert.change == pytest.approx(0.40)
    assert alert.since_ts == 3 * HOUR


def test_quiet_at_5_percent() -> None:
    snaps = series([(100, 100 * 800, 100 * 500)] * 3 + [(100, 100 * 800, 100 * 525)])
    assert run(snaps) == []


def test_threshold_is_configurable_and_strict() -> None:
    snaps = series([(100, 0, 100 * 500)] * 3 + [(100, 0, 100 * 600)])  # exactly +20%
    assert run(snaps) == []
    assert [a.change for a in run(snaps, threshold=0.1)] == [pytest.approx(0.2)]


def test_respects_min_requests_in_both_windows() -> None:
    longer = [(100, 0, 100 * 500)] * 3 + [(19, 0, 19 * 900)]
    assert run(series(longer)) == []  # 19 recent requests < 20
    assert len(run(series(longer), min_requests=10)) == 1
    thin_base = [(5, 0, 5 * 500)] * 3 + [(100, 0, 100 * 900)]  # 15 baseline requests
    assert run(series(thin_base)) == []


def test_input_and_output_are_separate() -> None:
    # prompts 50% longer, answers unchanged: only input_tokens fires
    snaps = series([(100, 100 * 1000, 100 * 300)] * 3 + [(100, 100 * 1500, 100 * 300)])
    [alert] = run(snaps)
    assert alert.metric == "input_tokens" and alert.change == pytest.approx(0.5)
    # both, and shorter answers are reported too (negative change)
    snaps = series([(100, 100 * 1000, 100 * 300)] * 3 + [(100, 100 * 1500, 100 * 150)])
    got = {a.metric: round(a.change, 3) for a in run(snaps)}
    assert got == {"input_tokens": 0.5, "output_tokens": -0.5}


def test_windows_use_only_their_own_span() -> None:
    # an old spike (7 h ago) lies outside the 3 h baseline: no alert
    snaps = series([(100, 0, 100 * 2000)] * 3 + [(100, 0, 100 * 500)] * 4)
    assert run(snaps) == []
    # snapshots between the boundaries and unsorted input are fine
    snaps = series([(50, 0, 50 * 500)] * 6 + [(50, 0, 50 * 700)] * 2)
    mixed = snaps[::-1]
    [alert] = detect(mixed, 8 * HOUR, recent_s=2 * HOUR, baseline_s=4 * HOUR)
    assert alert.baseline_avg == 500 and alert.recent_avg == 700


def test_not_enough_history_is_quiet() -> None:
    assert detect([], 100.0, recent_s=10, baseline_s=10) == []
    one = series([(100, 0, 100 * 500)])
    assert run(one) == []


def test_other_pairs_are_independent() -> None:
    a = series([(100, 0, 100 * 500)] * 3 + [(100, 0, 100 * 700)])
    b = series([(100, 0, 100 * 300)] * 4, pair="deepseek-v4-pro:simple_chat")
    merged = [{"ts": x["ts"], "sums": {**x["sums"], **y["sums"]}} for x, y in zip(a, b)]
    assert [(x.model, x.task) for x in run(merged)] == [(M, T)]
    assert gauge_values(run(merged)) == {(M, T, "output_tokens"): pytest.approx(0.4)}


class Capture:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict]] = []

    def warning(self, event: str, **kw) -> None:
        self.events.append(("warning", event, kw))

    def info(self, event: str, **kw) -> None:
        self.events.append(("info", event, kw))


def test_watch_on_a_real_engine(redis_url: str) -> None:
    keys = Keys(f"infl{uuid.uuid4().hex[:8]}")
    log = Capture()
    watch = InflationWatch(recent_s=HOUR, baseline_s=3 * HOUR, threshold=0.2, min_requests=20, alert_ttl_s=600,
                           logger=log)
    t0 = 1_767_225_600.0
    pair = f"{M}:{T}"

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_url)
        ops = OpsState(client, keys)
        try:
            async def traffic(n: int, tin: int, tout: int) -> None:  # what settle does per request, in bulk
                await client.hincrby(keys.tokstats(), f"n:{pair}", n)
                await client.hincrby(keys.tokstats(), f"in:{pair}", n * tin)
                await client.hincrby(keys.tokstats(), f"out:{pair}", n * tout)

            now = t0
            assert await watch.tick(ops, now) == []
            for _ in range(3):  # baseline: 500 tokens per answer
                await traffic(100, 800, 500)
                now += HOUR
                assert await watch.tick(ops, now) == []
            await traffic(100, 800, 530)  # +6%: quiet
            now += HOUR
            assert await watch.tick(ops, now) == []
            assert await read_alerts(ops) == []
            await traffic(100, 800, 700)  # the model now answers 40% longer
            now += HOUR
            [alert] = await watch.tick(ops, now)
            assert alert.change == pytest.approx(700 / ((500 + 500 + 530) / 3) - 1)  # baseline: the 3 h before
            stored = await read_alerts(ops)
            assert [(a["model"], a["task"], a["metric"]) for a in stored] == [(M, T, "output_tokens")]
            assert stored[0]["recent_avg"] == 700
            raw = await client.hgetall(keys.alerts())
            assert list(raw) == [f"{pair}:output_tokens".encode()]
            assert 0 < await client.ttl(keys.alerts()) <= 600
            # a second tick in the same state keeps the alert but does not warn again
            now += 60
            await watch.tick(ops, now)
            warnings = [e for e in log.events if e[0] == "warning"]
            assert len(warnings) == 1 and warnings[0][1] == "token_inflation"
            assert warnings[0][2]["model"] == M and warnings[0][2]["metric"] == "output_tokens"
            # back to normal: the recent hour is at 500 again (baseline 500/530/700 averages 577,
            # -13%, inside the threshold): the alert clears and stays cleared
            for _ in range(4):
                await traffic(100, 800, 500)
                now += HOUR
                await watch.tick(ops, now)
            assert await read_alerts(ops) == []
            assert await client.exists(keys.alerts()) == 0
            assert any(e[1] == "token_inflation_cleared" for e in log.events)
            # the history stream holds one copy per tick
            assert await client.xlen(keys.tokhist()) == 1 + 3 + 1 + 1 + 1 + 4
            first = (await client.xrange(keys.tokhist(), count=1))[0]
            assert first[0].startswith(str(int(t0 * 1000)).encode())
            assert orjson.loads(first[1][b"sums"]) == {}
            # a tick from a clock that went back still runs (its copy is not appended)
            assert await watch.tick(ops, now - 7200) == []
            assert await client.xlen(keys.tokhist()) == 11
        finally:
            await client.aclose()

    asyncio.run(scenario())
