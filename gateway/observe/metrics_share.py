"""Every worker's series in every scrape of a replica.

`gateway serve` makes one directory per replica (`GATEWAY_METRICS_DIR`, a fresh temporary
directory each start, so two gateways on one host never mix). Each worker writes its series
there as `<pid>.json` every INTERVAL_S when it changed, in a thread (write a temporary file, then
rename: readers never see half a snapshot); nothing is added to the request path, and an idle
worker only touches its file's time. Another worker's series in a scrape are at most ~INTERVAL_S old. The worker a scrape
reaches renders its own series fresh and reads the others' snapshots, skipping the files of
workers that are gone (removed) or have not written for STALE_S. Without the variable (the app
run by uvicorn directly) a scrape shows its own worker only, as before.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import orjson

from gateway.edge.runfile import pid_alive
from gateway.observe.log import get_logger
from gateway.observe.metrics import Counter, Metrics

ENV = "GATEWAY_METRICS_DIR"
INTERVAL_S = 0.5
STALE_S = 30.0

_log = get_logger("gateway.observe.metrics")


class MetricsShare:
    def __init__(self, metrics: Metrics, directory: Path | None) -> None:
        self.metrics = metrics
        self.directory = directory
        self.path = directory / f"{metrics.worker}.json" if directory else None
        self._written = b""

    @classmethod
    def from_env(cls, metrics: Metrics) -> "MetricsShare":
        value = os.environ.get(ENV)
        return cls(metrics, Path(value) if value else None)

    def write(self) -> None:
        """This worker's snapshot, replaced atomically; nothing when it has not changed."""
        if self.path is None:
            return
        data = orjson.dumps(self.metrics.dump())
        if data == self._written and self.path.exists():
            os.utime(self.path)  # still alive and current: not stale
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
        self._written = data

    def read_others(self) -> list[dict[str, Any]]:
        if self.directory is None:
            return []
        out, now = [], time.time()
        for path in self.directory.glob("*.json"):
            if path == self.path or not path.stem.isdigit():
                continue
            try:
                if not pid_alive(int(path.stem)):
                    path.unlink(missing_ok=True)  # a worker that is gone: its series leave the scrape
                    continue
                if now - path.stat().st_mtime > STALE_S:
                    continue
                dump = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if isinstance(dump, dict):
                out.append(dump)
        return out

    async def render(self) -> str:
        """The scrape: this worker's series and every other live worker's latest snapshot."""
        others = await asyncio.to_thread(self.read_others) if self.directory else []
        return self.metrics.render(others)

    async def totals(self, counter: Counter) -> dict[tuple[str, ...], float]:
        """One counter's values summed over this replica's workers (a scrape's series, added up),
        for an admin answer that shows what /metrics counts without counting it twice."""
        out = dict(counter.values)
        others = await asyncio.to_thread(self.read_others) if self.directory else []
        for dump in others:
            if str(dump.get("worker")) == self.metrics.worker:
                continue
            for key, value in (dump.get("series") or {}).get(counter.name, ()):
                out[tuple(key)] = out.get(tuple(key), 0.0) + value
        return out

    async def run_forever(self, interval_s: float = INTERVAL_S) -> None:
        if self.path is None:
            return
        failing = False
        while True:
            try:
                await asyncio.to_thread(self.write)
                failing = False
            except Exception as exc:  # a full disk, a removed directory: the scrape keeps its own series
                if not failing:  # one line per outage, not one a second
                    _log.warning("metrics_snapshot_failed", error=type(exc).__name__, detail=str(exc))
                failing = True
            await asyncio.sleep(interval_s)

    def close(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
