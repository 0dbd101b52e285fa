"""Pure-Python reference models of the Lua scripts (state machines taking `now_us` explicitly).

They mirror lua/lib/*.lua and lua/{admit,settle,release,breaker_report,admin_auth}.lua step by step, with
integer arithmetic only, so property tests can run the same operations on the engine and on
the model (driven by the engine's clock as returned by each script) and compare every answer.

The GCRA, breaker and pace pieces are in `gateway.state.reference_parts` (re-exported here), spend,
reservations, settle, release and fold in `gateway.state.reference_spend`, runtime keys and teams
in `gateway.state.reference_keys`; this module adds admission (lua/admit.lua) and composes them
into the whole store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.state.reference_keys import KeyRecordsModel
from gateway.state.reference_parts import (
    CB_DEFAULTS,
    AdminAuthModel,
    PERIOD_US,
    Breaker,
    Buckets,
    ceil_div,
    gcra_check,
    gcra_inc,
    pace_next_mode,
    pace_ratio,
)
from gateway.state.reference_spend import SWEEP_LIMIT, SpendModel

__all__ = ["PERIOD_US", "SWEEP_LIMIT", "DIMS", "CB_DEFAULTS", "ceil_div", "gcra_inc", "gcra_check",
           "Buckets", "Breaker", "ModelAdmission", "pace_ratio", "pace_next_mode", "StateModel", "AdminAuthModel",
           "decode_record"]

DIMS = ("key", "model", "provider", "task", "route", "deployment")


# --------------------------------------------------------------------------- whole store
@dataclass
class ModelAdmission:
    ok: int
    index: int
    reason: str
    retry_after_ms: int
    gen: int
    probe: int
    spent: int
    reserved: int
    remaining: int
    dup: int
    skipped: tuple[tuple[str, str], ...]
    downgraded: str = ""
    pace_mode: int = 0
    pace_ratio: int = 0


class StateModel(SpendModel, KeyRecordsModel):
    """The whole shared state: buckets, breakers, day spend hashes, reservations, records."""

    def __init__(self) -> None:
        self.buckets = Buckets()
        self.breakers: dict[str, Breaker] = {}
        self.spend: dict[str, dict[str, int]] = {}  # day -> field -> int
        self.res: dict[str, dict] = {}  # req_id -> record (with deadline)
        self.records: dict[str, dict] = {}  # req_id -> stored decision + state
        self.ledger: list[dict] = []
        self.folded = 0  # ledger entries `fold` has passed
        self.latency: dict[str, dict[str, int]] = {}
        self.tokstats: dict[str, int] = {}
        self.pace: dict[str, int] = {}  # day -> pace mode
        self.month: dict[str, dict[str, int]] = {}  # "YYYY-MM" -> field -> int (runtime keys, teams)
        self.key_records: dict[str, dict[str, str]] = {}  # lua/key_write.lua's records, by id
        self.teams: dict[str, dict[str, str]] = {}  # lua/team_write.lua's records, by id
        self.key_index: dict[str, str] = {}  # key hash -> id
        self.audit: list[dict] = []
        self.last_use: dict[str, int] = {}  # "key:<k>" / "team:<t>" -> µs of their last settle

    # operations
    def admit(self, a: dict, now: int) -> ModelAdmission:
        """`a`: req_id key key_rpm key_tpm key_budget global_budget day prev est ttl_ms [deadline]
        candidates=[dict(dep rpm tpm cost n window_ms cooldown_ms max_cooldown_ms lease_ms [min_src])]
        failed=[(dep, gen, kind)]"""
        rec = self.records.get(a["req_id"])
        if rec is not None and "decision" in rec:
            return ModelAdmission(**{**rec["decision"], "dup": 1})
        if rec is not None or (a.get("deadline", 0) > 0 and now > a["deadline"]):  # settled: counted
            return ModelAdmission(0, -1, "expired", 0, 0, 0, 0, 0, -1, 0, ())
        day, prev, key = a["day"], a["prev"], a["key"]
        runtime, team = a.get("key_id", "-") != "-", a.get("team", "")
        if runtime:
            why = self.key_refusal(a["key_id"], a.get("key_version", 0), a.get("key_old", False), now)
            if why:
                return ModelAdmission(0, -1, why, 0, 0, 0, 0, 0, -1, 0, ())
        t = self.teams.get(team, {}) if team else {}
        tl = {f: int(t.get(f, 0)) for f in ("rpm", "tpm", "daily_micro", "monthly_micro")}
        self.sweep(day, prev, now)
        for dep, gen, kind in a.get("failed", ()):
            b = self.breaker(dep)
            if b.report(now, gen, "neutral" if kind == "neutral" else "failure", "", key.replace(" ", "_")):
                self.breakers[dep] = b
        spent, reserved = self._get(day, "cost:total"), self._get(day, "reserved:total")
        mh = self.month.get(day[:7], {})
        budgets = [[limit, used] for limit, used in (
            (a["global_budget"], spent + reserved),
            (a["key_budget"], self._get(day, f"cost:key:{key}") + self._get(day, f"reserved:key:{key}")),
            (tl["daily_micro"] if team else 0,
             self._get(day, f"cost:team:{team}") + self._get(day, f"reserved:team:{team}")),
            (a.get("key_month", 0), mh.get(f"cost:key:{key}", 0) + mh.get(f"reserved:key:{key}", 0)),
            (tl["monthly_micro"] if team else 0,
             mh.get(f"cost:team:{team}", 0) + mh.get(f"reserved:team:{team}", 0))) if limit > 0]

        def budget_left() -> int:  # the smallest left, 0 when one is overspent; -1: no budget applies
            if not budgets:
                return -1
            return max(0, min(limit - used for limit, used in budgets))

        def fits(amt: int) -> bool:
            return all(used + amt <= limit for limit, used in budgets)

        d = dict(ok=0, index=-1, reason="", retry_after_ms=0, gen=0, probe=0, spent=spent,
                 reserved=reserved, remaining=budget_left(), dup=0, skipped=(), downgraded="", pace_mode=0,
                 pace_ratio=0)

        def finish(state: str) -> ModelAdmission:
            self.records[a["req_id"]] = dict(decision=dict(d), state=state)
            return ModelAdmission(**d)

        def limits(name: str, rpm: int, tpm: int, why: str) -> tuple[int, int]:
            """lua/admit.lua `limits`: a key's or a team's buckets checked (TATs to write later)."""
            rpm_tat = tpm_tat = 0
            if rpm > 0:
                ok, rpm_tat, wait = gcra_check(self.buckets.get(f"{name}:rpm", now), now, rpm)
                if not ok:
                    d.update(reason=why, retry_after_ms=ceil_div(wait, 1000))
                    return 0, 0
            if tpm > 0:
                if a["est"] > tpm:
                    d["reason"] = "tokens_exceed_limit"
                    return 0, 0
                ok, tpm_tat, wait = gcra_check(self.buckets.get(f"{name}:tpm", now), now, tpm, a["est"])
                if not ok:
                    d.update(reason=why, retry_after_ms=ceil_div(wait, 1000))
            return rpm_tat, tpm_tat

        krpm_name, ktpm_name = f"key:{key}:rpm", f"key:{key}:tpm"
        krpm_tat, ktpm_tat = limits(f"key:{key}", a["key_rpm"], a["key_tpm"], "key_rate_limited")
        trpm_tat = ttpm_tat = 0
        if not d["reason"]:
            trpm_tat, ttpm_tat = limits(f"team:{team}", tl["rpm"], tl["tpm"], "team_rate_limited")
        if d["reason"]:
            return finish("refused")

        cheapest = False
        pace = a.get("pace")
        if pace and pace["soft"] > 0:
            used = spent + reserved
            d["pace_ratio"] = pace_ratio(used, pace["soft"], now - pace["day_start"], pace["day_len"], pace["burst"])
            mode = self.pace.get(day, 0)
            self.pace[day] = d["pace_mode"] = pace_next_mode(mode, d["pace_ratio"], pace["enter"],
                                                              pace["normal_enter"], pace["exit"])
            priority = a.get("priority", 1)
            if used >= pace["soft"]:
                if not pace["at_limit_cheapest"]:
                    d.update(reason="budget_exceeded",
                             retry_after_ms=ceil_div(pace["day_start"] + pace["day_len"] - now, 1000))
                    return finish("refused")
                cheapest, d["downgraded"] = True, "budget_limit"
            elif (d["pace_mode"] >= 1 and priority == 0) or (d["pace_mode"] == 2 and priority == 1):
                cheapest, d["downgraded"] = True, "pace"

        chosen = None
        first_ok = None
        best_wait = best_reason = permanent = None
        skipped: list[tuple[str, str]] = []
        for i, c in enumerate(a["candidates"]):
            b = self.breaker(c["dep"]).effective(now)
            why, wait = None, 0
            ok, probe, w = b.check(now)
            rpm_tat = tpm_tat = 0
            if not ok:
                why, wait = "breaker_open", w
            if not why and b.throttle_us > now:
                why, wait = "rate_limited", b.throttle_us - now
            if not why and c["rpm"] > 0:
                ok, rpm_tat, w = gcra_check(self.buckets.get(f"dep:{c['dep']}:rpm", now), now, c["rpm"])
                if not ok:
                    why, wait = "rate_limited", w
            if not why and c["tpm"] > 0:
                if a["est"] > c["tpm"]:
                    why = "tokens_exceed_limit"
                else:
                    ok, tpm_tat, w = gcra_check(self.buckets.get(f"dep:{c['dep']}:tpm", now), now, c["tpm"], a["est"])
                    if not ok:
                        why, wait = "rate_limited", w
            if not why and not fits(c["cost"]):
                why = "budget_exceeded"
            if not why:
                first_ok = i if first_ok is None else first_ok
                expected = c.get("expected", c["cost"])
                if chosen is None or expected < chosen[1].get("expected", chosen[1]["cost"]):
                    chosen = (i, c, b, probe, rpm_tat, tpm_tat)
                if not cheapest:
                    break
                continue
            skipped.append((c["dep"], why))
            if why in ("budget_exceeded", "tokens_exceed_limit"):
                if permanent != "budget_exceeded":
                    permanent = why
            elif best_wait is None or wait < best_wait:
                best_wait, best_reason = wait, why
        d["skipped"] = tuple(skipped)
        if chosen is not None and chosen[0] == first_ok:
            d["downgraded"] = ""
        if chosen is None:
            if best_reason is None:
                d["reason"] = permanent
            else:
                d["reason"] = "deployments_rate_limited" if best_reason == "rate_limited" else best_reason
                d["retry_after_ms"] = ceil_div(best_wait, 1000)
            return finish("refused")

        i, c, b, probe, rpm_tat, tpm_tat = chosen
        if a["key_rpm"] > 0:
            self.buckets.put(krpm_name, krpm_tat, now)
        if a["key_tpm"] > 0:
            self.buckets.put(ktpm_name, ktpm_tat, now)
        if tl["rpm"] > 0:
            self.buckets.put(f"team:{team}:rpm", trpm_tat, now)
        if tl["tpm"] > 0:
            self.buckets.put(f"team:{team}:tpm", ttpm_tat, now)
        if c["rpm"] > 0:
            self.buckets.put(f"dep:{c['dep']}:rpm", rpm_tat, now)
        if c["tpm"] > 0:
            self.buckets.put(f"dep:{c['dep']}:tpm", tpm_tat, now)
        b.n, b.window_ms, b.cooldown0_ms = c["n"], c["window_ms"], c["cooldown_ms"]
        b.max_cooldown_ms, b.lease_ms, b.min_src = c["max_cooldown_ms"], c["lease_ms"], c.get("min_src", 1)
        if probe:
            b.probe_id, b.probe_dl_us = a["req_id"], now + c["lease_ms"] * 1000
        self.breakers[c["dep"]] = b
        self.res[a["req_id"]] = dict(
            day=day, key=key, dep=c["dep"], amt=c["cost"], dl=now + a["ttl_ms"] * 1000,
            ek=a["est"] if a["key_tpm"] > 0 else 0, ed=a["est"] if c["tpm"] > 0 else 0,
            kt=a["key_tpm"], dt=c["tpm"],
            gen=b.gen, probe=probe, tm=team, mo=runtime, tt=tl["tpm"] if team else 0,
            et=a["est"] if team and tl["tpm"] > 0 else 0,
        )
        self._res_count(day, self.res[a["req_id"]], c["cost"])
        reserved += c["cost"]
        # remaining stays as before this reservation: the caller subtracts the real cost
        d.update(ok=1, index=i, gen=b.gen, reserved=reserved, probe=int(probe))
        return finish("admitted")

    def breaker_report(self, dep: str, outcome: str, gen: int, now: int) -> tuple[str, int]:
        b = self.breaker(dep).effective(now)
        if gen < 0:
            gen = b.gen
        b.report(now, gen, outcome, "", "_probe")
        self.breakers[dep] = b
        return b.state, b.gen


def decode_record(raw: str) -> dict:
    return json.loads(raw)
