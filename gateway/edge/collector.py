"""The worker's cyclic garbage collector, set for a server once the app has started.

CPython runs a young collection whenever tracked allocations outnumber deallocations by the
first threshold (700). A worker with many requests in flight keeps that count climbing, so it
collected about a hundred times a second, each time walking the live requests' objects and
promoting them, and every few seconds a full collection walked the ~60,000 objects that start-up
loads (config, classifier weights, providers' modules) and that live as long as the worker. That
was 8–12% of a worker's CPU under load, full collections pausing it 25–50 ms (docs/benchmarks.md).

So, after start-up: `gc.freeze()` moves everything alive then out of the collector's reach, and a
first threshold of `GENERATION0` lets a request's objects die by reference count before the
collector would look at them. Cycles are still collected; at most that many objects of cyclic
garbage wait for it. `GATEWAY_GC_THRESHOLD=0` keeps CPython's own settings.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

GENERATION0 = 20_000
ENV = "GATEWAY_GC_THRESHOLD"


@dataclass(frozen=True)
class CollectorSettings:
    """What `settle_collector` did, for the worker's start-up log line."""

    threshold: tuple[int, int, int]
    frozen: int


def threshold_from_env() -> int:
    """The first threshold to set: `$GATEWAY_GC_THRESHOLD` (0: leave CPython's), else GENERATION0."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return GENERATION0
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{ENV} must be a whole number (0 keeps Python's own setting), not {raw!r}") from None
    if value < 0:
        raise RuntimeError(f"{ENV} must be 0 or more, not {value}")
    return value


def settle_collector(generation0: int | None = None) -> CollectorSettings:
    """Freeze what start-up left alive and raise the young threshold (unless it is 0)."""
    generation0 = threshold_from_env() if generation0 is None else generation0
    if generation0:
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(generation0, older, oldest)
    threshold = gc.get_threshold()
    return CollectorSettings(threshold=(threshold[0], threshold[1], threshold[2]), frozen=gc.get_freeze_count())
