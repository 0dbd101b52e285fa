"""Token-inflation watch: learn when a (model, task) starts answering longer (or reading more) at
the same list price.

Settle keeps cumulative sums per (model, task) in ``{prefix}:tokstats`` (``n:``, ``in:``,
``out:`` + ``<model>:<task>``). One replica (under the health lease) calls
:meth:`InflationWatch.tick` every so often; each tick

1. reads the sums (HGETALL),
2. appends a time-stamped copy to a capped stream ``{prefix}:tokhist`` (entry id = the tick's
   time in ms, fields ``ts`` and ``sums`` as JSON; MAXLEN ~ 5000),
3. reads back only the copies it needs: the latest at or before the start of the baseline window
   and of the recent window (XREVRANGE ... COUNT 1; the first copy after the boundary when the
   history is shorter than the window),
4. runs :func:`detect`: average tokens per request over a window = delta(sum) / delta(n) between
   the copies bounding it; recent = [now - recent_s, now], baseline = [now - recent_s - baseline_s,
   now - recent_s]; an alert when |recent / baseline - 1| > threshold for output tokens (and,
   separately, input tokens) with at least ``min_requests`` requests in each window,
5. keeps the current alerts in ``{prefix}:alerts`` (field ``<model>:<task>:<metric>`` -> JSON,
   EXPIRE ``alert_ttl_s`` so alerts vanish if the watching replica stops), removing cleared ones,
6. logs a structured warning ``token_inflation`` once per new alert (and ``token_inflation_cleared``).

:func:`read_alerts` serves ``GET /admin/alerts``; :func:`gauge_values` feeds a Prometheus gauge.
Redis is read and written through :class:`gateway.state.ops.OpsState` (the keys are in
lua/README.md's key schema).
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from gateway.observe.log import get_logger
from gateway.state.ops import OpsState, parse_snapshot

__all__ = ["Alert", "METRICS", "detect", "InflationWatch", "read_alerts", "gauge_values", "parse_snapshot"]

METRICS = {"output_tokens": "out", "input_tokens": "in"}


@dataclass(frozen=True, slots=True)
class Alert:
    model: str
    task: str
    metric: str  # output_tokens | input_tokens
    baseline_avg: float
    recent_avg: float
    change: float  # recent / baseline - 1, e.g. +0.40
    since_ts: float  # start of the recent window (time of the copy that opens it)

    @property
    def field(self) -> str:
        return f"{self.model}:{self.task}:{self.metric}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "baseline_avg": round(self.baseline_avg, 3), "recent_avg": round(self.recent_avg, 3),
                "change": round(self.change, 4)}


# --------------------------------------------------------------------------- pure part

def _sorted(snapshots: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(snapshots, key=lambda s: float(s["ts"]))


def _bounds(snaps: list[Mapping[str, Any]], times: list[float], a: float, b: float
            ) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The copies bounding window [a, b]: latest at or before a (else the first after a), and the
    latest at or before b; None when they do not span any time."""
    j = bisect.bisect_right(times, b) - 1
    if j < 0:
        return None
    i = bisect.bisect_right(times, a) - 1
    if i < 0:
        i = bisect.bisect_left(times, a)
    if i >= j:
        return None
    return snaps[i], snaps[j]


def _pairs(sums: Mapping[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for name in sums:
        if name.startswith("n:"):
            model, _, task = name[2:].rpartition(":")
            if model:
                out.add((model, task))
    return out


def _delta(s0: Mapping[str, Any], s1: Mapping[str, Any], name: str) -> int:
    return int(s1["sums"].get(name, 0)) - int(s0["sums"].get(name, 0))


def detect(snapshots: Iterable[Mapping[str, Any]], now_s: float, *, recent_s: float, baseline_s: float,
           threshold: float = 0.2, min_requests: int = 20) -> list[Alert]:
    """Alerts for every (model, task, metric) whose average tokens per request moved by more than
    `threshold` between the baseline window and the recent window (see the module docstring)."""
    snaps = _sorted(snapshots)
    times = [float(s["ts"]) for s in snaps]
    recent = _bounds(snaps, times, now_s - recent_s, now_s)
    base = _bounds(snaps, times, now_s - recent_s - baseline_s, now_s - recent_s)
    if recent is None or base is None:
        return []
    r0, r1 = recent
    b0, b1 = base
    alerts = []
    for model, task in sorted(_pairs(r1["sums"])):
        pair = f"{model}:{task}"
        nr, nb = _delta(r0, r1, f"n:{pair}"), _delta(b0, b1, f"n:{pair}")
        if nr < max(1, min_requests) or nb < max(1, min_requests):
            continue
        for metric, short in METRICS.items():
            dr, db = _delta(r0, r1, f"{short}:{pair}"), _delta(b0, b1, f"{short}:{pair}")
            if dr < 0 or db <= 0:  # a reset counter, or nothing to compare against
                continue
            base_avg, recent_avg = db / nb, dr / nr
            change = recent_avg / base_avg - 1
            if abs(change) > threshold:
                alerts.append(Alert(model, task, metric, base_avg, recent_avg, change, float(r0["ts"])))
    return alerts


# --------------------------------------------------------------------------- Redis part

class InflationWatch:
    """Run :meth:`tick` periodically in ONE replica (e.g. under the health lease)."""

    def __init__(self, *, recent_s: float = 3600.0, baseline_s: float = 86_400.0, threshold: float = 0.2,
                 min_requests: int = 20, alert_ttl_s: int = 3600, maxlen: int = 5000, logger: Any = None) -> None:
        if recent_s <= 0 or baseline_s <= 0 or threshold <= 0:
            raise ValueError("recent_s, baseline_s and threshold must be positive")
        self.recent_s, self.baseline_s = recent_s, baseline_s
        self.threshold, self.min_requests = threshold, min_requests
        self.alert_ttl_s, self.maxlen = alert_ttl_s, maxlen
        self.log = logger or get_logger("gateway.ops.inflation")

    async def tick(self, ops: OpsState, now_s: float) -> list[Alert]:
        sums = await ops.tokstats()
        current = {"ts": float(now_s), "sums": sums}
        await ops.append_tokhist(now_s, sums, self.maxlen)  # not kept when the clock went back: keep going
        start = now_s - self.recent_s - self.baseline_s
        middle = now_s - self.recent_s
        snaps = [current]
        snaps += await ops.tokhist_near(start, middle)
        snaps += await ops.tokhist_near(middle, now_s)
        alerts = detect(snaps, now_s, recent_s=self.recent_s, baseline_s=self.baseline_s,
                        threshold=self.threshold, min_requests=self.min_requests)
        await self._store(ops, alerts)
        return alerts

    async def _store(self, ops: OpsState, alerts: list[Alert]) -> None:
        now = {a.field: a for a in alerts}
        before = await ops.replace_alerts({f: a.as_dict() for f, a in now.items()}, self.alert_ttl_s)
        cleared = sorted(before - set(now))
        for f, a in now.items():
            if f not in before:
                self.log.warning("token_inflation", **a.as_dict())
        for f in cleared:
            self.log.info("token_inflation_cleared", alert=f)


async def read_alerts(ops: OpsState) -> list[dict[str, Any]]:
    """Current alerts, largest change first (for GET /admin/alerts)."""
    out = await ops.alerts()
    out.sort(key=lambda a: (-abs(a.get("change", 0)), a.get("model", ""), a.get("task", ""), a.get("metric", "")))
    return out


def gauge_values(alerts: Iterable[Alert | Mapping[str, Any]]) -> dict[tuple[str, str, str], float]:
    """(model, task, metric) -> change, for a gauge labelled (model, task, metric); replace the
    gauge's values with this each time so cleared alerts disappear."""
    out = {}
    for a in alerts:
        d = a.as_dict() if isinstance(a, Alert) else a
        out[(str(d["model"]), str(d["task"]), str(d["metric"]))] = float(d["change"])
    return out
