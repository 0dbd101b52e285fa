"""Simulator state shared by all formats: knobs, call counters, the clock and fault choice.

Faults are decided per call from (seed, model, call number), so a run with the
same seed and the same call sequence sees the same faults.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass

from .knobs import KnobStore, ModelKnobs, SimSettings
from .recorder import Received
from .text import unit_draw


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure: HTTP status, a reason word for the message, Retry-After."""

    status: int
    reason: str  # "forced" | "outage" | "error_rate" | "rate_limit"
    retry_after_s: float | None = None


class SimState:
    """Mutable per-app state. Single event loop, so plain dicts are safe."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.seed = settings.seed
        self.knobs = KnobStore(settings)
        self.started = time.monotonic()
        self.calls: Counter[str] = Counter()
        self.by_format: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.streams: Counter[str] = Counter()
        self._serial = 0
        self.prompt_cache: set[str] = set()  # prompt prefixes marked requests wrote (prompt_cache.py)
        self.gemini_caches: dict[str, tuple[str, int]] = {}  # cachedContents/<id> → (model, tokens) (gemini_extras)
        self.invocation_log: list[dict[str, object]] = []  # Bedrock calls' metadata and latency (bedrock_logging)
        self.traceparents: deque[dict[str, str]] = deque(maxlen=50)  # W3C trace headers of the last calls (app.py)
        self.received = Received()  # the last provider calls' bodies (GET /_sim/requests)

    def reset(self) -> None:
        """Clear runtime knobs and counters and restart the outage clock."""
        self.knobs.reset()
        self.calls.clear()
        self.by_format.clear()
        self.faults.clear()
        self.streams.clear()
        self.prompt_cache.clear()
        self.gemini_caches.clear()
        self.invocation_log.clear()
        self.traceparents.clear()
        self.received.clear()
        self.started = time.monotonic()

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def next_id(self) -> str:
        """A short unique hex id for response ids (uniqueness, not determinism)."""
        self._serial += 1
        return f"{int(self.started * 1000) & 0xFFFFFF:06x}{self._serial:010x}"

    def record(self, model: str, fmt: str, stream: bool = False) -> tuple[ModelKnobs, Fault | None]:
        """Count one upstream call and decide whether it fails."""
        self.calls[model] += 1
        self.by_format[fmt] += 1
        if stream:
            self.streams[model] += 1
        knobs = self.knobs.get(model)
        fault = self._fault(model, knobs, self.calls[model], fmt)
        if fault is not None:
            self.faults[model] += 1
        return knobs, fault

    def record_rejected(self, model: object, fmt: str) -> None:
        """Count a call refused before it was understood (bad JSON or fields)."""
        name = model if isinstance(model, str) and model else "(unknown)"
        self.calls[name] += 1
        self.by_format[fmt] += 1

    def _fault(self, model: str, knobs: ModelKnobs, number: int, fmt: str) -> Fault | None:
        if knobs.fail_status is not None:
            retry = knobs.retry_after_s if knobs.fail_status == 429 else None
            return Fault(knobs.fail_status, "forced", retry)
        if knobs.outages:
            now = self.uptime()
            if any(start <= now < end for start, end in knobs.outages):
                return Fault(503, "outage")
        if knobs.error_rate > 0:
            draw = unit_draw(self.seed, model, number, "error")
            if draw < knobs.error_rate:
                second = 529 if fmt == "anthropic" else 503
                status = 500 if draw < knobs.error_rate / 2 else second
                return Fault(status, "error_rate")
        if knobs.rate_limit_rate > 0 and unit_draw(self.seed, model, number, "429") < knobs.rate_limit_rate:
            return Fault(429, "rate_limit", knobs.retry_after_s)
        return None

    def stats(self) -> dict[str, object]:
        return {
            "calls": dict(self.calls),
            "by_format": dict(self.by_format),
            "faults": dict(self.faults),
            "streams": dict(self.streams),
            "total": sum(self.calls.values()),
            "uptime_s": round(self.uptime(), 3),
            "seed": self.seed,
            "invocation_log": list(self.invocation_log),
            "traceparents": list(self.traceparents),
        }
