"""Property tests: random sequences of admit / duplicate admit / settle / release / health
report run on the engine and on the Python reference model (gateway/state/reference.py), which
is driven by the engine clock each script returns. Every answer and the final state must match.

Breaker cooldowns and reservation/probe leases are 1 ms or 10 minutes, so both "time passed"
and "time did not pass" paths occur on a real engine whose clock cannot be faked.
"""

from __future__ import annotations

import time
import uuid

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.state.keys import prev_day
from gateway.state.reference import Breaker, StateModel
from gateway.state.store import AdmitRequest, BreakerParams, Candidate, Failure, PaceArgs, SettleRequest
from tests.state.state_helpers import PROPERTY_SETTINGS, store_on_own_loop

D0, D1 = "2026-11-30", "2026-12-01"
DEPS = ("d1", "d2", "d3")
KEYS = ("k1", "k2")

dep_params = st.fixed_dictionaries(dict(
    rpm=st.sampled_from([0, 1, 2, 5]), tpm=st.sampled_from([0, 300, 1000]),
    n=st.integers(1, 3), cooldown_ms=st.sampled_from([1, 600_000]),
    max_cooldown_ms=st.sampled_from([2, 600_000]), lease_ms=st.sampled_from([1, 600_000]),
    min_src=st.sampled_from([1, 1, 2])))
key_params = st.fixed_dictionaries(dict(
    rpm=st.sampled_from([0, 0, 8]), tpm=st.sampled_from([0, 500]), budget=st.sampled_from([0, 400, 1500])))


def run(kind: str, url, data) -> None:
    world = dict(
        deps={d: data.draw(dep_params, label=d) for d in DEPS},
        keys={k: data.draw(key_params, label=k) for k in KEYS},
        gbudget=data.draw(st.sampled_from([0, 600, 2000]), label="global budget"),
        pace=data.draw(st.one_of(st.none(), st.fixed_dictionaries(dict(
            soft=st.sampled_from([300, 900, 1800]), elapsed=st.integers(0, 86_400_000_000),
            burst=st.sampled_from([0, 50]), enter=st.just(1000), normal_enter=st.sampled_from([1000, 1250]),
            exit=st.just(900), at_limit_cheapest=st.booleans()))), label="pace"),
    )
    n_ops = data.draw(st.integers(1, 40), label="ops")
    with store_on_own_loop(kind, url, "p" + uuid.uuid4().hex[:8]) as (store, loop):
        Runner(store, StateModel(), world, loop).go(data, n_ops)


class Runner:
    def __init__(self, store, model, world, loop):
        self.store, self.model, self.w, self.loop = store, model, world, loop
        self.admits: list[tuple[AdmitRequest, object]] = []
        self.now = 0
        self.n = 0
        # the budget day started `elapsed` ago on the engine's clock (same machine as time.time())
        self.day_start = int(time.time() * 1e6) - (world["pace"]["elapsed"] if world["pace"] else 0)

    def call(self, coro):
        return self.loop.run_until_complete(coro)

    def go(self, data, n_ops):
        for _ in range(n_ops):
            op = data.draw(st.sampled_from(["admit", "admit", "admit", "dup", "settle", "settle", "release", "report",
                                            "fold"]))
            if op != "admit" and not self.admits:
                op = "admit"
            getattr(self, op)(data)
        self.compare_state()  # before the last fold: what settle counts at once
        self.fold(data)
        self.compare_state()

    # ------------------------------------------------------------------ operations
    def admit(self, data):
        self.n += 1
        key = data.draw(st.sampled_from(KEYS))
        kp = self.w["keys"][key]
        deps = data.draw(st.lists(st.sampled_from(DEPS), min_size=1, max_size=3, unique=True))
        cands = []
        for d in deps:
            p = self.w["deps"][d]
            cands.append(Candidate(d, p["rpm"], p["tpm"], data.draw(st.integers(0, 400)),
                                   BreakerParams(p["n"], 600_000, p["cooldown_ms"], p["max_cooldown_ms"], p["lease_ms"],
                                                 p["min_src"]),
                                   data.draw(st.integers(-1, 400))))
        failed = []
        for _ in range(data.draw(st.integers(0, 2))):
            prev, adm = data.draw(st.sampled_from(self.admits)) if self.admits else (None, None)
            # drawn whatever the earlier admit's answer: whether it was let in can depend on the
            # engine's clock (a 1 ms cooldown), and a replayed example must draw the same data
            kind = data.draw(st.sampled_from(["failure", "timeout", "neutral"]))
            if prev is not None and adm.ok:
                failed.append(Failure(prev.candidates[adm.index].deployment, adm.breaker_gen, kind))
        pace = None
        if self.w["pace"]:
            p = self.w["pace"]
            pace = PaceArgs(p["soft"], self.day_start, 86_400_000_000, p["burst"], p["enter"], p["normal_enter"],
                            p["exit"], p["at_limit_cheapest"])
        req = AdmitRequest(f"r{self.n}", key, kp["rpm"], kp["tpm"], kp["budget"], self.w["gbudget"],
                           data.draw(st.sampled_from([D0, D1])), data.draw(st.integers(0, 1100)),
                           tuple(cands), tuple(failed), data.draw(st.sampled_from([1, 600_000])),
                           priority=data.draw(st.integers(0, 3)), pace=pace)
        self.do_admit(req)

    def do_admit(self, req):
        got = self.call(self.store.admit(req))
        self.now = max(self.now, got.now_us)
        want = self.model.admit(dict(
            req_id=req.req_id, key=req.key, key_rpm=req.key_rpm, key_tpm=req.key_tpm,
            key_budget=req.key_budget_micro, global_budget=req.global_budget_micro, day=req.day,
            prev=prev_day(req.day), est=req.est_tokens, ttl_ms=req.reservation_ttl_ms,
            priority=req.priority,
            pace=req.pace and dict(soft=req.pace.soft_budget_micro, day_start=req.pace.day_start_us,
                                   day_len=req.pace.day_len_us, burst=req.pace.burst_micro,
                                   enter=req.pace.enter_permille, normal_enter=req.pace.normal_enter_permille,
                                   exit=req.pace.exit_permille, at_limit_cheapest=req.pace.at_limit_cheapest),
            candidates=[dict(dep=c.deployment, rpm=c.rpm, tpm=c.tpm, cost=c.max_cost_micro,
                             expected=c.max_cost_micro if c.expected_cost_micro < 0 else c.expected_cost_micro,
                             n=c.breaker.failures, window_ms=c.breaker.window_ms,
                             cooldown_ms=c.breaker.cooldown_ms, max_cooldown_ms=c.breaker.max_cooldown_ms,
                             lease_ms=c.breaker.probe_lease_ms, min_src=c.breaker.min_sources)
                        for c in req.candidates],
            failed=[(f.deployment, f.breaker_gen, f.kind) for f in req.failed]), got.now_us)
        assert (int(got.ok), got.index, got.reason, got.retry_after_ms, got.breaker_gen, int(got.probe),
                got.spent_micro, got.reserved_micro, got.budget_remaining_micro, int(got.duplicate),
                got.skipped, got.downgraded, got.pace_mode, got.pace_ratio_permille) == (
                want.ok, want.index, want.reason, want.retry_after_ms, want.gen, want.probe,
                want.spent, want.reserved, want.remaining, want.dup, want.skipped, want.downgraded,
                want.pace_mode, want.pace_ratio), req
        event(f"admit: {'dup' if got.duplicate else 'ok' if got.ok else got.reason}{' probe' if got.probe else ''}")
        if not got.duplicate:
            self.admits.append((req, got))

    def dup(self, data):
        req, _ = data.draw(st.sampled_from(self.admits))
        self.do_admit(req)

    def settle(self, data):
        req, adm = data.draw(st.sampled_from(self.admits))
        dep = req.candidates[adm.index].deployment if adm.ok else req.candidates[0].deployment
        p = self.w["deps"][dep]
        day = req.day if data.draw(st.booleans()) else data.draw(st.sampled_from([D0, D1]))
        # now and then a journaled settle of a request admitted while Redis was away (unknown id)
        local = data.draw(st.integers(0, 5)) == 0
        self.n += 1
        sr = SettleRequest(
            f"local{self.n}" if local else req.req_id, req.key, dep, "prov", data.draw(st.sampled_from(["m1", "m2"])), "chat", "auto", day,
            data.draw(st.integers(0, 450)), data.draw(st.integers(0, 400)), data.draw(st.integers(0, 400)),
            data.draw(st.integers(0, 50)),
            data.draw(st.sampled_from(["success", "failure", "failure", "neutral", "throttled", "disabled"])),
            adm.breaker_gen if data.draw(st.integers(0, 4)) else data.draw(st.integers(0, 4)),
            data.draw(st.integers(0, 5000)), p["tpm"], self.w["keys"][req.key]["tpm"],
            force=local or data.draw(st.booleans()), arm=data.draw(st.sampled_from(["", "exp:treatment"])),
            hold_ms=data.draw(st.sampled_from([0, 1, 600_000])),
            web_searches=data.draw(st.sampled_from([0, 0, 1, 3])),
            cache_write_tokens=data.draw(st.sampled_from([0, 0, 40])),
            cache_write_1h_tokens=data.draw(st.sampled_from([0, 0, 15])))
        got = self.call(self.store.settle_result(sr))
        self.now = max(self.now, got.now_us)
        want = self.model.settle(dict(
            req_id=sr.req_id, key=sr.key, dep=sr.deployment, provider=sr.provider, model=sr.model,
            task=sr.task, route=sr.route, day=sr.day, prev=prev_day(sr.day), cost=sr.cost_micro,
            tin=sr.tokens_in, tout=sr.tokens_out, cached=sr.cached_tokens, outcome=sr.outcome,
            gen=sr.breaker_gen, latency_us=sr.latency_us, tpm=sr.tpm, key_tpm=sr.key_tpm, force=sr.force,
            arm=sr.arm, hold_ms=sr.hold_ms, searches=sr.web_searches, written=sr.cache_write_tokens,
            written_1h=sr.cache_write_1h_tokens), got.now_us)
        assert (int(got.settled), got.status, got.spent_micro, got.reserved_micro) == want, sr
        event(f"settle: {got.status} {sr.outcome} -> {got.breaker_state}")
        b = self.model.breakers.get(dep, Breaker())
        assert (got.breaker_state, got.breaker_gen) == (b.state, b.gen)

    def fold(self, data):
        """Drain the ledger into the counters, in batches of 1, 2 or 128 entries, starting from
        the request's day or from an unrelated one (every entry then asks for its own day)."""
        batch = data.draw(st.sampled_from([1, 2, 128]))
        self.call(self.store.fold(data.draw(st.sampled_from([D0, D1, "2026-01-05"])), batch))
        self.model.fold()

    def release(self, data):
        req, adm = data.draw(st.sampled_from(self.admits))
        got, now = self.call(self.store.release_result(req.req_id))
        self.now = max(self.now, now)
        want = self.model.release(req.req_id, req.day, prev_day(req.day), now)
        assert int(got) == want

    def report(self, data):
        dep = data.draw(st.sampled_from(DEPS))
        outcome = data.draw(st.sampled_from(["success", "failure", "neutral"]))
        r = self.call(self.store.scripts.call("breaker_report", [self.store.keys.breaker(dep)], [outcome, "-1"]))
        now = int(r[2])
        self.now = max(self.now, now)
        state = r[0].decode() if isinstance(r[0], bytes) else r[0]
        assert (state, int(r[1])) == self.model.breaker_report(dep, outcome, -1, now)

    # ------------------------------------------------------------------ final state
    def compare_state(self):
        c, k = self.store.client, self.store.keys

        def dec(h):
            return {(a.decode() if isinstance(a, bytes) else a): (b.decode() if isinstance(b, bytes) else b)
                    for a, b in h.items()}

        for day in (D0, D1, prev_day(D0)):
            got = {f: int(v) for f, v in dec(self.call(c.hgetall(k.spend(day)))).items()}
            assert got == self.model.spend.get(day, {}), day
        assert set(dec(self.call(c.hgetall(k.res())))) == set(self.model.res)
        for day in (D0, D1):
            assert int(self.call(c.hget(k.pace(day), "mode")) or 0) == self.model.pace.get(day, 0), day
        for dep in DEPS:
            h = dec(self.call(c.hgetall(k.breaker(dep))))
            b = self.model.breakers.get(dep, Breaker())
            if not h:
                assert (b.state, b.gen, b.consec) == ("closed", 0, 0)
                continue
            assert (h["state"], int(h["gen"]), int(h["consec"]), h["probe_id"], int(h["probe_dl_us"]),
                    int(h["opened_us"]), int(h["cooldown_ms"]), [int(x) for x in h["fails"].split()],
                    h.get("fsrc", "").split(), int(h.get("throttle_us", 0))) == (
                    b.state, b.gen, b.consec, b.probe_id, b.probe_dl_us, b.opened_us, b.cooldown_ms, b.fails,
                    b.fsrc, b.throttle_us)
            lat = dec(self.call(c.hgetall(k.latency(dep))))
            assert {f: int(v) for f, v in lat.items()} == self.model.latency.get(dep, {})
        ledger = self.call(c.xrange(k.ledger()))
        extra = ("searches", "written", "written_1h")  # on a settle's entry only when not 0
        assert [(dec(e[1])["req_id"], dec(e[1])["status"], int(dec(e[1])["cost"]),
                 {f: int(v) for f, v in dec(e[1]).items() if f in extra}) for e in ledger] == [
            (e["req_id"], e["status"], e["cost"], {f: e[f] for f in extra if f in e}) for e in self.model.ledger]
        assert {f: int(v) for f, v in dec(self.call(c.hgetall(k.tokstats()))).items()} == self.model.tokstats
        assert {f: int(v) for f, v in dec(self.call(c.hgetall(k.last_use()))).items()} == self.model.last_use
        # buckets the model says are still in the future must hold the same TAT (or have expired
        # only because the engine's clock has since passed it)
        for name, tat in self.model.buckets.tat.items():
            if tat > self.now + 50_000:
                kind, who, what = name.split(":")
                key = k.key_rpm(who) if (kind, what) == ("key", "rpm") else k.key_tpm(who) if kind == "key" \
                    else k.dep_rpm(who) if what == "rpm" else k.dep_tpm(who)
                got = self.call(c.get(key))
                if got is None:  # expired: right only once the engine's clock is past its TAT (a loaded
                    # machine may pause longer than the margin between the last script and this check)
                    secs, micros = self.call(c.time())
                    assert tat <= secs * 1_000_000 + micros + 1_000, name
                    continue
                assert int(got) == tat, name


@settings(max_examples=60, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_scripts_match_model_fakeredis(data):
    run("fake", None, data)


@settings(max_examples=40, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_scripts_match_model_single_engine(redis_url, data):
    run("single", redis_url, data)


@settings(max_examples=12, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_scripts_match_model_cluster(cluster, data):
    run("cluster", cluster.urls, data)
