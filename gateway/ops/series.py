"""The dashboard's sampler: once per housekeeping tick every worker writes today's spend into the
day's series (one point per `sample_step_s`, last writer wins, so any number of workers write the
same series) and its refusals since its last flush (the `gateway_refusals_total` counter) into
the cluster-wide daily counts: the dashboard's history with no work on the request path. The
keys are `dash:spend:<day>` and `dash:refusals:<day>` of lua/README.md's key schema; both
expire after `KEEP_DAYS`.

Housekeeping calls :func:`sample`; the dashboard (:mod:`gateway.ops.dashboard.api`) reads what
it wrote.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any

from gateway.observe.log import get_logger
from gateway.ops.spend import today
from gateway.state.ops import SeriesPoint

if TYPE_CHECKING:
    from gateway.pipeline.context import Gateway

KEEP_DAYS = 8

_log = get_logger("gateway.ops.dashboard.page")
_flushed: "weakref.WeakKeyDictionary[Any, dict[str, float]]" = weakref.WeakKeyDictionary()
_sample_failing: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def sample_step_s(gw: "Gateway") -> float:
    """One point per this many seconds: four ticks, between 1 s and a minute (1440 points a day)."""
    return max(1.0, min(60.0, gw.config.housekeeping.interval_s * 4))


async def sample(gw: "Gateway", now: float | None = None) -> bool:
    """One housekeeping tick's worth: today's spend into the day's series, and this worker's
    refusals since its last flush into the cluster-wide daily counts. Never raises."""
    now = time.time() if now is None else now
    try:
        ops = gw.state.ops
        day = today(gw)
        totals = await ops.spend_totals(day)
        current = {labels[0]: value for labels, value in gw.metrics.refusals.values.items()}
        done = _flushed.setdefault(gw, {})
        deltas = {reason: int(value - done.get(reason, 0)) for reason, value in current.items()}
        deltas = {reason: n for reason, n in deltas.items() if n > 0}
        bucket = str(int(now // sample_step_s(gw)))
        await ops.record_sample(day, bucket, SeriesPoint(now, totals.spent_micro, totals.reserved_micro), deltas,
                                KEEP_DAYS * 86_400)
        for reason, n in deltas.items():
            done[reason] = done.get(reason, 0) + n
        _sample_failing.pop(gw, None)
        return True
    except Exception as exc:  # a Redis blip: the deltas stay for the next tick
        if _sample_failing.get(gw) != type(exc).__name__:
            _sample_failing[gw] = type(exc).__name__
            _log.warning("dashboard_sample_failed", error=type(exc).__name__, detail=str(exc)[:200])
        return False
