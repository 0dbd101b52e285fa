"""The gateway's shared state: one EVALSHA before the upstream call (admit), one after (settle).

All decisions are made inside Lua scripts (lua/) with the engine's clock; this module only
builds key names and integer arguments, and decodes the replies.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from urllib.parse import urlparse

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.state.commands import Commands
from gateway.state.endpoint import parse_endpoint
from gateway.state.keys import Keys, admit_scope, month_of, prev_day
from gateway.state.ops import OpsState
from gateway.state.reference_parts import failures_in_window
from gateway.state.resp import RespConnection
from gateway.state.scripts import Scripts
from gateway.state.types import (  # noqa: F401  (re-exported: the pipeline imports them from here)
    OUTCOMES,
    PRIORITY_LEVELS,
    Admission,
    AdmitRequest,
    BreakerParams,
    Candidate,
    Failure,
    PaceArgs,
    SettleRequest,
    SettleResult,
)

# ledger entries per fold call: a bounded script (about 1 ms on a slow core) between admits
FOLD_BATCH = 128


def _s(v: Any) -> str:
    return v.decode() if type(v) is bytes else str(v)


def _i(v: Any) -> int:
    return v if type(v) is int else int(v)  # int() reads bytes and str alike


def _retry() -> Retry:
    return Retry(NoBackoff(), 1)


class StateStore:
    def __init__(self, client: Any, prefix: str = "gw", retention_days: int = 35,
                 ledger_maxlen: int = 100_000, fast: RespConnection | None = None) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.scripts = Scripts(client, fast=fast)
        self.retention_s = retention_days * 86_400
        self.ledger_maxlen = ledger_maxlen
        self.commands = Commands(self.keys, self.scripts.heads, ledger_maxlen, self.retention_s)
        self.ops = OpsState(client, self.keys)  # what the operator features read and write
        # req_id -> (day, deployment, key) of reservations made here, so release needs no lookup
        self._recent: OrderedDict[str, tuple[str, str, str]] = OrderedDict()

    # ------------------------------------------------------------------ construction
    @classmethod
    async def connect(cls, url: str | list[str], prefix: str = "gw", timeout_s: float = 0.2,
                      retention_days: int = 35, ledger_maxlen: int = 100_000,
                      cluster: bool = False, max_connections: int = 256, settings: Any = None) -> "StateStore":
        """redis:// rediss:// unix:// redis+sentinel:// for one engine; a list of urls (or
        cluster=True) for Redis Cluster. `settings` (the config's `state`) adds TLS options and the
        idle health check (gateway/state/endpoint.py). Short socket timeouts, at most one retry (the
        scripts are idempotent by req_id), every script loaded before returning."""
        common = dict(socket_timeout=timeout_s, socket_connect_timeout=max(timeout_s, 0.25),
                      retry=_retry())
        if isinstance(url, (list, tuple)) or cluster:
            urls = [url] if isinstance(url, str) else list(url)
            nodes = []
            for u in urls:
                p = urlparse(u)
                nodes.append(ClusterNode(p.hostname or "127.0.0.1", p.port or 6379))
            endpoint = parse_endpoint(urls[0], settings)
            client = RedisCluster(startup_nodes=nodes, max_connections=max_connections,
                                  ssl=endpoint.tls is not None, **common, **endpoint.redis_kwargs())
            await client.initialize()
            fast = None
        else:
            endpoint = parse_endpoint(url, settings)
            client = endpoint.redis_py(max_connections=max_connections, **common)
            # the hot path's script calls share one pipelined connection (see resp.py)
            fast = RespConnection(url, timeout_s, max(timeout_s, 0.25), endpoint)
        store = cls(client, prefix, retention_days, ledger_maxlen, fast)
        await store.scripts.load()
        if fast is not None:
            await fast.connect()
        return store

    @classmethod
    def from_client(cls, client: Any, prefix: str = "gw", retention_days: int = 35,
                    ledger_maxlen: int = 100_000) -> "StateStore":
        """Wrap an existing redis.asyncio (or fakeredis.aioredis) client. Scripts load lazily
        (the first EVALSHA hits NOSCRIPT and loads them all) or with `await store.load()`."""
        return cls(client, prefix, retention_days, ledger_maxlen)

    async def load(self) -> None:
        await self.scripts.load()

    # ------------------------------------------------------------------ admit
    def admit_call(self, req: AdmitRequest) -> tuple[list[str], list[Any]]:
        k = self.keys
        if not req.candidates:
            raise ValueError("admit needs at least one candidate")
        keys = [k.req(req.req_id), k.res(), k.resdl(), k.spend(req.day), k.spend(prev_day(req.day)),
                k.ledger(), k.key_rpm(req.key), k.key_tpm(req.key)]
        p = req.pace or PaceArgs(0, 0)
        args: list[Any] = [req.req_id, req.key, req.key_rpm, req.key_tpm, req.key_budget_micro,
                           req.global_budget_micro, req.day, prev_day(req.day), req.est_tokens,
                           req.reservation_ttl_ms, req.reservation_ttl_ms + 86_400_000,
                           self.ledger_maxlen, self.retention_s, len(req.candidates), len(req.failed),
                           req.priority, p.soft_budget_micro, p.day_start_us, p.day_len_us, p.burst_micro,
                           p.enter_permille, p.normal_enter_permille, p.exit_permille, int(p.at_limit_cheapest),
                           req.deadline_us, req.key_id, req.key_version, int(req.key_old), req.team or "-",
                           req.key_monthly_micro]
        out = [_arg(a) for a in args]
        for c in req.candidates:
            b = c.breaker
            keys += [k.dep_rpm(c.deployment), k.dep_tpm(c.deployment), k.breaker(c.deployment)]
            expected = c.max_cost_micro if c.expected_cost_micro < 0 else c.expected_cost_micro
            out += [_arg(a) for a in (c.deployment, c.rpm, c.tpm, c.max_cost_micro, expected, b.failures,
                                      b.window_ms, b.cooldown_ms, b.max_cooldown_ms, b.probe_lease_ms,
                                      b.min_sources)]
        for f in req.failed:
            keys.append(k.breaker(f.deployment))
            out += (_arg(f.deployment), _arg(f.breaker_gen), _arg(f.kind))
        keys += [k.pace(req.day), k.pace_events(req.day), *admit_scope(k, req.key_id, req.team, req.day)]
        return keys, out

    async def admit(self, req: AdmitRequest) -> Admission:
        """One EVALSHA: pre-encoded on the pipelined connection, from the argument lists otherwise."""
        if self.scripts.fast is not None and req.candidates:
            r = await self.scripts.send(self.commands.admit(req))
        else:
            keys, args = self.admit_call(req)
            r = await self.scripts.call("admit", keys, args)
        sk = [_s(x) for x in r[11]]
        adm = Admission(
            ok=bool(_i(r[0])), index=_i(r[1]), reason=_s(r[2]), retry_after_ms=_i(r[3]),
            breaker_gen=_i(r[4]), probe=bool(_i(r[5])), spent_micro=_i(r[6]),
            reserved_micro=_i(r[7]), budget_remaining_micro=_i(r[8]),
            skipped=tuple(zip(sk[0::2], sk[1::2])), duplicate=bool(_i(r[9])), now_us=_i(r[10]),
            downgraded=_s(r[12]), pace_mode=_i(r[13]), pace_ratio_permille=_i(r[14]))
        if adm.ok and not adm.duplicate:
            self._recent[req.req_id] = (req.day, req.candidates[adm.index].deployment, req.key, req.team)
            if len(self._recent) > 100_000:
                self._recent.popitem(last=False)
        return adm

    # ------------------------------------------------------------------ settle
    def settle_call(self, req: SettleRequest) -> tuple[list[str], list[Any]]:
        if req.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {req.outcome!r}")
        k = self.keys
        keys = [k.req(req.req_id), k.res(), k.resdl(), k.spend(req.day), k.spend(prev_day(req.day)),
                k.ledger(), k.key_tpm(req.key), k.dep_tpm(req.deployment), k.breaker(req.deployment),
                k.latency(req.deployment), k.team_tpm(req.team or "-"), k.spend_month(month_of(req.day)),
                k.spend_month(month_of(prev_day(req.day))), k.last_use()]
        args = [req.req_id, req.key, req.deployment, req.provider, req.model, req.task, req.route,
                req.day, prev_day(req.day), req.cost_micro, req.tokens_in, req.tokens_out,
                req.cached_tokens, req.outcome, req.breaker_gen, req.latency_us, req.tpm,
                req.key_tpm, self.ledger_maxlen, self.retention_s, int(req.force), req.arm or "-", req.hold_ms,
                req.team or "-", int(req.monthly), req.web_searches, req.cache_write_tokens,
                req.cache_write_1h_tokens]
        return keys, [_arg(a) for a in args]

    async def settle_result(self, req: SettleRequest) -> SettleResult:
        if self.scripts.fast is not None and req.outcome in OUTCOMES:
            r = await self.scripts.send(self.commands.settle(req))
        else:
            keys, args = self.settle_call(req)
            r = await self.scripts.call("settle", keys, args)
        self._recent.pop(req.req_id, None)
        return SettleResult(settled=bool(_i(r[0])), status=_s(r[1]), spent_micro=_i(r[2]),
                            reserved_micro=_i(r[3]), now_us=_i(r[4]), breaker_state=_s(r[5]),
                            breaker_gen=_i(r[6]))

    async def settle(self, req: SettleRequest) -> bool:
        """True if this call settled the reservation; False for an unknown, already settled,
        released or orphan-charged req_id (nothing changed)."""
        return (await self.settle_result(req)).settled

    # ------------------------------------------------------------------ release
    async def release(self, req_id: str) -> bool:
        """Drop a reservation at zero cost. One round trip when this store admitted it,
        two otherwise (the request record tells the day, deployment and key)."""
        return (await self.release_result(req_id))[0]

    async def release_result(self, req_id: str) -> tuple[bool, int]:
        """`release`, with the engine clock it ran at (0 when there was nothing to release)."""
        found = self._recent.pop(req_id, None)
        if found is None:
            day, dep, key, team = await self.client.hmget(self.keys.req(req_id), ["day", "deployment", "key", "team"])
            if not day or not dep or not key:
                return False, 0
            found = (_s(day), _s(dep), _s(key), _s(team or "-"))
        day, dep, key, team = found
        k = self.keys
        keys = [k.req(req_id), k.res(), k.resdl(), k.spend(day), k.spend(prev_day(day)),
                k.ledger(), k.breaker(dep), k.key_tpm(key), k.dep_tpm(dep), k.team_tpm(team or "-"),
                k.spend_month(month_of(day)), k.spend_month(month_of(prev_day(day)))]
        r = await self.scripts.call("release", keys, [req_id, day, prev_day(day), str(self.ledger_maxlen)])
        return bool(_i(r[0])), _i(r[1])

    # ------------------------------------------------------------------ fold
    async def fold(self, day: str, batch: int = FOLD_BATCH) -> int:
        """Add every settled request's per-dimension counters still in the ledger to the spend
        hashes (see lua/fold.lua); returns the ledger entries passed. `day` is the budget day
        (entries of other days are folded too, with their own day's keys). Every worker runs
        this a few times a second; readers of the counters run it first to read exact sums."""
        k, passed, d = self.keys, 0, day
        while True:
            try:
                prev = prev_day(d)
            except ValueError:  # not a date (settle takes any day string): no day before it
                prev = d
            r = await self.scripts.call("fold", [k.ledger(), k.fold_cursor(), k.tokstats(), k.spend(d),
                                                 k.spend(prev)], [str(batch), d, prev, str(self.retention_s)])
            n, stop = _i(r[0]), _s(r[2])
            passed += n
            if stop:
                d = stop  # an entry of another day: fold it with that day's keys
            elif n < batch:
                return passed
            else:
                d = day

    async def day_spend(self, day: str) -> dict[str, int]:
        """Every counter of a day's spend hash, exact: folds the ledger first."""
        await self.fold(day)
        return {_s(f): int(v) for f, v in (await self.client.hgetall(self.keys.spend(day))).items()}

    # ------------------------------------------------------------------ breakers, lease, misc
    async def report_breaker(self, deployment: str, outcome: str, gen: int = -1) -> tuple[str, int]:
        """An outcome seen outside a request (the health probe); gen -1 = current generation."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        r = await self.scripts.call("breaker_report", [self.keys.breaker(deployment)], [outcome, str(gen)])
        return _s(r[0]), _i(r[1])

    async def breaker_state(self, deployment: str) -> dict:
        """The stored hash (strings) plus `effective` ('closed' | 'open' | 'half_open') as of
        the engine clock, `gen_effective`, `now_us`, and `failures`: how many of the recorded
        failures (`fails` holds their µs times, space-separated) fall within the window."""
        raw = await self.client.hgetall(self.keys.breaker(deployment))
        t = await self.client.time()
        now = int(t[0]) * 1_000_000 + int(t[1])
        h = {_s(a): _s(b) for a, b in raw.items()}
        state, gen = h.get("state", "closed"), int(h.get("gen", "0"))
        if state == "open" and now >= int(h.get("opened_us", "0")) + int(h.get("cooldown_ms", "0")) * 1000:
            state, gen = "half_open", gen + 1
        return {**h, "effective": state, "gen_effective": gen, "now_us": now,
                "failures": failures_in_window(h.get("fails", ""), _i(h.get("window_ms") or 0), now)}

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take the lease if free, renew it if `holder` has it; False if someone else does."""
        r = await self.scripts.call("lease", [self.keys.lease(name)], [holder, str(int(ttl_ms))])
        return bool(_i(r))

    async def admin_auth(self, client: str, outcome: str, client_limit: int, global_limit: int,
                         window_ms: int) -> tuple[int, int, int, int, int]:
        """One admin authentication (`outcome` ok|fail) against the shared failure limits
        (lua/admin_auth.lua): (allowed, retry_after_ms, client failures, global failures, now_us)."""
        r = await self.scripts.call("admin_auth", [self.keys.auth_failures(client), self.keys.auth_failures_all()],
                                    [outcome, str(client_limit), str(global_limit), str(window_ms)])
        return _i(r[0]), _i(r[1]), _i(r[2]), _i(r[3]), _i(r[4])

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        if self.scripts.fast is not None:
            await self.scripts.fast.close()
        close = getattr(self.client, "aclose", None) or self.client.close
        await close()


def _arg(a: Any) -> str:
    if isinstance(a, bool):
        raise TypeError("booleans are not accepted as script arguments")
    if isinstance(a, int):
        return str(a)
    if isinstance(a, str):
        return a
    raise TypeError(f"script arguments are integers or strings, not {type(a).__name__}")
