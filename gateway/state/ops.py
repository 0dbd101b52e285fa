"""The operator features' door to Redis: typed reads and writes for the admin API, the dashboard,
housekeeping, the token-inflation watch and the operator commands (`gateway status`, `gateway
audit`).

Why a door of its own: those features used to hold the raw client and spell key names out, so the
shape of the stored data was known in six places. Here each operation is one method with typed
arguments and results, every key comes from :class:`~gateway.state.keys.Keys`, and what the
values look like is written once (lua/README.md, "Key schema"). None of this is on the request
path: the hot path's two round trips stay in `store.py` and `guard.py`.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Collection, Mapping, NamedTuple, Sequence

import orjson

from gateway.state import cache_admin
from gateway.state.endpoint import redis_client
from gateway.state.keys import Keys
from gateway.state.values import as_int, as_text


def _counters(raw: Mapping[Any, Any]) -> dict[str, int]:
    """A hash of integer counters; fields that are not integers are left out."""
    out = {}
    for k, v in raw.items():
        try:
            out[as_text(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """What admission reads of a day: settled and reserved spend, µ$ (exact at every instant)."""

    spent_micro: int
    reserved_micro: int


@dataclass(frozen=True, slots=True)
class PaceEvent:
    at_us: int
    mode: int
    ratio_permille: int


@dataclass(frozen=True, slots=True)
class PaceState:
    mode: int                    # 0 on pace, 1 low priority downgraded, 2 low + normal
    ratio_permille: int          # spend / allowance at the last change
    events: tuple[PaceEvent, ...]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """A deployment's successful calls since its hash was created."""

    n: int
    sum_ms: int
    ewma_ms: float | None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One sample of the dashboard's spend series."""

    ts: float
    spent_micro: int
    reserved_micro: int


class LedgerEntry(NamedTuple):
    """A ledger stream entry (a tuple, as XRANGE rows are: `records_from_ledger` takes both)."""

    id: str
    fields: dict[str, str]


def parse_snapshot(fields: Mapping[Any, Any]) -> dict[str, Any]:
    """A `{gw}:tokhist` entry -> {"ts": seconds, "sums": {counter: value}}."""
    f = {as_text(k): v for k, v in fields.items()}
    return {"ts": float(as_text(f["ts"])), "sums": orjson.loads(f["sums"])}


def _ms(t: float) -> int:
    return max(0, int(t * 1000))


class OpsState:
    """Typed operations on the shared state for everything off the request path."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self._client, self.keys = client, keys

    # ------------------------------------------------------------------ spend and pace
    async def spend_totals(self, day: str) -> SpendTotals:
        spent, reserved = await self._client.hmget(self.keys.spend(day), ["cost:total", "reserved:total"])
        return SpendTotals(as_int(spent), as_int(reserved))

    async def spend_counters(self, days: Sequence[str]) -> list[dict[str, int]]:
        """Each day's spend hash as stored, in one round trip (fold the ledger first for exact
        per-dimension counters: `StateStore.fold`)."""
        pipe = self._client.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.keys.spend(day))
        return [_counters(raw) for raw in await pipe.execute()]

    async def pace(self, day: str) -> PaceState:
        fields = _counters(await self._client.hgetall(self.keys.pace(day)))
        events = []
        for raw in await self._client.lrange(self.keys.pace_events(day), 0, -1):
            us, mode, ratio = as_text(raw).split(":")
            events.append(PaceEvent(int(us), int(mode), int(ratio)))
        return PaceState(fields.get("mode", 0), fields.get("ratio_permille", 0), tuple(events))

    async def engine_time(self) -> float:
        """The engine's clock, epoch seconds (the clock every script decides by)."""
        t = await self._client.time()
        return int(t[0]) + int(t[1]) / 1e6

    # ------------------------------------------------------------------ ledger and latency
    async def recent_ledger(self, n: int) -> list[dict[str, str]]:
        """The last `n` ledger entries' fields, newest first."""
        return [{as_text(k): as_text(v) for k, v in fields.items()}
                for _, fields in await self._client.xrevrange(self.keys.ledger(), count=n)]

    async def ledger(self, page: int = 5000) -> list[LedgerEntry]:
        """Every entry of the ledger stream, oldest first, read in pages of `page`."""
        out: list[LedgerEntry] = []
        start = "-"
        while True:
            rows = await self._client.xrange(self.keys.ledger(), min=start, max="+", count=page)
            out.extend(LedgerEntry(as_text(i), {as_text(k): as_text(v) for k, v in f.items()}) for i, f in rows)
            if len(rows) < page:
                return out
            start = "(" + out[-1].id

    async def latency(self, deployments: Sequence[str]) -> dict[str, LatencyStats]:
        pipe = self._client.pipeline(transaction=False)
        for name in deployments:
            pipe.hgetall(self.keys.latency(name))
        out = {}
        for name, raw in zip(deployments, await pipe.execute()):
            h = {as_text(k): as_text(v) for k, v in raw.items()}
            out[name] = LatencyStats(as_int(h.get("n")), as_int(h.get("sum_ms")),
                                     float(h["ewma_ms"]) if h.get("ewma_ms") else None)
        return out

    # ------------------------------------------------------------------ the dashboard's series
    async def record_sample(self, day: str, bucket: str, point: SeriesPoint, refusals: Mapping[str, int],
                            ttl_s: int) -> None:
        """One spend point (the bucket's last writer wins) and refusal counts to add, one round trip."""
        series, counts = self.keys.dash_series(day), self.keys.dash_refusals(day)
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(series, bucket, f"{point.ts:.3f}:{point.spent_micro}:{point.reserved_micro}")
        pipe.expire(series, ttl_s)
        for reason, n in refusals.items():
            pipe.hincrby(counts, reason, n)
        if refusals:
            pipe.expire(counts, ttl_s)
        await pipe.execute()

    async def spend_series(self, day: str) -> list[SeriesPoint]:
        """The day's sampled spend, oldest first."""
        points = []
        for value in (await self._client.hgetall(self.keys.dash_series(day))).values():
            parts = as_text(value).split(":")
            if len(parts) == 3:
                points.append(SeriesPoint(float(parts[0]), as_int(parts[1]), as_int(parts[2])))
        points.sort(key=lambda p: (p.ts, p.spent_micro, p.reserved_micro))
        return points

    async def refusal_counts(self, days: Sequence[str]) -> list[dict[str, int]]:
        """Refusals per reason for each day, summed over every worker, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.keys.dash_refusals(day))
        return [{as_text(k): as_int(v) for k, v in raw.items()} for raw in await pipe.execute()]

    # ------------------------------------------------------------------ dashboard sessions
    async def put_session(self, digest: str, value: str, ttl_ms: int) -> None:
        await self._client.set(self.keys.dash_session(digest), value, px=ttl_ms)

    async def session(self, digest: str) -> str:
        """The stored session value, "" when there is none."""
        return as_text(await self._client.get(self.keys.dash_session(digest)))

    async def drop_session(self, digest: str) -> bool:
        return bool(await self._client.delete(self.keys.dash_session(digest)))

    # ------------------------------------------------------------------ replicas
    async def register_replica(self, name: str, entry: Mapping[str, Any]) -> None:
        await self._client.hset(self.keys.replicas(), name, orjson.dumps(entry))

    async def replica_names(self) -> list[str]:
        """Every registered worker, live or not."""
        return [as_text(name) for name in await self._client.hkeys(self.keys.replicas())]

    async def drop_replicas(self, names: Sequence[str]) -> None:
        if names:
            await self._client.hdel(self.keys.replicas(), *names)

    async def live_replicas(self, max_age_s: float) -> dict[str, dict[str, Any]]:
        """Each worker seen within `max_age_s` -> the entry it registered; older entries are
        dropped from the hash."""
        raw = await self._client.hgetall(self.keys.replicas())
        now = time.time()
        live, stale = {}, []
        for field, value in raw.items():
            entry = orjson.loads(value)
            if now - entry.get("seen", 0) <= max_age_s:
                live[as_text(field)] = entry
            else:
                stale.append(as_text(field))
        if stale:
            await self._client.hdel(self.keys.replicas(), *stale)
        return live

    # ------------------------------------------------------------------ token-inflation watch
    async def tokstats(self) -> dict[str, int]:
        """The running (model, task) token sums fold.lua keeps."""
        return _counters(await self._client.hgetall(self.keys.tokstats()))

    async def append_tokhist(self, ts: float, sums: Mapping[str, int], maxlen: int) -> bool:
        """Keep a copy of the sums at `ts`; False when the clock went back (an id at or below the
        stream's last one), so the copy is not kept."""
        try:
            await self._client.xadd(self.keys.tokhist(), {"ts": repr(float(ts)), "sums": orjson.dumps(sums)},
                                    id=f"{_ms(ts)}-*", maxlen=maxlen, approximate=True)
        except Exception as exc:
            if "equal or smaller" not in str(exc) and "smaller than" not in str(exc):
                raise
            return False
        return True

    async def tokhist_near(self, boundary_s: float, upto_s: float) -> list[dict[str, Any]]:
        """The copy at or before `boundary_s`, else the first one in (boundary_s, upto_s]; copies
        that do not parse are left out."""
        key = self.keys.tokhist()
        rows = await self._client.xrevrange(key, max=_ms(boundary_s), min="-", count=1)
        if not rows:
            rows = await self._client.xrange(key, min=_ms(boundary_s), max=_ms(upto_s), count=1)
        out = []
        for _, fields in rows:
            try:
                out.append(parse_snapshot(fields))
            except (KeyError, ValueError, orjson.JSONDecodeError):
                continue
        return out

    async def replace_alerts(self, alerts: Mapping[str, Mapping[str, Any]], ttl_s: int) -> set[str]:
        """Make `alerts` (field -> alert) the current set; returns the fields held before."""
        key = self.keys.alerts()
        before = {as_text(k) for k in await self._client.hkeys(key)}
        if alerts:
            await self._client.hset(key, mapping={f: orjson.dumps(a) for f, a in alerts.items()})
            await self._client.expire(key, ttl_s)
        cleared = sorted(before - set(alerts))
        if cleared:
            await self._client.hdel(key, *cleared)
        return before

    async def alerts(self) -> list[dict[str, Any]]:
        """The current alerts as stored (JSON objects), in no particular order."""
        out = []
        for v in (await self._client.hgetall(self.keys.alerts())).values():
            try:
                out.append(orjson.loads(v))
            except orjson.JSONDecodeError:
                continue
        return out

    # ------------------------------------------------------------------ the response cache
    async def flush_cache(self, scopes: Collection[str] | None) -> int:
        """Drop the cache entries of `scopes` (None: all); how many (state/cache_admin.py, O(keys))."""
        return await cache_admin.flush(self._client, self.keys, scopes)

    async def cache_entries(self) -> dict[str, int]:
        """Cache entries per scope (a SCAN of every master, O(keys))."""
        return await cache_admin.count(self._client, self.keys)


@asynccontextmanager
async def open_ops(url: str, settings: Any = None, prefix: str = "gw", timeout_s: float = 5) -> AsyncIterator[OpsState]:
    """An :class:`OpsState` for an operator command: its own connection (the first seed of a
    cluster list, else the engine or the sentinels' master), closed on exit."""
    client = redis_client(url, settings, socket_timeout=timeout_s)
    try:
        yield OpsState(client, Keys(prefix))
    finally:
        await client.aclose()
