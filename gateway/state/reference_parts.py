"""The building blocks of the reference model, each mirroring one Lua library: GCRA rate limits and
their buckets (lua/lib/gcra.lua), the circuit breaker (lua/lib/breaker.lua) and the budget pace
(lua/lib/pace.lua). Integer arithmetic as in Lua.

Split out of :mod:`gateway.state.reference` (which composes them into :class:`StateModel` and
re-exports every name here), so each piece can be read beside its Lua source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PERIOD_US = 60_000_000


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------- GCRA
def gcra_inc(units: int, limit: int) -> int:
    return units * PERIOD_US // limit


def gcra_check(tat: int, now: int, limit: int, units: int = 1) -> tuple[bool, int, int]:
    new = max(tat, now) + gcra_inc(units, limit)
    over = new - now - PERIOD_US
    if over > 0:
        return False, tat, over
    return True, new, 0


class Buckets:
    """TATs by key name; a TAT at or before now is the same as no key (the key expired)."""

    def __init__(self) -> None:
        self.tat: dict[str, int] = {}

    def get(self, name: str, now: int) -> int:
        t = self.tat.get(name, 0)
        return t if t > now else 0

    def put(self, name: str, tat: int, now: int) -> None:
        if tat > now:
            self.tat[name] = tat
        else:
            self.tat.pop(name, None)

    def adjust(self, name: str, now: int, limit: int, delta: int) -> None:
        tat = self.get(name, now)
        if delta > 0:
            tat = max(tat, now) + gcra_inc(delta, limit)
        elif delta < 0:
            if tat <= now:
                return
            tat -= gcra_inc(-delta, limit)
        else:
            return
        self.put(name, tat, now)


# --------------------------------------------------------------------------- breaker
CB_DEFAULTS = dict(n=5, window_ms=60_000, cooldown0_ms=30_000, max_cooldown_ms=300_000, lease_ms=30_000, min_src=1)


@dataclass
class Breaker:
    state: str = "closed"
    gen: int = 0
    fails: list[int] = field(default_factory=list)
    consec: int = 0
    opened_us: int = 0
    cooldown_ms: int = 0
    probe_id: str = ""
    probe_dl_us: int = 0
    fsrc: list[str] = field(default_factory=list)
    throttle_us: int = 0
    n: int = CB_DEFAULTS["n"]
    window_ms: int = CB_DEFAULTS["window_ms"]
    cooldown0_ms: int = CB_DEFAULTS["cooldown0_ms"]
    max_cooldown_ms: int = CB_DEFAULTS["max_cooldown_ms"]
    lease_ms: int = CB_DEFAULTS["lease_ms"]
    min_src: int = CB_DEFAULTS["min_src"]

    def copy(self) -> "Breaker":
        b = Breaker(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        b.fails, b.fsrc = list(self.fails), list(self.fsrc)
        return b

    def effective(self, now: int) -> "Breaker":
        """In place: an open breaker whose cooldown passed is half_open."""
        if self.state == "open" and now >= self.opened_us + self.cooldown_ms * 1000:
            self.state, self.gen, self.probe_id, self.probe_dl_us = "half_open", self.gen + 1, "", 0
        return self

    def check(self, now: int) -> tuple[bool, bool, int]:
        if self.state == "closed":
            return True, False, 0
        if self.state == "open":
            return False, False, self.opened_us + self.cooldown_ms * 1000 - now
        if self.probe_id == "" or self.probe_dl_us <= now:
            return True, True, 0
        return False, False, self.probe_dl_us - now

    def _trip(self, now: int, cooldown_ms: int) -> None:
        self.state, self.gen, self.opened_us, self.cooldown_ms = "open", self.gen + 1, now, cooldown_ms
        self.fails, self.fsrc, self.consec, self.probe_id, self.probe_dl_us = [], [], 0, "", 0

    def throttle(self, now: int, ms: int) -> bool:
        if now + ms * 1000 <= self.throttle_us:
            return False
        self.throttle_us = now + ms * 1000
        return True

    def disable(self, now: int, ms: int) -> bool:
        self._trip(now, ms)
        return True

    def report(self, now: int, gen: int, outcome: str, req_id: str = "", src: str = "?") -> bool:
        if gen != self.gen or self.state == "open":
            return False
        if self.state == "closed":
            if outcome == "success":
                if self.consec == 0:
                    return False
                self.consec = 0
                return True
            if outcome == "failure":
                self.consec += 1
                self.fails = (self.fails + [now])[-self.n:]
                self.fsrc = (self.fsrc + [src or "?"])[-self.n:]
                if (self.consec >= self.n or (
                    len(self.fails) >= self.n and now - self.fails[0] <= self.window_ms * 1000
                )) and len(set(self.fsrc)) >= self.min_src:
                    self._trip(now, self.cooldown0_ms)
                return True
            return False
        if outcome == "success":
            self.state, self.gen, self.fails, self.consec = "closed", self.gen + 1, [], 0
            self.cooldown_ms, self.probe_id, self.probe_dl_us = self.cooldown0_ms, "", 0
            return True
        if outcome == "failure":
            self._trip(now, min(max(self.cooldown_ms, self.cooldown0_ms) * 2, self.max_cooldown_ms))
            return True
        if req_id and self.probe_id == req_id:
            self.probe_id, self.probe_dl_us = "", 0
            return True
        return False


# ---------------------------------------------------------------- pace (lua/lib/pace.lua)

def pace_ratio(used: int, soft: int, elapsed_us: int, day_len_us: int, burst: int) -> int:
    """Spend over the allowance in permille; float division exactly as Lua does it."""
    share = min(1.0, max(0.0, elapsed_us / day_len_us))
    allowance = soft * share + burst
    if allowance <= 0:
        return 1_000_000
    return math.floor(used * 1000 / allowance)


def pace_next_mode(mode: int, r: int, enter: int, normal_enter: int, exit_: int) -> int:
    if r >= normal_enter:
        return 2
    if mode == 2:
        if r < exit_:
            return 0
        return 1 if r < normal_enter - (enter - exit_) else 2
    if r >= enter:
        return 1
    return 1 if mode == 1 and r >= exit_ else 0


def failures_in_window(fails: str, window_ms: int, now_us: int) -> int:
    """The failures of a breaker's `fails` field (µs times, space-separated, as breaker.lua
    writes them) within `window_ms` of `now_us`; all of them when the window is unknown."""
    times = [int(x) for x in fails.split() if x.isdigit()]
    if window_ms <= 0:
        return len(times)
    return sum(1 for ts in times if now_us - ts <= window_ms * 1000)


class AdminAuthModel:
    """lua/admin_auth.lua: failed admin authentications per client and in all, each counter a
    fixed window opened by its first failure; at a limit every attempt is refused until the
    window ends. Also the in-process stand-in while Redis is unreachable."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[int, int]] = {}  # key -> (failures, window end µs)

    def attempt(self, client_key: str, global_key: str, outcome: str, client_limit: int, global_limit: int,
                window_ms: int, now: int) -> tuple[int, int, int, int]:
        """Returns (allowed, retry_after_ms, client failures, global failures)."""
        counters, wait = [], 0
        for key, limit in ((client_key, client_limit), (global_key, global_limit)):
            n, till = self.counters.get(key, (0, 0))
            if till <= now:
                n, till = 0, 0
            counters.append([n, till])
            if n >= limit:
                wait = max(wait, till - now)
        if wait > 0:
            return 0, ceil_div(wait, 1000), counters[0][0], counters[1][0]
        if outcome == "fail":
            for key, c in zip((client_key, global_key), counters):
                if c[0] == 0:
                    c[1] = now + window_ms * 1000
                c[0] += 1
                self.counters[key] = (c[0], c[1])
        return 1, 0, counters[0][0], counters[1][0]
