"""Property tests of the runtime keys and teams: random sequences of key and team changes
(lua/key_write.lua, lua/team_write.lua), admits of runtime keys (with up-to-date, stale and
rotated-away secrets), settles, releases and orphans run on the engine and on the reference
model (gateway/state/reference.py + reference_keys.py). Every answer, every record, the hash
index, the audit stream and the day and month spend hashes must match.
"""

from __future__ import annotations

import uuid

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.state.keys import prev_day
from gateway.state.records import Records
from gateway.state.reference import StateModel
from gateway.state.reference_keys import audit_entry, public
from gateway.state.store import AdmitRequest, BreakerParams, Candidate, SettleRequest, StateStore
from tests.state.state_helpers import PROPERTY_SETTINGS, store_on_own_loop

DAYS = ("2026-11-30", "2026-12-01")  # across a month's end: two month hashes
IDS = ("ka", "kb", "kc")
TEAMS = ("t1", "t2")
limits = st.sampled_from(["0", "0", "3", "700"])
budget = st.sampled_from(["0", "150", "300", "900"])


def run(kind: str, url, data) -> None:
    with store_on_own_loop(kind, url, "k" + uuid.uuid4().hex[:8]) as (store, loop):
        Runner(store, loop).go(data, data.draw(st.integers(1, 40), label="ops"))


class Runner:
    def __init__(self, store: StateStore, loop) -> None:
        self.store, self.loop, self.model = store, loop, StateModel()
        self.records = Records(store)
        self.admits: list[AdmitRequest] = []
        self.n = 0

    def call(self, coro):
        return self.loop.run_until_complete(coro)

    def go(self, data, n_ops):
        # most runs start with a team and two keys in it, so shared limits and budgets bind
        if data.draw(st.integers(0, 4)):
            self.team(data, "create", "t1")
            for key_id in ("ka", "kb"):
                self.key(data, "create", key_id, "t1")
        for _ in range(n_ops):
            op = data.draw(st.sampled_from(["team", "key", "key", "admit", "admit", "admit", "admit", "settle",
                                            "settle", "release"]))
            if op in ("settle", "release") and not self.admits:
                op = "admit"
            getattr(self, op)(data)
        self.compare()

    # ------------------------------------------------------------------ admin changes
    def team(self, data, op=None, team=None):
        op = op or data.draw(st.sampled_from(["create", "create", "update", "delete"]))
        team = team or data.draw(st.sampled_from(TEAMS))
        fields = {} if op == "delete" else data.draw(st.fixed_dictionaries(
            {}, optional=dict(rpm=limits, tpm=limits, daily_micro=budget, monthly_micro=budget)))
        got = self.call(self.records.team_write(op, team, "tester", fields))
        assert (got.status, got.version) == self.model.team_write(op, team, "tester", fields, got.now_us)
        event(f"team {op}: {got.status}")

    def key(self, data, op=None, key_id=None, team=None):
        op = op or data.draw(st.sampled_from(["create", "create", "update", "rotate", "revoke"]))
        key_id = key_id or data.draw(st.sampled_from(IDS))
        fields = {}
        if op in ("create", "update"):
            fields = data.draw(st.fixed_dictionaries({}, optional=dict(
                team=st.sampled_from(["", *TEAMS]), rpm=limits, tpm=limits, daily_micro=budget,
                monthly_micro=budget, name=st.sampled_from(["a", "b"]),
                expires_us=st.sampled_from(["0", "1", "9000000000000000"]))))
            if team:
                fields["team"] = team
        new_hash = uuid.uuid4().hex if op in ("create", "rotate") else "-"
        grace = data.draw(st.sampled_from([0, 1, 600_000])) if op == "rotate" else 0
        got = self.call(self.records.key_write(op, key_id, "tester", fields, new_hash, grace))
        team = self.model.key_records.get(key_id, {}).get("team", "")
        want = self.model.key_write(op, key_id, "tester", new_hash, grace, team or "-", fields, got.now_us)
        assert (got.status, got.version) == want, (op, fields)
        event(f"key {op}: {got.status}")

    # ------------------------------------------------------------------ hot path
    def admit(self, data):
        self.n += 1
        key_id = data.draw(st.sampled_from(IDS))
        rec = self.model.key_records.get(key_id, {})
        version = max(0, int(rec.get("version", 0)) - data.draw(st.sampled_from([0, 0, 0, 1])))  # at times stale
        old = "old_hash" in rec and data.draw(st.booleans())
        day = data.draw(st.sampled_from(DAYS))
        cands = tuple(Candidate(d, 0, data.draw(st.sampled_from([0, 2000])), data.draw(st.integers(0, 400)),
                                BreakerParams())
                      for d in data.draw(st.lists(st.sampled_from(["d1", "d2"]), min_size=1, max_size=2, unique=True)))
        req = AdmitRequest(f"r{self.n}", key_id, int(rec.get("rpm") or 0), int(rec.get("tpm") or 0),
                           int(rec.get("daily_micro") or 0), data.draw(st.sampled_from([0, 2000])), day,
                           data.draw(st.integers(0, 800)), cands, (),
                           data.draw(st.sampled_from([1, 600_000])), key_id=key_id, key_version=version,
                           key_old=old, team=rec.get("team", "") if rec.get("revoked") != "1" else "",
                           key_monthly_micro=int(rec.get("monthly_micro") or 0))
        got = self.call(self.store.admit(req))
        want = self.model.admit(dict(
            req_id=req.req_id, key=req.key, key_rpm=req.key_rpm, key_tpm=req.key_tpm, key_budget=req.key_budget_micro,
            global_budget=req.global_budget_micro, day=day, prev=prev_day(day), est=req.est_tokens,
            ttl_ms=req.reservation_ttl_ms, key_id=key_id, key_version=version, key_old=old, team=req.team,
            key_month=req.key_monthly_micro,
            candidates=[dict(dep=c.deployment, rpm=c.rpm, tpm=c.tpm, cost=c.max_cost_micro, n=5, window_ms=60_000,
                             cooldown_ms=30_000, max_cooldown_ms=300_000, lease_ms=30_000) for c in cands]),
            got.now_us)
        assert (int(got.ok), got.index, got.reason, got.retry_after_ms, got.spent_micro, got.reserved_micro,
                got.budget_remaining_micro, got.skipped) == (
                want.ok, want.index, want.reason, want.retry_after_ms, want.spent, want.reserved, want.remaining,
                want.skipped), req
        event(f"admit: {'ok' if got.ok else got.reason}")
        if got.ok:
            self.admits.append(req)

    def settle(self, data):
        req = data.draw(st.sampled_from(self.admits))
        forced = data.draw(st.integers(0, 4)) == 0
        self.n += 1
        dep = req.candidates[0].deployment
        sr = SettleRequest(f"local{self.n}" if forced else req.req_id, req.key, dep, "p", "m", "chat", "auto",
                           req.day, data.draw(st.integers(0, 450)), data.draw(st.integers(0, 900)),
                           data.draw(st.integers(0, 900)), 0, "success", 0, 10, req.candidates[0].tpm, req.key_tpm,
                           force=forced, team=req.team, monthly=True)
        got = self.call(self.store.settle_result(sr))
        want = self.model.settle(dict(
            req_id=sr.req_id, key=sr.key, dep=dep, provider="p", model="m", task="chat", route="auto", day=sr.day,
            prev=prev_day(sr.day), cost=sr.cost_micro, tin=sr.tokens_in, tout=sr.tokens_out, cached=0,
            outcome="success", gen=0, latency_us=10_000, tpm=sr.tpm, key_tpm=sr.key_tpm, force=forced, arm="",
            team=sr.team, monthly=True), got.now_us)
        assert (int(got.settled), got.status, got.spent_micro, got.reserved_micro) == want, sr

    def release(self, data):
        req = data.draw(st.sampled_from(self.admits))
        got, now = self.call(self.store.release_result(req.req_id))
        assert int(got) == self.model.release(req.req_id, req.day, prev_day(req.day), now)

    # ------------------------------------------------------------------ final state
    def compare(self):
        c, k = self.store.client, self.store.keys

        def dec(h):
            return {(a.decode() if isinstance(a, bytes) else a): (b.decode() if isinstance(b, bytes) else b)
                    for a, b in h.items()}

        for day in (*DAYS, prev_day(DAYS[0])):
            got = {f: int(v) for f, v in dec(self.call(c.hgetall(k.spend(day)))).items()}
            assert got == self.model.spend.get(day, {}), day
        for month in ("2026-11", "2026-12"):
            got = {f: int(v) for f, v in dec(self.call(c.hgetall(k.spend_month(month)))).items()}
            assert got == {f: v for f, v in self.model.month.get(month, {}).items()}, month
        for key_id in IDS:
            assert dec(self.call(c.hgetall(k.key_record(key_id)))) == self.model.key_records.get(key_id, {}), key_id
        for team in TEAMS:
            assert dec(self.call(c.hgetall(k.team_record(team)))) == self.model.teams.get(team, {}), team
        assert dec(self.call(c.hgetall(k.key_index()))) == self.model.key_index
        got_audit = [audit_entry(dec(f)) for _, f in self.call(c.xrange(k.audit()))]
        assert got_audit == self.model.audit
        assert all("hash" not in (e["after"] or {}) and "old_hash" not in (e["before"] or {}) for e in got_audit)
        assert set(dec(self.call(c.hgetall(k.res())))) == set(self.model.res)
        last_use = {f: int(v) for f, v in dec(self.call(c.hgetall(k.last_use()))).items()}
        assert last_use == self.model.last_use
        event(f"last use of {len(last_use)} keys and teams")
        for rec in self.model.key_records.values():  # the API's view never carries a hash
            assert "hash" not in public(rec)


@settings(max_examples=60, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_key_scripts_match_model_fakeredis(data):
    run("fake", None, data)


@settings(max_examples=30, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_key_scripts_match_model_single_engine(redis_url, data):
    run("single", redis_url, data)


@settings(max_examples=8, **PROPERTY_SETTINGS)
@given(data=st.data())
def test_key_scripts_match_model_cluster(cluster, data):
    run("cluster", cluster.urls, data)
