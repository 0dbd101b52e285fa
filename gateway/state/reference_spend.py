"""Reference model of spend and reservations: lib/reserve.lua's counters, the reservation sweep,
and lua/{settle,release,fold}.lua step by step.

A mixin of :class:`gateway.state.reference.StateModel` (which adds admission and the breaker
report, and holds the state declared here): what happens to a reservation after admit made it.
"""

from __future__ import annotations

from gateway.state.reference_parts import Breaker, Buckets

SWEEP_LIMIT = 16


class SpendModel:
    """Day spend hashes, reservations, the ledger and what `fold` adds up from it."""

    buckets: Buckets
    breakers: dict[str, Breaker]
    spend: dict[str, dict[str, int]]  # day -> field -> int
    res: dict[str, dict]  # req_id -> reservation (with deadline)
    records: dict[str, dict]  # req_id -> stored decision + state
    ledger: list[dict]
    folded: int  # ledger entries `fold` has passed
    latency: dict[str, dict[str, int]]
    tokstats: dict[str, int]
    month: dict[str, dict[str, int]]  # "YYYY-MM" -> field -> int (runtime keys, teams)
    last_use: dict[str, int]  # "key:<k>" / "team:<t>" -> µs of their last settle

    def breaker(self, dep: str) -> Breaker:
        """A copy of `dep`'s breaker: a caller stores it back only when it changed."""
        return self.breakers.get(dep, Breaker()).copy()

    def _hincr(self, day: str, fld: str, v: int) -> None:
        h = self.spend.setdefault(day, {})
        h[fld] = h.get(fld, 0) + v

    def _get(self, day: str, fld: str) -> int:
        return self.spend.get(day, {}).get(fld, 0)

    def _scope_count(self, day: str, monthly: bool, what: str, key: str, team: str, amt: int) -> None:
        """lib/reserve.lua scope_count: the day's total, key, team; the month's key, team."""
        self._hincr(day, f"{what}:total", amt)
        self._hincr(day, f"{what}:key:{key}", amt)
        if team:
            self._hincr(day, f"{what}:team:{team}", amt)
        if monthly:
            h = self.month.setdefault(day[:7], {})
            h[f"{what}:key:{key}"] = h.get(f"{what}:key:{key}", 0) + amt
            if team:
                h[f"{what}:team:{team}"] = h.get(f"{what}:team:{team}", 0) + amt

    def _res_count(self, day: str, r: dict, amt: int) -> None:
        self._scope_count(day, r.get("mo", False), "reserved", r["key"], r.get("tm", ""), amt)

    def sweep(self, day: str, prev: str, now: int) -> None:
        due = sorted((r["dl"], rid) for rid, r in self.res.items() if r["dl"] <= now)[:SWEEP_LIMIT]
        for _, rid in due:
            r = self.res.pop(rid)
            status = "orphan"
            if r["day"] in (day, prev):
                d = r["day"]
                self._res_count(d, r, -r["amt"])
                self._scope_count(d, r.get("mo", False), "cost", r["key"], r.get("tm", ""), r["amt"])
                self._hincr(d, f"cost:deployment:{r['dep']}", r["amt"])
                self._hincr(d, "orphans:total", 1)
            else:
                status = "orphan_stale"
            self.ledger.append(dict(req_id=rid, status=status, cost=r["amt"]))


    def _count(self, day: str, s: dict, status: str, now: int, team: str = "", monthly: bool = False) -> None:
        """A settled request: the spend admission reads, breaker report, latency, the ledger
        entry that `fold` adds the other counters from, and the record."""
        self._scope_count(day, monthly, "cost", s["key"], team, s["cost"])
        b = self.breaker(s["dep"])
        outcome = s["outcome"]
        if outcome == "throttled":
            changed = b.throttle(now, s.get("hold_ms", 0))
        elif outcome == "disabled":
            changed = b.disable(now, s.get("hold_ms", 0))
        else:
            changed = b.report(now, s["gen"], outcome, s["req_id"], s["key"].replace(" ", "_"))
        if changed:
            self.breakers[s["dep"]] = b
        self.last_use[f"key:{s['key']}"] = now
        if team:
            self.last_use[f"team:{team}"] = now
        if s["outcome"] == "success":
            lat = self.latency.setdefault(s["dep"], {"n": 0, "sum_ms": 0, "ewma_ms": 0})
            ms = s["latency_us"] // 1000
            lat["ewma_ms"] = ms if lat["n"] == 0 else lat["ewma_ms"] + (ms - lat["ewma_ms"]) // 8
            lat["n"] += 1
            lat["sum_ms"] += ms
        entry = dict(req_id=s["req_id"], status=status, cost=s["cost"], fold=dict(s, day=day))
        # the counts the cost was priced from beyond in/out/cached: on the entry only when not 0
        for name in ("searches", "written", "written_1h"):
            if s.get(name, 0) > 0 and (name != "written_1h" or s.get("written", 0) > 0):
                entry[name] = s[name]
        self.ledger.append(entry)
        self.records.setdefault(s["req_id"], {})["state"] = "settled"

    def fold(self) -> None:
        """lua/fold.lua run until the ledger is drained: every settled entry's other counters."""
        for e in self.ledger[self.folded:]:
            s = e.get("fold")
            if s is None:
                continue
            day = s["day"]
            names = dict(key=s["key"], model=s["model"], provider=s["provider"], task=s["task"],
                         route=s["route"], deployment=s["dep"])
            arm = s.get("arm", "")
            if arm:
                names["arm"] = arm
            for m, v in (("cost", s["cost"]), ("req", 1), ("in", s["tin"]), ("out", s["tout"])):
                if m != "cost":
                    self._hincr(day, f"{m}:total", v)
                for dim, name in names.items():
                    if (m, dim) != ("cost", "key"):
                        self._hincr(day, f"{m}:{dim}:{name}", v)
            self._hincr(day, "cached:total", s["cached"])
            self._hincr(day, f"cached:model:{s['model']}", s["cached"])
            if arm:
                self._hincr(day, f"ms:arm:{arm}", s["latency_us"] // 1000)
                if s["outcome"] == "failure":
                    self._hincr(day, f"fail:arm:{arm}", 1)
            if s["outcome"] == "success":
                mt = f"{s['model']}:{s['task']}"
                for f, v in ((f"n:{mt}", 1), (f"in:{mt}", s["tin"]), (f"out:{mt}", s["tout"])):
                    self.tokstats[f] = self.tokstats.get(f, 0) + v
        self.folded = len(self.ledger)

    def settle(self, s: dict, now: int) -> tuple[int, str, int, int]:
        """`s`: req_id key dep provider model task route day prev cost tin tout cached outcome
        gen latency_us tpm key_tpm [force arm searches written written_1h]. Returns (settled, status,
        spent, reserved)."""
        r = self.res.get(s["req_id"])
        status = "settled"
        if r is None:
            st = self.records.get(s["req_id"], {}).get("state")
            status = {"settled": "already_settled", "released": "released",
                      "admitted": "orphan", "orphan": "orphan"}.get(st, "unknown")
            if status == "unknown" and s.get("force"):
                status = "settled_direct"
                self._count(s["day"], s, status, now, s.get("team", ""), s.get("monthly", False))
        else:
            rday = r["day"] if r["day"] in (s["day"], s["prev"]) else None
            if rday:
                self._res_count(rday, r, -r["amt"])
            del self.res[s["req_id"]]
            real = s["tin"] + s["tout"]
            if s["key_tpm"] > 0:
                self.buckets.adjust(f"key:{s['key']}:tpm", now, s["key_tpm"], real - r["ek"])
            if s["tpm"] > 0:
                self.buckets.adjust(f"dep:{s['dep']}:tpm", now, s["tpm"], real - r["ed"])
            if r.get("tt", 0) > 0:
                self.buckets.adjust(f"team:{r['tm']}:tpm", now, r["tt"], real - r["et"])
            self._count(rday or s["day"], s, status, now, r.get("tm", ""), r.get("mo", False))
        self.sweep(s["day"], s["prev"], now)
        return (1 if status in ("settled", "settled_direct") else 0, status,
                self._get(s["day"], "cost:total"), self._get(s["day"], "reserved:total"))

    def release(self, req_id: str, day: str, prev: str, now: int) -> int:
        r = self.res.pop(req_id, None)
        if r is None:
            return 0
        if r["day"] in (day, prev):
            self._res_count(r["day"], r, -r["amt"])
        if r.get("kt", 0) > 0:
            self.buckets.adjust(f"key:{r['key']}:tpm", now, r["kt"], -r["ek"])
        if r.get("dt", 0) > 0:
            self.buckets.adjust(f"dep:{r['dep']}:tpm", now, r["dt"], -r["ed"])
        if r.get("tt", 0) > 0:
            self.buckets.adjust(f"team:{r['tm']}:tpm", now, r["tt"], -r["et"])
        if r["probe"]:
            b = self.breaker(r["dep"])
            if b.report(now, r["gen"], "neutral", req_id):
                self.breakers[r["dep"]] = b
        self.ledger.append(dict(req_id=req_id, status="released", cost=0))
        self.records.setdefault(req_id, {})["state"] = "released"
        return 1
